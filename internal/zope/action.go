package zope

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
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

// startAll starts what is missing: instances, then the balancer.
func (c *Controller) startAll(ctx context.Context) error {
	if !c.Multi() { // the vendor Zope needs the balancer's port
		if err := c.StopBalancer(ctx); err != nil {
			return err
		}
	}
	if err := c.StartAll(ctx); err != nil {
		return err
	}
	return c.startFront(ctx)
}

// startFront starts the balancer in front of the instances, unless ZOPES=1
// or the settings turn it off.
func (c *Controller) startFront(ctx context.Context) error {
	if !c.Multi() {
		return nil
	}
	if c.Settings.BalancerOff {
		fmt.Fprintf(c.Out, "balancer off (%s): your own front end serves %s\n", install.SettingsPath, c.ListenAddr())
		return nil
	}
	if err := c.StartBalancer(ctx); err != nil {
		return &BalancerError{Err: err}
	}
	return nil
}

// BalancerError says the instances run but the balancer did not start.
type BalancerError struct{ Err error }

// Error implements error.
func (e *BalancerError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *BalancerError) Unwrap() error { return e.Err }

// Hint is the next step.
func (e *BalancerError) Hint() string {
	return "the instances run; read " + BalancerLog + ", fix the balancer and run 'zopectl start' again"
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
	if err := c.StartAll(ctx); err != nil { // instances added by a raised ZOPES
		return err
	}
	return c.startFront(ctx)
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
		if _, ok := PID(c.Instance(n).PidFile); ok {
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
// none of zenpatch's processes run. It reports whether it acted.
func (c *Controller) FallBackToVendor(ctx context.Context) (bool, error) {
	_, lb := c.BalancerRunning()
	if !lb && !c.instancesRunning() {
		return false, nil
	}
	_ = c.StopBalancer(ctx)
	c.Zopes = 1
	_ = c.StopAll(ctx)
	return true, c.StartAll(ctx)
}

// ErrDown says an instance of ZOPES is not answering (zope status exits 3
// then, as LSB init scripts do).
var ErrDown = errors.New("a Zope instance is down")

// ExitError is a vendor zopectl command that exited non-zero; Code is its
// exit status, which zenpatch passes on.
type ExitError struct{ Code int }

// Error implements error.
func (e *ExitError) Error() string { return fmt.Sprintf("zopectl exited %d", e.Code) }

// Passthrough runs the install's zopectl with args for instance 1 (the
// zopectl commands zenpatch does not handle itself: fg, debug, run,
// logtail…), attached to the given streams, and returns its exit status as
// an *ExitError.
func (c *Controller) Passthrough(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	zi, err := c.Inst.WriteInstanceConfig(c.Conf, 1, c.Settings.BasePort)
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, c.Inst.Abs(install.ZopectlPath), args...)
	cmd.Env = append(withoutVars(os.Environ(), "ZENPATCH_INSTANCE", "ZENPATCH_CONFIG_FILE"), "ZENPATCH_INSTANCE=1", "ZENPATCH_CONFIG_FILE="+c.Inst.Abs(zi.ConfigPath))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return &ExitError{Code: ee.ExitCode()}
	}
	return err
}
