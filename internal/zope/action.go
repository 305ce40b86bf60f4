package zope

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"

	"github.com/zenpatch/zenpatch/internal/install"
)

// Actions are what Action does: the zopectl verbs that act on every
// instance (and the balancer), or on instance N.
var Actions = []string{"start", "stop", "restart"}

// Action starts, stops or restarts instance n, or with n = 0 everything:
// every instance and the balancer in front of them (restart is rolling).
// With ZOPES=1 it acts on the single Zope the vendor's way, handing the
// HTTP port between it and the balancer.
func (c *Controller) Action(ctx context.Context, action string, n int) error {
	if action == "start" || action == "restart" {
		if err := c.CheckPortPlan(); err != nil {
			return err
		}
	}
	switch action {
	case "start":
		if n > 0 {
			return c.StartOne(ctx, n)
		}
		return c.startAll(ctx)
	case "stop":
		if n > 0 {
			return c.StopOne(ctx, n)
		}
		if err := c.StopBalancer(ctx); err != nil {
			return err
		}
		return c.StopAll(ctx)
	case "restart":
		if n > 0 && c.Multi() {
			return c.RollingRestart(ctx, []int{n})
		}
		return c.restartAll(ctx)
	}
	return fmt.Errorf("unknown action %q (want one of %v)", action, Actions)
}

// startAll starts what is missing: instances, then the balancer. What
// the balancer needs is checked before any instance starts; if it still
// fails to start, the instances this call started are stopped again.
func (c *Controller) startAll(ctx context.Context) error {
	if !c.Multi() { // the vendor Zope needs the balancer's port
		if err := c.StopBalancer(ctx); err != nil {
			return err
		}
		return c.StartAll(ctx)
	}
	started, err := c.startInstances(ctx)
	if err != nil {
		return err
	}
	return c.startFront(ctx, started)
}

// startFront starts the balancer in front of the instances, unless ZOPES=1
// or the settings turn it off. If it fails, the instances in started (the
// ones this call started) are stopped again.
func (c *Controller) startFront(ctx context.Context, started []int) error {
	if !c.Multi() {
		return nil
	}
	if c.Settings.BalancerOff {
		c.printf("balancer off (%s): your own front end serves %s\n", install.SettingsPath, c.ListenAddr())
		return nil
	}
	err := c.StartBalancer(ctx)
	if err == nil {
		return nil
	}
	for _, n := range started {
		_ = c.StopOne(context.WithoutCancel(ctx), n)
	}
	return &BalancerError{Err: err, Stopped: started, Running: c.instancesRunning()}
}

// BalancerError says the balancer did not start.
type BalancerError struct {
	Err     error
	Stopped []int // the instances this start had started, stopped again
	Running bool  // instances (started before this call) still run
}

// Error implements error.
func (e *BalancerError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *BalancerError) Unwrap() error { return e.Err }

// Detail is the cause's detail (the balancer log's tail).
func (e *BalancerError) Detail() string {
	var d interface{ Detail() string }
	if errors.As(e.Err, &d) {
		return d.Detail()
	}
	return ""
}

// Hint is the next step.
func (e *BalancerError) Hint() string {
	h := "read " + BalancerLog + ", fix what it says and run 'zopectl start' again"
	switch {
	case len(e.Stopped) > 0 && !e.Running:
		h += "; the instances this start had started were stopped again: nothing runs"
	case len(e.Stopped) > 0:
		h += "; the instances this start had started were stopped again; those that ran before still run"
	case e.Running:
		h += "; the instances (which ran before) still run"
	}
	return h
}

// restartAll restarts everything: rolling behind the balancer when ZOPES >
// 1 (surplus instances stop, added ones start), else stop and start.
func (c *Controller) restartAll(ctx context.Context) error {
	if !c.Multi() {
		if err := c.StopBalancer(ctx); err != nil {
			return err
		}
		if err := c.StopAll(ctx); err != nil {
			return err
		}
		return c.StartAll(ctx)
	}
	if err := c.StopSurplus(ctx); err != nil {
		return err
	}
	var list []int
	for i := 1; i <= c.Zopes; i++ {
		list = append(list, i)
	}
	if err := c.RollingRestart(ctx, list); err != nil {
		return err
	}
	started, err := c.startInstances(ctx) // instances added by a raised ZOPES
	if err != nil {
		return err
	}
	return c.startFront(ctx, started)
}

// Running reports whether any Zope of the install runs: the single vendor
// Zope, the balancer, or any instance zenpatch knows.
func (c *Controller) Running() bool {
	if _, ok := c.VendorStatus(); ok {
		return true
	}
	if _, ok := c.BalancerRunning(); ok {
		return true
	}
	return c.instancesRunning()
}

func (c *Controller) instancesRunning() bool {
	for _, n := range c.Known() {
		if c.InstanceProc(n).Running() {
			return true
		}
	}
	return false
}

// AllUp reports whether the balancer runs and every instance 1..ZOPES
// answers.
func (c *Controller) AllUp(ctx context.Context) bool {
	if _, ok := c.BalancerRunning(); !ok {
		return false
	}
	for _, s := range c.StatusAll(ctx) {
		if !s.Surplus && !s.Answers {
			return false
		}
	}
	return true
}

// FallBackToVendor keeps Zope serving the vendor's way when the patch
// cannot be applied: zenpatch's balancer and instances stop and the vendor
// zopectl starts its single Zope on the HTTP port. It does nothing when
// none of zenpatch's processes run. It reports whether it acted. Its
// progress lines (and the vendor zopectl's) go to Out with the prefix
// "zenpatch: ", as the notes of the upgrade they happen in.
func (c *Controller) FallBackToVendor(ctx context.Context) (bool, error) {
	if !c.OwnProcessesRun() {
		return false, nil
	}
	out := c.Out
	c.Out = &prefixWriter{w: out, prefix: "zenpatch: "}
	defer func() { c.Out = out }()
	_ = c.StopBalancer(ctx)
	c.Zopes = 1
	_ = c.StopAll(ctx)
	return true, c.StartAll(ctx)
}

// OwnProcessesRun reports whether zenpatch's balancer or any of its
// instances runs (what FallBackToVendor would stop).
func (c *Controller) OwnProcessesRun() bool {
	_, lb := c.BalancerRunning()
	return lb || c.instancesRunning()
}

// ErrDown says an instance of ZOPES is not answering (zope status exits 3
// then, as LSB init scripts do).
var ErrDown = errors.New("a Zope instance is down")

// ExitError is a vendor zopectl command that exited non-zero; Code is its
// exit status, which zenpatch passes on.
type ExitError struct{ Code int }

// Error implements error.
func (e *ExitError) Error() string { return fmt.Sprintf("zopectl exited %d", e.Code) }

// ZopectlCommands are the commands of Zope's own zopectl (zdaemon's zdctl
// and Zope 2's ZopeCmd, Zope 2.8-2.13) that zenpatch passes through to
// the install's zopectl: start, stop, restart and status it does itself.
var ZopectlCommands = []string{"fg", "foreground", "debug", "run", "logtail", "show", "kill", "wait", "reopen_transcript", "adduser", "test"}

// Passthrough runs the install's zopectl with args (a command of
// ZopectlCommands) attached to the given streams, for instance 1 (ZOPES >
// 1) or the single Zope (ZOPES=1), and returns its exit status as an
// *ExitError.
func (c *Controller) Passthrough(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	n, conf := 0, c.Inst.Abs(install.ZopeConfPath)
	if c.Multi() {
		if err := c.CheckPortPlan(); err != nil {
			return err
		}
		zi, err := c.Inst.WriteInstanceConfig(c.Conf, 1, c.Settings.BasePort)
		if err != nil {
			return err
		}
		n, conf = 1, c.Inst.Abs(zi.ConfigPath)
	}
	cmd := exec.CommandContext(ctx, c.Inst.Abs(install.ZopectlPath), args...)
	env := c.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(withoutVars(env, "ZENPATCH_INSTANCE", "ZENPATCH_CONFIG_FILE"), "ZENPATCH_INSTANCE="+strconv.Itoa(n), "ZENPATCH_CONFIG_FILE="+conf)
	cmd.Dir = c.Inst.Home
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Code: ee.ExitCode()}
	}
	return err
}

// prefixWriter writes every line to w with prefix in front, a whole line
// (or the rest of one) in one Write, so that lines written at once from
// several goroutines stay whole.
type prefixWriter struct {
	mu     sync.Mutex
	w      io.Writer
	prefix string
	mid    bool // the last Write ended inside a line
}

// Write implements io.Writer.
func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line = b[:i+1]
		}
		var buf []byte
		if !p.mid {
			buf = append(buf, p.prefix...)
		}
		buf = append(buf, line...)
		if _, err := p.w.Write(buf); err != nil {
			return n, err
		}
		n += len(line)
		p.mid = line[len(line)-1] != '\n'
		b = b[len(line):]
	}
	return n, nil
}
