package hook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"syscall"

	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/txn"
)

// RecordPath is the record of the installed hook, relative to ZENHOME.
const RecordPath = install.StateDir + "/hook.json"

// RecordFormat is the record's format: 2 since the action line is quoted
// and uses su-style runuser; records without it are from the EL7-only,
// unquoted line ('runuser -u USER -- env …').
const RecordFormat = 2

// Record is what 'hook install' wrote, kept in ZENHOME so status and
// verify can check the files are still in place.
type Record struct {
	Format int      `json:"format"`         // RecordFormat
	Root   string   `json:"root"`           // absolute --root the files are under
	Files  []string `json:"files"`          // action files, relative to Root
	Rule   string   `json:"command"`        // the command their rules run
	User   string   `json:"user,omitempty"` // the user it runs as; "" = root
}

// write stores the record in home and returns a function that puts back
// what was there before (the old bytes, or no file and none of the
// directories it made). What it creates is given ZENHOME's owner: the
// action runs as that user and must be able to write var/zenpatch, even
// when 'hook install' ran as root.
func (r Record) write(home *os.Root) (undo func(), err error) {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	data = append(data, '\n')
	old, rerr := txn.ReadFile(home, RecordPath)
	if rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		return nil, rerr
	}
	if rerr == nil && bytes.Equal(old, data) {
		return func() {}, nil
	}
	chown := ownerOf(home)
	var created []string
	removeCreated := func() {
		for i := len(created) - 1; i >= 0; i-- {
			_ = home.Remove(created[i])
		}
	}
	for _, d := range []string{path.Dir(path.Dir(RecordPath)), path.Dir(RecordPath)} {
		if _, err := home.Lstat(d); err == nil {
			continue
		}
		if err := home.Mkdir(d, 0o755); err != nil {
			removeCreated()
			return nil, err
		}
		created = append(created, d)
		if err := chown(d); err != nil {
			removeCreated()
			return nil, err
		}
	}
	err = txn.WriteFile(home, RecordPath, data, 0o644)
	if err == nil && rerr != nil {
		err = chown(RecordPath)
	}
	if err != nil {
		if rerr != nil {
			_ = home.Remove(RecordPath)
		}
		removeCreated()
		return nil, err
	}
	return func() {
		if rerr == nil {
			_ = txn.WriteFile(home, RecordPath, old, 0o644)
			return
		}
		_ = home.Remove(RecordPath)
		removeCreated()
	}, nil
}

// ownerOf returns a function giving a path under root the owner of root
// itself; it does nothing unless zenpatch runs as root (anyone else
// creates files as themselves, and may not give them away).
func ownerOf(root *os.Root) func(p string) error {
	none := func(string) error { return nil }
	if os.Geteuid() != 0 {
		return none
	}
	fi, err := root.Stat(".")
	if err != nil {
		return none
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return none
	}
	return func(p string) error { return root.Lchown(p, int(st.Uid), int(st.Gid)) }
}

// StaleRecordError says the hook was installed by an older zenpatch whose
// action line only works on EL7 and later and is not quoted.
type StaleRecordError struct{}

// Error implements error.
func (e *StaleRecordError) Error() string {
	return fmt.Sprintf("the upgrade hook was installed by an older zenpatch (%s): its action line needs util-linux runuser -u (EL7 and later) and does not quote ZENHOME; run 'zenpatch hook install' again", RecordPath)
}

// ReadRecord returns the record in home, nil when there is none, and a
// StaleRecordError for a record of an older format.
func ReadRecord(home *os.Root) (*Record, error) {
	data, err := txn.ReadFile(home, RecordPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rec Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("%s: %v", RecordPath, err)
	}
	if rec.Format < RecordFormat {
		return nil, &StaleRecordError{}
	}
	return &rec, nil
}

// InPlace reports whether both action files are under the recorded root,
// written by zenpatch, with rules running the recorded command.
func (r *Record) InPlace() bool {
	root, err := os.OpenRoot(r.Root)
	if err != nil {
		return false
	}
	defer root.Close()
	y, d := Installed(root, r.Rule)
	return y && d
}
