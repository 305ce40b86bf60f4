package txn

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func setup(t *testing.T) (*os.Root, string) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bin/a"), []byte("old a\n"), 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bin/b"), []byte("old b\n"), 0o644))
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	t.Cleanup(func() { root.Close() })
	return root, dir
}

func read(t *testing.T, dir, p string) string {
	b, err := os.ReadFile(filepath.Join(dir, p))
	require.NoError(t, err)
	return string(b)
}

func TestCommitKeepsModeAndWritesAll(t *testing.T) {
	root, dir := setup(t)
	err := Commit(root, []Write{{Path: "bin/a", Data: []byte("new a\n")}, {Path: "var/new", Data: []byte("n\n"), Mode: 0o600}}, Options{Journal: "var/j"})
	require.NoError(t, err)
	assert.Equal(t, "new a\n", read(t, dir, "bin/a"))
	fi, err := os.Stat(filepath.Join(dir, "bin/a"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o750), fi.Mode().Perm())
	fi, err = os.Stat(filepath.Join(dir, "var/new"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.NoFileExists(t, filepath.Join(dir, "var/j"))
	assert.NoFileExists(t, filepath.Join(dir, "bin/.a.zenpatch-tmp"))
}

func TestCommitAllOrNothing(t *testing.T) {
	root, dir := setup(t)
	// The second target is a directory: its temp cannot become it.
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "etc/dir"), 0o755))
	err := Commit(root, []Write{{Path: "bin/a", Data: []byte("new a\n")}, {Path: "etc/dir", Data: []byte("x")}}, Options{Journal: "var/j"})
	require.Error(t, err)
	assert.Equal(t, "old a\n", read(t, dir, "bin/a"))
	assert.NoFileExists(t, filepath.Join(dir, "bin/.a.zenpatch-tmp"))
	assert.NoFileExists(t, filepath.Join(dir, "var/j"))
}

func TestPathsConfined(t *testing.T) {
	root, dir := setup(t)
	outside := t.TempDir()
	require.NoError(t, os.Symlink(outside, filepath.Join(dir, "escape")))
	require.NoError(t, os.Symlink(filepath.Join(outside, "f"), filepath.Join(dir, "bin/abs-escape")))
	require.NoError(t, os.Symlink("a", filepath.Join(dir, "bin/inside")))
	for _, p := range []string{"/etc/passwd", "../x", "bin/../../x", "escape/f", "bin/abs-escape", ""} {
		err := Commit(root, []Write{{Path: p, Data: []byte("x")}}, Options{Journal: "var/j"})
		assert.Error(t, err, p)
	}
	entries, _ := os.ReadDir(outside)
	assert.Empty(t, entries, "nothing written outside")
	// A symlink inside the tree is followed: the file it names is edited.
	require.NoError(t, Commit(root, []Write{{Path: "bin/inside", Data: []byte("via link\n")}}, Options{Journal: "var/j"}))
	assert.Equal(t, "via link\n", read(t, dir, "bin/a"))
	fi, err := os.Lstat(filepath.Join(dir, "bin/inside"))
	require.NoError(t, err)
	assert.True(t, fi.Mode()&os.ModeSymlink != 0, "the link stays a link")
}

type crash struct{}

// TestCrashAtEveryStep stops a commit after each durable step (as a
// SIGKILL would: no cleanup runs), checks every file is old or new, then
// recovers and checks the commit either happened whole or not at all.
func TestCrashAtEveryStep(t *testing.T) {
	for n := 1; ; n++ {
		root, dir := setup(t)
		steps := 0
		crashed := func() (c bool) {
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(crash); !ok {
						panic(r)
					}
					c = true
				}
			}()
			err := Commit(root, []Write{{Path: "bin/a", Data: []byte("new a\n")}, {Path: "bin/b", Data: []byte("new b\n")}}, Options{
				Journal: "var/j",
				AfterStep: func(string) {
					steps++
					if steps == n {
						panic(crash{})
					}
				},
			})
			require.NoError(t, err)
			return false
		}()
		if !crashed {
			break
		}
		a, b := read(t, dir, "bin/a"), read(t, dir, "bin/b")
		assert.Contains(t, []string{"old a\n", "new a\n"}, a)
		assert.Contains(t, []string{"old b\n", "new b\n"}, b)
		require.NoError(t, Recover(root, "var/j"))
		a, b = read(t, dir, "bin/a"), read(t, dir, "bin/b")
		assert.True(t, a == "old a\n" && b == "old b\n" || a == "new a\n" && b == "new b\n", "step %d: a=%q b=%q", n, a, b)
		assert.NoFileExists(t, filepath.Join(dir, "bin/.a.zenpatch-tmp"))
		assert.NoFileExists(t, filepath.Join(dir, "bin/.b.zenpatch-tmp"))
		assert.NoFileExists(t, filepath.Join(dir, "var/j"))
	}
}

func TestLock(t *testing.T) {
	root, _ := setup(t)
	l, err := TryLock(root, "var/lock")
	require.NoError(t, err)
	// flock locks belong to the open file description: a second open in
	// the same process conflicts just as another process would.
	_, err = TryLock(root, "var/lock")
	var le *LockedError
	require.ErrorAs(t, err, &le)
	assert.Equal(t, os.Getpid(), le.PID)
	require.NoError(t, l.Unlock())
	l2, err := TryLock(root, "var/lock")
	require.NoError(t, err)
	require.NoError(t, l2.Unlock())
}

func TestWriteFile(t *testing.T) {
	root, dir := setup(t)
	require.NoError(t, WriteFile(root, "var/zenpatch/x.conf", []byte("one\n"), 0o640))
	require.NoError(t, WriteFile(root, "var/zenpatch/x.conf", []byte("two\n"), 0o600))
	assert.Equal(t, "two\n", read(t, dir, "var/zenpatch/x.conf"))
	fi, err := os.Stat(filepath.Join(dir, "var/zenpatch/x.conf"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm(), "an existing file keeps its mode")
}

// A committed journal whose target changed before recovery (a package
// update replaced the file): recovery keeps the new file and discards the
// old commit's temp file for it, and finishes the rest.
func TestRecoverKeepsAChangedTarget(t *testing.T) {
	root, dir := setup(t)
	func() {
		defer func() {
			if r := recover(); r != nil && r != (crash{}) {
				panic(r)
			}
		}()
		_ = Commit(root, []Write{{Path: "bin/a", Data: []byte("new a\n")}, {Path: "bin/b", Data: []byte("new b\n")}}, Options{
			Journal: "var/j",
			AfterStep: func(step string) {
				if step == "journal-committed" {
					panic(crash{})
				}
			},
		})
	}()
	require.FileExists(t, filepath.Join(dir, "bin/.a.zenpatch-tmp"), "crashed between the commit point and the renames")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bin/a"), []byte("vendor update\n"), 0o755))
	kept, err := RecoverReport(root, "var/j")
	require.NoError(t, err)
	assert.Equal(t, []string{"bin/a"}, kept)
	assert.Equal(t, "vendor update\n", read(t, dir, "bin/a"), "the newer file is kept")
	assert.Equal(t, "new b\n", read(t, dir, "bin/b"), "the unchanged one is rolled forward")
	assert.NoFileExists(t, filepath.Join(dir, "bin/.a.zenpatch-tmp"))
	assert.NoFileExists(t, filepath.Join(dir, "var/j"))
}
