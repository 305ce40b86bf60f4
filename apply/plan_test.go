package apply

import (
	"errors"
	"io/fs"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const twoFiles = `--- a/bin/one
+++ b/bin/one
@@ -1,2 +1,3 @@
 a
+A
 b
--- a/etc/two
+++ b/etc/two
@@ -1,2 +1,3 @@
 x
+X
 y
`

func TestPlanPatchSeveralFiles(t *testing.T) {
	p, err := Parse("two.patch", []byte(twoFiles))
	require.NoError(t, err)
	files := map[string]string{"bin/one": "a\nb\n", "etc/two": "x\ny\n"}
	read := func(p string) ([]byte, error) {
		if s, ok := files[p]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
	plan, err := PlanPatch(p, read, MaxFuzz)
	require.NoError(t, err)
	require.Len(t, plan.Changes, 2)
	assert.Equal(t, "a\nA\nb\n", string(plan.Changes[0].New))
	assert.Equal(t, "x\nX\ny\n", string(plan.Changes[1].New))
	d, err := plan.Diff()
	require.NoError(t, err)
	assert.Equal(t, twoFiles, string(d), "the printed plan is the patch itself")

	// One file in conflict: no plan at all.
	files["etc/two"] = "something else\n"
	plan, err = PlanPatch(p, read, MaxFuzz)
	assert.Nil(t, plan)
	var he *HunkError
	require.True(t, errors.As(err, &he))
	assert.Equal(t, "etc/two", he.Path)
}

func TestEmptyPlan(t *testing.T) {
	p := &Plan{Changes: []Change{{Path: "f", Old: []byte("a\n"), New: []byte("a\n")}}}
	assert.True(t, p.Empty())
	d, err := p.Diff()
	require.NoError(t, err)
	assert.Empty(t, d)
}
