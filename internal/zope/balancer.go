package zope

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/zenpatch/zenpatch/internal/balancer"
	"github.com/zenpatch/zenpatch/internal/install"
)

// Files of the balancer daemon, relative to ZENHOME.
const (
	AdminSocket = install.StateDir + "/balancer.sock"
	BalancerPid = install.StateDir + "/balancer.pid"
	BalancerLog = "log/zenpatch-balancer.log"
)

// BackendSpecs are the instances as balancer backends (cap =
// zserver-threads).
func (c *Controller) BackendSpecs() []balancer.BackendSpec {
	var out []balancer.BackendSpec
	for n := 1; n <= c.Zopes; n++ {
		out = append(out, balancer.BackendSpec{Name: strconv.Itoa(n), Addr: c.Instance(n).Addr(), Cap: c.Conf.Threads})
	}
	return out
}

// ListenAddr is where the balancer listens: <balancer> listen in
// etc/zenpatch.conf, else zope.conf's HTTP address, so users' URLs stay.
func (c *Controller) ListenAddr() string {
	if c.Settings.Balancer.Listen != "" {
		return c.Settings.Balancer.Listen
	}
	return c.Conf.HTTPAddress()
}

// BalancerRunning returns the balancer daemon's pid when it runs.
func (c *Controller) BalancerRunning() (int, bool) { return PID(c.Inst.Abs(BalancerPid)) }

func (c *Controller) admin() *http.Client { return balancer.AdminClient(c.Inst.Abs(AdminSocket)) }

// BalancerStatus asks the running balancer for its state.
func (c *Controller) BalancerStatus(ctx context.Context) (*balancer.StatusReport, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://balancer/status", nil)
	resp, err := c.admin().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var st balancer.StatusReport
	return &st, json.NewDecoder(resp.Body).Decode(&st)
}

func (c *Controller) adminPost(ctx context.Context, action string, q url.Values) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://balancer/"+action+"?"+q.Encode(), nil)
	resp, err := c.admin().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("balancer %s: %s", action, e.Error)
	}
	return nil
}

// StartBalancer starts the balancer daemon (zenpatch balance) unless it
// runs, and waits until its admin API answers. exe/argv0 re-run this
// program.
func (c *Controller) StartBalancer(ctx context.Context, exe, argv0 string) error {
	if pid, ok := c.BalancerRunning(); ok {
		fmt.Fprintf(c.Out, "balancer already running (pid %d, %s)\n", pid, c.ListenAddr())
		return c.reloadBalancer(pid)
	}
	logf, err := os.OpenFile(c.Inst.Abs(BalancerLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := &exec.Cmd{Path: exe, Args: []string{argv0, "balance", "--zenhome", c.Inst.Home},
		Stdout: logf, Stderr: logf, Dir: c.Inst.Home, Env: c.Env,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true}}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(15 * time.Second)
	for {
		if _, err := c.BalancerStatus(ctx); err == nil {
			fmt.Fprintf(c.Out, "balancer started (pid %d) on %s → %d instances\n", cmd.Process.Pid, c.ListenAddr(), c.Zopes)
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("the balancer exited at start (%v); last lines of %s:\n%s", err, BalancerLog, tail(c.Inst.Abs(BalancerLog), 5))
		case <-deadline:
			_ = cmd.Process.Kill()
			return fmt.Errorf("the balancer did not answer on %s within 15s", AdminSocket)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// reloadBalancer makes a running balancer re-read its backends (SIGHUP).
func (c *Controller) reloadBalancer(pid int) error {
	return syscall.Kill(pid, syscall.SIGHUP)
}

// StopBalancer stops the balancer gracefully (SIGTERM: in-flight requests
// finish); it is killed if it outlives the stop timeout.
func (c *Controller) StopBalancer(ctx context.Context) error {
	pid, ok := c.BalancerRunning()
	if !ok {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if !waitGone(pid, balancer.ShutdownTimeout+5*time.Second) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitGone(pid, 5*time.Second)
	}
	fmt.Fprintf(c.Out, "balancer stopped (was pid %d)\n", pid)
	return nil
}

// RollingRestart restarts instances one at a time behind the balancer:
// drain (no new requests), wait for its in-flight requests, restart, wait
// until it answers, put it back (its slow start begins), next. Users see
// no failed request. Without a running balancer it restarts them plainly.
func (c *Controller) RollingRestart(ctx context.Context, list []int) error {
	_, lbUp := c.BalancerRunning()
	for _, n := range list {
		name := strconv.Itoa(n)
		if lbUp {
			q := url.Values{"backend": {name}, "wait": {strconv.Itoa(int(c.Settings.StopTimeout.Seconds()))}}
			if err := c.adminPost(ctx, "drain", q); err != nil {
				fmt.Fprintf(c.Out, "instance %d: %v; restarting anyway\n", n, err)
			} else {
				fmt.Fprintf(c.Out, "instance %d drained\n", n)
			}
		}
		if err := c.StopOne(ctx, n); err != nil {
			return err
		}
		if err := c.StartOne(ctx, n); err != nil {
			return err
		}
		if lbUp {
			if err := c.adminPost(ctx, "undrain", url.Values{"backend": {name}}); err != nil {
				return err
			}
			fmt.Fprintf(c.Out, "instance %d back in the balancer (slow start %s)\n", n, c.Settings.Balancer.SlowStart)
		}
	}
	return nil
}
