package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"

	"github.com/zenpatch/zenpatch/internal/hook"
	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/zope"
	"github.com/zenpatch/zenpatch/verify"
)

// Exit codes (README, "Exit codes").
const (
	exitOK       = 0
	exitError    = 1
	exitPending  = 2 // changes pending or drift
	exitConflict = 3 // conflict, unsupported version, an instance down
	exitUsage    = 64
)

// usageError is a bad command line; cmd names the command whose --help
// the hint points at ("" until dispatch knows it), unless hint says
// better.
type usageError struct {
	cmd  string
	msg  string
	hint string
}

// Error implements error.
func (e *usageError) Error() string { return e.msg }

func usageErr(cmd, format string, a ...any) error {
	return &usageError{cmd: cmd, msg: fmt.Sprintf(format, a...)}
}

// hinted is an error whose next step is known where it happened.
type hinted struct {
	err  error
	hint string
}

// Error implements error.
func (e *hinted) Error() string { return e.err.Error() }

// Unwrap returns the error hinted at.
func (e *hinted) Unwrap() error { return e.err }

// Hint is the next step.
func (e *hinted) Hint() string { return e.hint }

func withHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return &hinted{err: err, hint: hint}
}

// Outcomes that are not failures to explain: the command has printed
// what there is to say, and only the exit code is left.
var (
	errHelp    = errors.New("help printed")
	errPending = errors.New("changes pending")
)

// classify is the one place that maps an outcome to its exit code and the
// next step to suggest; quiet outcomes print nothing more.
func classify(err error) (code int, hint string, quiet bool) {
	var (
		ue    *usageError
		oe    *hook.OptionError
		vf    *verify.Failure
		child *zope.ExitError
	)
	switch {
	case err == nil, errors.Is(err, errHelp):
		return exitOK, "", true
	case errors.Is(err, errPending):
		return exitPending, "", true
	case errors.As(err, &vf):
		return map[verify.Status]int{verify.Drift: exitPending, verify.Error: exitError, verify.Conflict: exitConflict, verify.Unsupported: exitConflict}[vf.Worst], "", true
	case errors.Is(err, zope.ErrDown):
		return exitConflict, "", true
	case errors.As(err, &child):
		return child.Code, "", true
	case errors.As(err, &ue):
		if ue.hint != "" {
			return exitUsage, ue.hint, false
		}
		if ue.cmd == "" {
			return exitUsage, "see 'zenpatch help'", false
		}
		return exitUsage, "see 'zenpatch " + ue.cmd + " --help'", false
	case errors.As(err, &oe):
		return exitUsage, oe.Hint(), false
	}
	code = exitError
	var conflict *install.ConflictError
	var unsupported *install.UnsupportedError
	var unreadable *install.VersionFileError
	if (errors.As(err, &conflict) || errors.As(err, &unsupported)) && !errors.As(err, &unreadable) {
		code = exitConflict
	}
	return code, hintFor(err), false
}

// hinter is an error that knows the next step to suggest; the errors
// zenpatch understands carry their hint where they are defined.
type hinter interface{ Hint() string }

// hintFor names the next step for err: the error's own hint, else one
// for what the system said of a path.
func hintFor(err error) string {
	var h hinter
	var pe *fs.PathError
	switch {
	case errors.As(err, &h):
		return h.Hint()
	case errors.Is(err, os.ErrPermission):
		return "run as a user who may read and write there (the Zenoss install's owner, usually zenoss, or root)"
	case errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.EISDIR):
		return "a file stands where a directory belongs on that path (or the reverse): move it aside"
	case errors.Is(err, syscall.ENAMETOOLONG):
		return "give a shorter path"
	case errors.Is(err, fs.ErrNotExist) && errors.As(err, &pe):
		return "create " + pe.Path + ", or point zenpatch at the install that has it (--zenhome)"
	}
	return ""
}

// detailer is an error with more to show than its one line (a log's tail).
type detailer interface{ Detail() string }

// report prints err for people, one line, then any detail, then the hint,
// and returns the exit code.
func report(w io.Writer, err error) int {
	code, hint, quiet := classify(err)
	if quiet {
		return code
	}
	fmt.Fprintf(w, "zenpatch: error: %v\n", err)
	var d detailer
	if errors.As(err, &d) && d.Detail() != "" {
		for _, l := range strings.Split(d.Detail(), "\n") {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	for _, h := range strings.Split(hint, "\n") {
		if h != "" {
			fmt.Fprintf(w, "zenpatch: hint: %s\n", h)
		}
	}
	return code
}
