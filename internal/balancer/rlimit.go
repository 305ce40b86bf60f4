package balancer

import (
	"errors"
	"fmt"
	"log/slog"
	"syscall"
)

// Every client connection the balancer holds takes a file descriptor, and
// every backend connection in its pool another, so its open-file soft limit
// bounds how many clients it can hold: at the common default of 1024, about
// a thousand. Go's runtime raises the soft limit to the hard limit (less
// one) when a program starts (since Go 1.19), and syscall.Getrlimit and
// Setrlimit work, but all of that goes through prlimit64, which Linux has
// only since 2.6.36. On RHEL/CentOS 6 (2.6.32) each of those calls fails
// with ENOSYS and the limit stays where the process started. The older
// getrlimit/setrlimit system calls do the same job on every kernel, so they
// are the fallback.

// RaiseOpenFileLimit raises the process's soft RLIMIT_NOFILE to its hard
// limit, through prlimit64 or, on kernels without it, the older setrlimit,
// and returns the soft limit the process runs with afterwards. A failure is
// logged as a warning (the balancer still runs, with the limit it has).
// Programs the process starts afterwards inherit the raised limit (Go
// otherwise gives them the limit it started with).
func RaiseOpenFileLimit(log *slog.Logger) uint64 {
	n, err := systemNofile().raise()
	if err != nil && log != nil {
		log.Warn("cannot raise the open-file limit; the balancer holds fewer connections than that", "nofile", n, "err", err)
	}
	return n
}

// nofileCalls are the system calls behind RaiseOpenFileLimit, apart so the
// fallback can be tested on a kernel that has prlimit64.
type nofileCalls struct {
	get, set       func(*syscall.Rlimit) error // prlimit64 (Linux 2.6.36+)
	oldGet, oldSet func(*syscall.Rlimit) error // getrlimit, setrlimit (every kernel)
}

func systemNofile() nofileCalls {
	return nofileCalls{
		get:    func(l *syscall.Rlimit) error { return syscall.Getrlimit(syscall.RLIMIT_NOFILE, l) },
		set:    func(l *syscall.Rlimit) error { return syscall.Setrlimit(syscall.RLIMIT_NOFILE, l) },
		oldGet: oldGetNofile,
		oldSet: oldSetNofile,
	}
}

// getLimit reads RLIMIT_NOFILE, falling back to getrlimit on ENOSYS.
func (c nofileCalls) getLimit() (syscall.Rlimit, error) {
	var l syscall.Rlimit
	err := c.get(&l)
	if errors.Is(err, syscall.ENOSYS) {
		err = c.oldGet(&l)
	}
	if err != nil {
		return l, fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	return l, nil
}

// raise sets the soft limit to the hard one and returns the soft limit in
// force afterwards (the one before, on failure).
func (c nofileCalls) raise() (uint64, error) {
	l, err := c.getLimit()
	if err != nil {
		return 0, err
	}
	if l.Cur >= l.Max {
		return l.Cur, nil
	}
	want := syscall.Rlimit{Cur: l.Max, Max: l.Max}
	err = c.set(&want)
	if errors.Is(err, syscall.ENOSYS) {
		err = c.oldSet(&want)
	}
	if err != nil {
		return l.Cur, fmt.Errorf("setrlimit(RLIMIT_NOFILE, %d): %w", l.Max, err)
	}
	got, err := c.getLimit()
	if err != nil {
		return l.Max, err
	}
	return got.Cur, nil
}
