package txn

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"
)

// Lock is an exclusive advisory lock (flock) on a file under the root. The
// kernel drops it when the process dies, so a crash never leaves it stuck.
type Lock struct{ f *os.File }

// LockedError says another process holds the lock.
type LockedError struct {
	Path string
	PID  int // 0 when unknown
}

// Error implements error.
func (e *LockedError) Error() string {
	who := "another zenpatch run"
	if e.PID > 0 {
		who = fmt.Sprintf("another zenpatch run (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s holds the lock %s", who, e.Path)
}

// Hint is the next step.
func (e *LockedError) Hint() string {
	return "wait for it to finish; if no zenpatch runs, the lock is free again (flock is dropped when a process ends)"
}

// TryLock takes the lock at p without waiting; it fails with *LockedError
// when another process holds it.
func TryLock(root *os.Root, p string) (*Lock, error) {
	if err := mkdirAll(root, path.Dir(p)); err != nil {
		return nil, err
	}
	f, err := root.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, classify(root, p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		buf := make([]byte, 32)
		n, _ := f.ReadAt(buf, 0)
		pid, _ := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &LockedError{Path: p, PID: pid}
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return &Lock{f: f}, nil
}

// Unlock releases the lock.
func (l *Lock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := l.f.Close()
	l.f = nil
	return err
}
