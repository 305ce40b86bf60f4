// Package zenoss is zenpatch's model of a Zenoss install: where it is
// (ZENHOME), which release it is and how that is known, its bin/zopectl and
// etc/zope.conf, and the state of the multi-Zope patch. It ties the patch
// engine (apply), the patch set (patches) and sizing together; every file
// it touches is under ZENHOME, reached through an os.Root.
package install

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/zenpatch/zenpatch/internal/txn"
	"github.com/zenpatch/zenpatch/patches"
)

// DefaultHome is ZENHOME when neither --zenhome nor $ZENHOME is set.
const DefaultHome = "/opt/zenoss"

// Paths inside ZENHOME that zenpatch reads or writes.
const (
	ZopectlPath  = patches.Target
	ZopeConfPath = "etc/zope.conf"
	VersionPath  = "Products/ZenModel/ZVersion.py"
	StateDir     = "var/zenpatch"
	RecordPath   = StateDir + "/state.json"
	// CorruptRecordPath keeps a record that could not be read, when apply
	// replaces it.
	CorruptRecordPath = StateDir + "/state.json.corrupt"
	LockPath          = StateDir + "/lock"
	JournalPath       = StateDir + "/journal"
	BackupDir         = StateDir + "/backup"
	RejectPath        = StateDir + "/reject/zopectl.rej"
	LogPath           = "log/zenpatch.log"
)

// Install is an open Zenoss install.
type Install struct {
	Home  string   // absolute ZENHOME
	Root  *os.Root // every access goes through it
	notes []string
}

// Notes are what an operator should know of what the install model did
// on its own (an interrupted change discarded), one sentence each.
func (i *Install) Notes() []string { return i.notes }

// NotInstallError says ZENHOME is missing or is not a Zenoss install.
type NotInstallError struct {
	Home   string
	Reason string
}

// Error implements error.
func (e *NotInstallError) Error() string {
	home := e.Home
	if strings.ContainsFunc(home, func(r rune) bool { return !unicode.IsPrint(r) }) {
		home = strconv.Quote(home) // a newline in a path must not split the message
	}
	return fmt.Sprintf("%s: %s", home, e.Reason)
}

// Hint is the next step.
func (e *NotInstallError) Hint() string {
	return "point zenpatch at the Zenoss install with --zenhome DIR or ZENHOME=DIR (it holds bin/zopectl and etc/zope.conf)"
}

// Home picks ZENHOME: the flag, else the environment, else DefaultHome.
func Home(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if v := getenv("ZENHOME"); v != "" {
		return v
	}
	return DefaultHome
}

// Open opens the install at home, checking it has bin/zopectl.
func Open(home string) (*Install, error) {
	abs, err := filepath.Abs(home)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &NotInstallError{abs, "no such directory"}
	}
	if err != nil {
		return nil, err
	}
	if !fi.IsDir() {
		return nil, &NotInstallError{abs, "not a directory"}
	}
	root, err := os.OpenRoot(abs)
	if err != nil {
		return nil, err
	}
	inst := &Install{Home: abs, Root: root}
	resolved, err := txn.Resolve(root, ZopectlPath)
	var zfi fs.FileInfo
	if err == nil {
		zfi, err = root.Stat(resolved)
	}
	if err == nil && !zfi.Mode().IsRegular() {
		err = &txn.NotRegularError{Path: ZopectlPath, Mode: zfi.Mode()}
	}
	if err != nil {
		root.Close()
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &NotInstallError{abs, "not a Zenoss install (no " + ZopectlPath + ")"}
		}
		return nil, err
	}
	return inst, nil
}

// Close releases the install's root.
func (i *Install) Close() error { return i.Root.Close() }

// ReadFile reads a file under ZENHOME, refusing paths that leave it.
func (i *Install) ReadFile(p string) ([]byte, error) { return txn.ReadFile(i.Root, p) }

// WriteFile replaces one file under ZENHOME atomically (temp file, fsync,
// rename), keeping an existing file's mode and owner; mode is for a new one.
func (i *Install) WriteFile(p string, data []byte, mode fs.FileMode) error {
	return txn.WriteFile(i.Root, p, data, mode)
}

// Lock takes the install's zenpatch lock (var/zenpatch/lock) and finishes
// any change a crash interrupted.
func (i *Install) Lock() (*txn.Lock, error) {
	l, err := txn.TryLock(i.Root, LockPath)
	if err != nil {
		return nil, err
	}
	kept, err := txn.RecoverReport(i.Root, JournalPath)
	if err != nil {
		l.Unlock()
		return nil, err
	}
	for _, p := range kept {
		i.notes = append(i.notes, fmt.Sprintf("an interrupted change to %s was not finished: the file changed since (a package update or a hand edit), so it is kept as it is now", p))
	}
	return l, nil
}

// FinishInterrupted completes a change a crash interrupted (a journal left
// in var/zenpatch), under the lock. Without a journal it writes nothing.
func (i *Install) FinishInterrupted() error {
	if _, err := i.Root.Lstat(JournalPath); err != nil {
		return nil
	}
	l, err := i.Lock() // Lock recovers
	if err != nil {
		return err
	}
	return l.Unlock()
}
