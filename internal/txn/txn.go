// Package txn changes files under one directory tree all together or not at
// all, and never outside it.
//
// Every path is relative to an os.Root, so "..", absolute paths and symlinks
// that lead out of the tree are refused by the kernel-checked root as well as
// by the checks here, which name the bad path. A commit writes each new file
// as a temp file beside its target (fsynced, given the old file's mode and
// owner), records the set in a journal, then renames them into place; a crash
// at any instant leaves each file with its old or its new bytes, and the next
// Recover finishes (or discards) the interrupted commit.
package txn

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
)

// Write is one file to be replaced or created.
type Write struct {
	Path string      // slash-separated, relative to the root
	Data []byte      // the new bytes
	Mode fs.FileMode // permission bits for a new file; an existing file keeps its own
}

// Options say where the journal lives and how to simulate crashes in tests.
type Options struct {
	// Journal is the journal file's path relative to the root, e.g.
	// "var/zenpatch/journal". Its directory is created when missing.
	Journal string
	// AfterStep, when set, is called after each durable step with its name;
	// crash tests use it to stop the process at every point.
	AfterStep func(step string)
}

// PathError reports a path that is not confined to the root.
type PathError struct {
	Path   string
	Reason string
}

// Error implements error.
func (e *PathError) Error() string {
	return fmt.Sprintf("%s: %s", e.Path, e.Reason)
}

// Hint is the next step.
func (e *PathError) Hint() string {
	return "zenpatch reads and writes only inside the directory it works on (ZENHOME; hook's --root); fix the path or the symlink"
}

// CheckPath rejects paths that are absolute, contain "..", or are empty,
// naming the path; symlinks are checked when the file is opened.
func CheckPath(p string) error {
	switch {
	case p == "" || p == ".":
		return &PathError{p, "empty path"}
	case strings.HasPrefix(p, "/") || filepath.IsAbs(p):
		return &PathError{p, "absolute path: only paths inside ZENHOME are allowed"}
	case !filepath.IsLocal(filepath.FromSlash(p)):
		return &PathError{p, "path leaves ZENHOME (it contains ..)"}
	}
	return nil
}

// Resolve follows a symlink at p (repeatedly) as long as it stays inside the
// root, returning the path of the regular file to edit. A link that leads
// outside is refused with a PathError naming it.
func Resolve(root *os.Root, p string) (string, error) {
	if err := CheckPath(p); err != nil {
		return "", err
	}
	for range 40 {
		fi, err := root.Lstat(p)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return p, nil
			}
			return "", classify(root, p, err)
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			return p, nil
		}
		target, err := root.Readlink(p)
		if err != nil {
			return "", classify(root, p, err)
		}
		if path.IsAbs(target) {
			rel, ok := within(root.Name(), target)
			if !ok {
				return "", &PathError{p, fmt.Sprintf("symlink to %s leads outside %s", target, root.Name())}
			}
			target = rel
		} else {
			target = path.Join(path.Dir(p), target)
		}
		if err := CheckPath(target); err != nil {
			return "", &PathError{p, fmt.Sprintf("symlink to %s leads outside %s", target, root.Name())}
		}
		p = target
	}
	return "", &PathError{p, "too many levels of symlinks"}
}

func within(rootDir, abs string) (string, bool) {
	r, err := filepath.Abs(rootDir)
	if err != nil {
		return "", false
	}
	rel, err := filepath.Rel(r, filepath.Clean(abs))
	if err != nil || !filepath.IsLocal(rel) {
		return "", false
	}
	return filepath.ToSlash(rel), true
}

// classify turns os.Root's escape error into a PathError.
func classify(root *os.Root, p string, err error) error {
	if err != nil && strings.Contains(err.Error(), "escapes from parent") {
		return &PathError{p, "a symlink on the way leads outside " + root.Name()}
	}
	return err
}

// ReadFile reads p inside root, refusing escapes and anything but a
// regular file: a FIFO, a device or a socket in its place is refused
// before it is read, so that no reader ever blocks on one (the file is
// opened non-blocking and checked with fstat).
func ReadFile(root *os.Root, p string) ([]byte, error) {
	if err := CheckPath(p); err != nil {
		return nil, err
	}
	f, err := root.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, classify(root, p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, &NotRegularError{Path: p, Mode: fi.Mode()}
	}
	return io.ReadAll(f)
}

// NotRegularError is a path that should be a regular file but is not
// (a FIFO, a device, a socket, a directory).
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

// Error implements error.
func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is not a regular file (%s): refusing to read it", e.Path, e.Kind())
}

// Kind says what the path is instead: "a FIFO", "a device", …
func (e *NotRegularError) Kind() string { return KindOf(e.Mode) }

// Hint is the next step.
func (e *NotRegularError) Hint() string {
	return "move it aside and put the regular file there; zenpatch never reads or writes through a FIFO, device or socket"
}

// KindOf names a file's type, with its article: "a regular file", "a
// FIFO", "a device", …
func KindOf(m fs.FileMode) string {
	switch {
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "mode " + m.String()
}

type journal struct {
	Committed bool    `json:"committed"`
	Entries   []entry `json:"entries"`
}

type entry struct {
	Temp   string `json:"temp"`
	Target string `json:"target"`
	// Pre is the sha256 of the target when the commit began ("" when it
	// did not exist): recovery rolls forward only onto that exact file.
	Pre string `json:"pre_sha256"`
}

// Commit writes all of ws or none of them (see the package comment).
func Commit(root *os.Root, ws []Write, opt Options) (err error) {
	if opt.Journal == "" {
		return errors.New("txn: no journal path")
	}
	step := func(s string) {
		if opt.AfterStep != nil {
			opt.AfterStep(s)
		}
	}
	if err := Recover(root, opt.Journal); err != nil {
		return err
	}
	j := journal{}
	for i := range ws {
		target, err := Resolve(root, ws[i].Path)
		if err != nil {
			return err
		}
		ws[i].Path = target
		pre, err := fileSum(root, target)
		if err != nil {
			return err
		}
		j.Entries = append(j.Entries, entry{Temp: tempName(target), Target: target, Pre: pre})
	}
	if err := mkdirAll(root, path.Dir(opt.Journal)); err != nil {
		return err
	}
	// 1. Announce the temp files, so a crash while writing them is cleaned up.
	if err := writeJournal(root, opt.Journal, j); err != nil {
		return err
	}
	step("journal-prepared")
	defer func() {
		if err != nil && !j.Committed {
			for _, e := range j.Entries {
				_ = root.Remove(e.Temp)
			}
			_ = root.Remove(opt.Journal)
		}
	}()
	// 2. Temp files: data, fsync, old mode and owner.
	for i, w := range ws {
		if err := mkdirAll(root, path.Dir(w.Path)); err != nil {
			return err
		}
		if err := writeTemp(root, j.Entries[i].Temp, w); err != nil {
			return err
		}
		step("temp-written:" + w.Path)
	}
	// 3. The commit point: from here a crash rolls forward.
	j.Committed = true
	if err := writeJournal(root, opt.Journal, j); err != nil {
		j.Committed = false
		return err
	}
	step("journal-committed")
	// 4. Renames, then the journal goes.
	if err := rollForward(root, j); err != nil {
		return fmt.Errorf("%w (the change is recorded in %s and will be finished by the next run)", err, opt.Journal)
	}
	step("renamed")
	if err := root.Remove(opt.Journal); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return syncDir(root, path.Dir(opt.Journal))
}

// Recover finishes or discards a commit that a crash interrupted (see
// RecoverReport), and forgets what it discarded.
func Recover(root *os.Root, journalPath string) error {
	_, err := RecoverReport(root, journalPath)
	return err
}

// RecoverReport finishes or discards a commit that a crash interrupted: a
// committed journal is rolled forward, an uncommitted one has its temp
// files removed. A target that changed since the commit began (a package
// update, a hand edit) is not overwritten: its temp file is discarded and
// the current file kept; the paths so kept are returned.
func RecoverReport(root *os.Root, journalPath string) (kept []string, err error) {
	data, err := root.ReadFile(journalPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read journal %s: %w", journalPath, err)
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil {
		// A torn journal can only be an uncommitted one: the committed
		// version is written whole by rename.
		_ = root.Remove(journalPath)
		return nil, nil
	}
	for _, e := range j.Entries {
		if CheckPath(e.Temp) != nil || CheckPath(e.Target) != nil {
			return nil, fmt.Errorf("journal %s names a path outside ZENHOME; remove it by hand after checking", journalPath)
		}
	}
	if j.Committed {
		if kept, err = keepChanged(root, &j); err != nil {
			return nil, err
		}
		if err := rollForward(root, j); err != nil {
			return nil, err
		}
	} else {
		for _, e := range j.Entries {
			if err := root.Remove(e.Temp); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
	}
	return kept, root.Remove(journalPath)
}

// keepChanged drops from a committed journal the entries whose target is
// no longer the file the commit began from, removing their temp files.
// Targets already renamed (no temp file left) stay as they are.
func keepChanged(root *os.Root, j *journal) ([]string, error) {
	var kept []string
	var rest []entry
	for _, e := range j.Entries {
		if _, err := root.Lstat(e.Temp); errors.Is(err, fs.ErrNotExist) {
			continue // renamed before the crash
		}
		cur, err := fileSum(root, e.Target)
		if err != nil {
			return nil, err
		}
		if cur == e.Pre {
			rest = append(rest, e)
			continue
		}
		if err := root.Remove(e.Temp); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		kept = append(kept, e.Target)
	}
	j.Entries = rest
	return kept, nil
}

// fileSum is the hex sha256 of a file under root, "" when it does not
// exist.
func fileSum(root *os.Root, p string) (string, error) {
	data, err := ReadFile(root, p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", classify(root, p, err)
	}
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:]), nil
}

func rollForward(root *os.Root, j journal) error {
	dirs := map[string]bool{}
	for _, e := range j.Entries {
		if err := root.Rename(e.Temp, e.Target); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // renamed before the crash
			}
			return fmt.Errorf("rename %s: %w", e.Target, err)
		}
		dirs[path.Dir(e.Target)] = true
	}
	for d := range dirs {
		if err := syncDir(root, d); err != nil {
			return err
		}
	}
	return nil
}

func tempName(target string) string {
	return path.Join(path.Dir(target), "."+path.Base(target)+".zenpatch-tmp")
}

func writeJournal(root *os.Root, p string, j journal) error {
	data, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	tmp := p + ".tmp"
	if err := writeSynced(root, tmp, data, 0o644); err != nil {
		return err
	}
	if err := root.Rename(tmp, p); err != nil {
		_ = root.Remove(tmp)
		return err
	}
	return syncDir(root, path.Dir(p))
}

func writeTemp(root *os.Root, tmp string, w Write) error {
	mode := w.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	var uid, gid = -1, -1
	if fi, err := root.Stat(w.Path); err == nil {
		if !fi.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", w.Path)
		}
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return classify(root, w.Path, err)
	}
	if err := writeSynced(root, tmp, w.Data, mode); err != nil {
		return err
	}
	if uid >= 0 {
		if err := root.Lchown(tmp, uid, gid); err != nil && !errors.Is(err, fs.ErrPermission) {
			_ = root.Remove(tmp)
			return fmt.Errorf("keep owner of %s: %w", w.Path, err)
		}
	}
	return nil
}

func writeSynced(root *os.Root, p string, data []byte, mode fs.FileMode) error {
	f, err := root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return classify(root, p, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode) // umask may have narrowed it
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = root.Remove(p)
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// WriteFile replaces one file atomically (temp, fsync, rename, directory
// fsync), keeping an existing file's mode and owner.
func WriteFile(root *os.Root, p string, data []byte, mode fs.FileMode) error {
	target, err := Resolve(root, p)
	if err != nil {
		return err
	}
	if err := mkdirAll(root, path.Dir(target)); err != nil {
		return err
	}
	if old, err := root.ReadFile(target); err == nil && bytes.Equal(old, data) {
		return nil
	}
	tmp := tempName(target)
	if err := writeTemp(root, tmp, Write{Path: target, Data: data, Mode: mode}); err != nil {
		return err
	}
	if err := root.Rename(tmp, target); err != nil {
		_ = root.Remove(tmp)
		return err
	}
	return syncDir(root, path.Dir(target))
}

func mkdirAll(root *os.Root, dir string) error {
	if dir == "." || dir == "" {
		return nil
	}
	if err := root.MkdirAll(dir, 0o755); err != nil {
		return classify(root, dir, err)
	}
	return nil
}

func syncDir(root *os.Root, dir string) error {
	f, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
