// Command zenpatch makes a Zenoss web tier use every CPU: it patches
// bin/zopectl to run ZOPES Zope instances, sizes ZOPES from the usable
// CPUs, and runs them behind its own HTTP balancer. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// Exit codes (documented in the README).
const (
	exitOK       = 0
	exitError    = 1
	exitPending  = 2 // changes pending or drift
	exitConflict = 3 // conflict or unsupported version
	exitUsage    = 64
)

func main() {
	reexecTuned() // `zenpatch balance` only; see runtime.go
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// env is what a command gets: streams, environment, global options.
type env struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// codeError carries an exit code and an optional hint.
type codeError struct {
	code int
	err  error
	hint string
}

// Error implements error.
func (e *codeError) Error() string { return e.err.Error() }

// Unwrap returns the underlying error.
func (e *codeError) Unwrap() error { return e.err }

func withCode(code int, err error, hint string) error {
	return &codeError{code: code, err: err, hint: hint}
}

func usageErr(format string, a ...any) error {
	return &codeError{code: exitUsage, err: fmt.Errorf(format, a...), hint: genericHint}
}

// genericHint is a usage error's hint until dispatch names the command.
const genericHint = "see 'zenpatch help'"

// quietCode is an exit code with nothing more to print (diff's 2 for
// "pending", verify's codes, --help's 0).
type quietCode int

// Error implements error.
func (q quietCode) Error() string { return fmt.Sprintf("exit %d", int(q)) }

type command struct {
	name    string
	summary string
	run     func(e *env, args []string) error
}

func commands() []command {
	return []command{
		{"demo", "the whole flow on a sandbox install it creates (needs python3)", cmdDemo},
		{"status", "show version, patch state, ZOPES now vs recommended, instances", cmdStatus},
		{"diff", "print every change apply would make as a unified diff (exit 2: pending)", cmdDiff},
		{"apply", "apply the multi-Zope patch and set ZOPES", cmdApply},
		{"revert", "bring back the vendor's zopectl, byte for byte", cmdRevert},
		{"upgrade", "post-upgrade hook: re-apply after a Zenoss upgrade and restart (rolling)", cmdUpgrade},
		{"verify", "CI checks: the patch set, the install, and (--live) the running service", cmdVerify},
		{"hook", "install|uninstall: yum/dnf actions that run 'zenpatch upgrade' after a Zenoss package update", cmdHook},
		{"zope", "start|stop|restart|status [N]: the Zope instances (what patched zopectl calls)", cmdZope},
		{"balance", "run the HTTP balancer in the foreground (install or standalone)", cmdBalance},
		{"frontend", "apache|haproxy|nginx: config for your own front end instead of the balancer", cmdFrontend},
		{"version", "print zenpatch's own version", cmdVersion},
		{"help", "list commands, or 'help COMMAND'", nil},
	}
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	err := dispatch(e, args)
	return report(stderr, err)
}

func dispatch(e *env, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		printUsage(e.stdout)
		return nil
	}
	name, rest := args[0], args[1:]
	if name == "help" {
		if len(rest) > 0 {
			return dispatch(e, []string{rest[0], "--help"})
		}
		printUsage(e.stdout)
		return nil
	}
	if name == "--version" {
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			err := c.run(e, rest)
			// A usage error inside a command points at that command's help.
			var ce *codeError
			if errors.As(err, &ce) && ce.code == exitUsage && ce.hint == genericHint {
				ce.hint = "see 'zenpatch " + name + " --help'"
			}
			return err
		}
	}
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	sort.Strings(names)
	return usageErr("unknown command %q (commands: %s)", name, strings.Join(names, ", "))
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "zenpatch: run several Zope instances behind a balancer so the Zenoss UI uses every CPU.")
	fmt.Fprintln(w, "\nUsage: zenpatch COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery command takes --help. Exit codes: 0 ok, 1 error, 2 changes pending or drift, 3 conflict or unsupported version, 64 usage.")
}

// report prints err for people and maps it to an exit code.
func report(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	var q quietCode
	if errors.As(err, &q) {
		return int(q)
	}
	code, hint := exitError, ""
	var ce *codeError
	if errors.As(err, &ce) {
		code, hint = ce.code, ce.hint
	}
	fmt.Fprintf(stderr, "zenpatch: error: %v\n", err)
	if hint != "" {
		for _, h := range strings.Split(hint, "\n") {
			fmt.Fprintf(stderr, "zenpatch: hint: %s\n", h)
		}
	}
	return code
}
