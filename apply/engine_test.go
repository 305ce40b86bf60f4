package apply

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const base = "l1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\n"

// mkPatch builds the patch of old → new through the same printer the
// product uses, then parses it back.
func mkPatch(t testing.TB, old, new string) *File {
	t.Helper()
	d, err := (&Plan{Changes: []Change{{Path: "f", Old: []byte(old), New: []byte(new)}}}).Diff()
	require.NoError(t, err)
	p, err := Parse("test.patch", d)
	require.NoError(t, err, string(d))
	return p.Files[0]
}

func TestApplyExact(t *testing.T) {
	f := mkPatch(t, base, strings.Replace(base, "l5\n", "l5\nNEW\n", 1))
	out, places, err := ApplyFile([]byte(base), f, MaxFuzz)
	require.NoError(t, err)
	assert.Equal(t, strings.Replace(base, "l5\n", "l5\nNEW\n", 1), string(out))
	assert.Equal(t, []Placement{{Hunk: 1, Line: 3, Offset: 0, Fuzz: 0}}, places)
}

func TestApplyOffset(t *testing.T) {
	f := mkPatch(t, base, strings.Replace(base, "l5\n", "l5\nNEW\n", 1))
	edited := "local1\nlocal2\n" + base
	out, places, err := ApplyFile([]byte(edited), f, MaxFuzz)
	require.NoError(t, err)
	assert.Equal(t, "local1\nlocal2\n"+strings.Replace(base, "l5\n", "l5\nNEW\n", 1), string(out))
	require.Len(t, places, 1)
	assert.Equal(t, 2, places[0].Offset)
	assert.Equal(t, 0, places[0].Fuzz)
	assert.Equal(t, "hunk #1 at line 5 (offset +2 lines)", places[0].String())
}

func TestApplyFuzz(t *testing.T) {
	f := mkPatch(t, base, strings.Replace(base, "l5\n", "l5\nNEW\n", 1))
	// The outermost context lines (l3 and l8) were edited locally.
	edited := strings.NewReplacer("l3\n", "L3 edited\n", "l8\n", "L8 edited\n").Replace(base)
	out, places, err := ApplyFile([]byte(edited), f, MaxFuzz)
	require.NoError(t, err)
	assert.Equal(t, strings.Replace(edited, "l5\n", "l5\nNEW\n", 1), string(out))
	assert.Equal(t, 1, places[0].Fuzz)
	_, _, err = ApplyFile([]byte(edited), f, 0)
	require.Error(t, err, "without fuzz the hunk must not apply")
}

func TestConflictNamesHunkAndLine(t *testing.T) {
	f := mkPatch(t, base, strings.Replace(base, "l5\n", "l5 changed\n", 1))
	edited := strings.Replace(base, "l5\n", "l5 locally edited\n", 1)
	_, _, err := ApplyFile([]byte(edited), f, MaxFuzz)
	var he *HunkError
	require.ErrorAs(t, err, &he)
	assert.Equal(t, 1, he.Hunk)
	assert.Contains(t, he.Error(), `line 5 is "l5 locally edited", the patch expects "l5"`)
}

func TestCheckVerdicts(t *testing.T) {
	newer := strings.Replace(base, "l5\n", "l5\nNEW\n", 1)
	p, err := Parse("p", mustDiff(t, base, newer))
	require.NoError(t, err)
	f, rev := p.Files[0], p.Reverse().Files[0]
	revs := []*File{rev}

	fit := Check([]byte(base), f, revs, MaxFuzz)
	require.NoError(t, fit.Err)
	assert.Equal(t, Pending, fit.Verdict)
	assert.Equal(t, newer, string(fit.Out))
	require.Len(t, fit.Places, 1)

	fit = Check([]byte(newer), f, revs, MaxFuzz)
	assert.Equal(t, Applied, fit.Verdict)
	assert.Equal(t, base, string(fit.Out), "the original, with the patch removed")

	fit = Check([]byte("something else\n"), f, revs, MaxFuzz)
	assert.Equal(t, Conflict, fit.Verdict)
	assert.Error(t, fit.Err)
}

// An older edition in place is found exactly and named by its index, before
// any fuzzy forward match of the current edition could stack a second
// block on it.
func TestCheckOlderEdition(t *testing.T) {
	v1 := strings.Replace(base, "l5\n", "l5\nOLD\n", 1)
	v2 := strings.Replace(base, "l5\n", "l5\nNEW\n", 1)
	p1, err := Parse("v1", mustDiff(t, base, v1))
	require.NoError(t, err)
	p2, err := Parse("v2", mustDiff(t, base, v2))
	require.NoError(t, err)
	revs := []*File{p2.Reverse().Files[0], p1.Reverse().Files[0]}
	fit := Check([]byte(v1), p2.Files[0], revs, MaxFuzz)
	assert.Equal(t, Applied, fit.Verdict)
	assert.Equal(t, 1, fit.Edition)
	assert.Equal(t, base, string(fit.Out))
	fit = Check([]byte(v2), p2.Files[0], revs, MaxFuzz)
	assert.Equal(t, Applied, fit.Verdict)
	assert.Equal(t, 0, fit.Edition)
}

func mustDiff(t *testing.T, old, new string) []byte {
	d, err := (&Plan{Changes: []Change{{Path: "f", Old: []byte(old), New: []byte(new)}}}).Diff()
	require.NoError(t, err)
	return d
}

func TestNoFinalNewline(t *testing.T) {
	old := "a\nb\nc"
	for _, new := range []string{"a\nb\nc\nd\n", "a\nB\nc", "a\nb\nc\n", "x\na\nb\nc"} {
		f := mkPatch(t, old, new)
		out, _, err := ApplyFile([]byte(old), f, MaxFuzz)
		require.NoError(t, err, new)
		assert.Equal(t, new, string(out))
	}
}

func TestCRLFFileKeepsItsEndings(t *testing.T) {
	// A patch made on LF text applies to the CRLF copy, and added lines get CRLF.
	f := mkPatch(t, base, strings.Replace(base, "l5\n", "l5\nNEW\n", 1))
	crlf := strings.ReplaceAll(base, "\n", "\r\n")
	out, _, err := ApplyFile([]byte(crlf), f, MaxFuzz)
	require.NoError(t, err)
	assert.Equal(t, strings.Replace(crlf, "l5\r\n", "l5\r\nNEW\r\n", 1), string(out))
}

func TestInsertAfterLastLineWithoutNewline(t *testing.T) {
	f := mkPatch(t, "a\nb\n", "a\nb\nc\n")
	out, _, err := ApplyFile([]byte("a\nb"), f, MaxFuzz)
	require.NoError(t, err)
	assert.Equal(t, "a\nb\nc\n", string(out))
}

func TestParseErrors(t *testing.T) {
	for name, in := range map[string]string{
		"empty":    "",
		"garbage":  "hello\n",
		"counts":   "--- a/f\n+++ b/f\n@@ -1,3 +1,3 @@\n a\n-b\n+c\n",
		"creation": "--- /dev/null\n+++ b/f\n@@ -0,0 +1 @@\n+a\n",
		"badline":  "--- a/f\n+++ b/f\n@@ -1,2 +1,2 @@\n a\n*b\n+c\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse("x.patch", []byte(in))
			var pe *ParseError
			require.True(t, errors.As(err, &pe), "got %v", err)
			assert.Contains(t, pe.Error(), "x.patch")
		})
	}
}

func TestMultiHunkOffsetCarries(t *testing.T) {
	long := ""
	for i := range 40 {
		long += "line" + string(rune('A'+i%26)) + string(rune('a'+i/26)) + "\n"
	}
	newer := strings.Replace(strings.Replace(long, "lineCa\n", "lineCa\nX\n", 1), "lineKb\n", "lineKb\nY\n", 1)
	f := mkPatch(t, long, newer)
	require.Len(t, f.Hunks, 2)
	edited := "top1\ntop2\ntop3\n" + long
	out, places, err := ApplyFile([]byte(edited), f, MaxFuzz)
	require.NoError(t, err)
	assert.Equal(t, "top1\ntop2\ntop3\n"+newer, string(out))
	assert.Equal(t, 3, places[0].Offset)
	assert.Equal(t, 3, places[1].Offset)
}

func TestColorize(t *testing.T) {
	c := string(Colorize([]byte("--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n c\n")))
	assert.Contains(t, c, red+"-a"+reset+"\n")
	assert.Contains(t, c, green+"+b"+reset+"\n")
	assert.Contains(t, c, " c\n")
}
