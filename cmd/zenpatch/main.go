// Command zenpatch makes a Zenoss web tier use every CPU: it patches
// bin/zopectl to run ZOPES Zope instances, sizes ZOPES from the usable
// CPUs, and runs them behind its own HTTP balancer. See README.md.
//
// This package is the command line only: flags, help, wiring and
// printing. What zenpatch knows lives under internal/ (the install model,
// the instances, the balancer, the upgrade flow) and in apply, verify and
// patches.
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

	"github.com/zenpatch/zenpatch/internal/balancer"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "balance" {
		balancer.ReexecTuned() // see internal/balancer/runtime.go
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() { // a second SIGINT or SIGTERM ends the process at once
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// invocation is what a command runs with: its context (cancelled by
// SIGINT and SIGTERM), streams and environment.
type invocation struct {
	ctx    context.Context
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

type command struct {
	name    string
	summary string
	run     func(inv *invocation, args []string) error
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

// run runs one command line and returns its exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	inv := &invocation{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, getenv: getenv}
	return report(stderr, dispatch(inv, args))
}

func dispatch(inv *invocation, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
		printUsage(inv.stdout)
		return nil
	}
	name, rest := args[0], args[1:]
	if name == "help" {
		if len(rest) > 0 {
			return dispatch(inv, []string{rest[0], "--help"})
		}
		printUsage(inv.stdout)
		return nil
	}
	if name == "--version" {
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name && c.run != nil {
			err := c.run(inv, rest)
			// A usage error inside a command points at that command's help.
			var ue *usageError
			if errors.As(err, &ue) && ue.cmd == "" {
				ue.cmd = name
			}
			return err
		}
	}
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	sort.Strings(names)
	return usageErr("", "unknown command %q (commands: %s)", name, strings.Join(names, ", "))
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "zenpatch: run several Zope instances behind a balancer so the Zenoss UI uses every CPU.")
	fmt.Fprintln(w, "\nUsage: zenpatch COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nEvery command takes --help. Exit codes: 0 ok, 1 error, 2 changes pending or drift, 3 conflict or unsupported version, 64 usage.")
}
