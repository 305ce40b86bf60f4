package patches

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEmbeddedPatchesParse(t *testing.T) {
	s := Embedded()
	require.NotEmpty(t, s.Entries)
	for _, e := range s.Entries {
		p, err := e.Patch()
		require.NoError(t, err, e.ID)
		require.Len(t, p.Files, 1, e.ID)
		assert.Equal(t, "bin/zopectl", p.Files[0].Path)
	}
}

func TestSelect(t *testing.T) {
	s := Embedded()
	for v, want := range map[string]string{
		"2.5.2": "zope2-multizope-v2", "3.2.1": "zope2-multizope-v2", "3.1.0": "zope2-multizope-v2",
		"4.1.1": "zenoss4-multizope-v2", "4.2.5": "zenoss4-multizope-v2",
	} {
		sel, err := s.Select(v)
		require.NoError(t, err, v)
		assert.Equal(t, want, sel.Entry.ID, v)
		assert.True(t, sel.Exact, v)
	}
	sel, err := s.Select("4.3.0")
	require.NoError(t, err)
	assert.False(t, sel.Exact)
	assert.Equal(t, "zenoss4-multizope-v2", sel.Entry.ID)
	assert.Contains(t, sel.Note, "nearest series")

	// Suffixes and a fourth number: the series of the release numbers, and
	// the note says what was ignored.
	for v, want := range map[string]string{"4.2.5-beta": "zenoss4-multizope-v2", "3.2.1-rc1": "zope2-multizope-v2", "4.2.5.1": "zenoss4-multizope-v2", "2.5.2 ": "zope2-multizope-v2"} {
		sel, err := s.Select(v)
		require.NoError(t, err, v)
		assert.Equal(t, want, sel.Entry.ID, v)
		assert.True(t, sel.Exact, v)
		if v != "2.5.2 " {
			assert.Contains(t, sel.Note, "is ignored", v)
		}
	}
	sel, err = s.Select("4.3.0-SNAPSHOT")
	require.NoError(t, err)
	assert.False(t, sel.Exact)
	assert.Contains(t, sel.Note, `"-SNAPSHOT" of Zenoss 4.3.0-SNAPSHOT is ignored`)
	assert.Contains(t, sel.Note, "nearest series")
	for _, v := range []string{"5.0.0", "6.2.1", "1.1", "banana", "", "v4.2.5", "5.0.0-rc1"} {
		_, err := s.Select(v)
		assert.True(t, errors.Is(err, ErrUnsupported), v)
	}
}

func TestOlder(t *testing.T) {
	s := Embedded()
	older := s.Older(s.ByID("zenoss4-multizope-v2"))
	require.Len(t, older, 1)
	assert.Equal(t, "zenoss4-multizope-v1", older[0].ID)
}

// A patch that changes another file besides zopectl is refused whole: it
// is never half applied.
func TestPatchChangingAnotherFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "index.json"), []byte(`{"patches": [{"id": "two", "file": "two.patch", "series": "4.x", "versions": ">= 4.0"}]}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "two.patch"), []byte("--- a/bin/zopectl\n+++ b/bin/zopectl\n@@ -1,2 +1,3 @@\n a\n+b\n c\n--- a/etc/zope.conf\n+++ b/etc/zope.conf\n@@ -1,2 +1,3 @@\n x\n+y\n z\n"), 0o644))
	s, err := Load(dir)
	require.NoError(t, err)
	_, err = s.ByID("two").Patch()
	var se *ScopeError
	require.ErrorAs(t, err, &se)
	assert.Contains(t, err.Error(), "two.patch:9: it changes etc/zope.conf")
}
