// Package zope runs the Zope instances of a patched Zenoss install: it
// derives each instance's config, starts it through the install's own
// bin/zopectl (so the vendor code path does the work), waits until it
// answers HTTP, stops it leaving nothing behind, and reports its state.
package zope

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/zenpatch/zenpatch/internal/install"
)

// Controller manages one install's instances.
type Controller struct {
	Inst     *install.Install
	Conf     *install.ZopeConf
	Settings *install.Settings
	Zopes    int       // ZOPES from bin/zopectl (1 when unpatched)
	Out      io.Writer // progress, one line per event
	Env      []string  // environment for zopectl and the balancer; nil: this process's
	Self     Self      // how to run zenpatch itself (the balancer daemon)
	client   *http.Client
}

// Self is how to start this program again: its executable and the name it
// was called by (os.Args[0]).
type Self struct {
	Exe, Argv0 string
}

// New reads zope.conf, etc/zenpatch.conf and ZOPES.
func New(inst *install.Install, out io.Writer) (*Controller, error) {
	zc, err := inst.ReadZopeConf()
	if err != nil {
		return nil, err
	}
	st, err := inst.ReadSettings(zc)
	if err != nil {
		return nil, err
	}
	zopectl, err := inst.ReadFile(install.ZopectlPath)
	if err != nil {
		return nil, err
	}
	n := install.Zopes(zopectl)
	if n < 1 {
		n = 1
	}
	if len(zc.HTTP) > 1 && n > install.ListenerStride {
		return nil, fmt.Errorf("ZOPES=%d in %s, and %s has %d <http-server> sections: with more than one, ZOPES is at most %d (each listener gets a block of %d instance ports)", n, install.ZopectlPath, install.ZopeConfPath, len(zc.HTTP), install.ListenerStride, install.ListenerStride)
	}
	if out == nil {
		out = io.Discard
	}
	exe, _ := os.Executable()
	return &Controller{Inst: inst, Conf: zc, Settings: st, Zopes: n, Out: out,
		Self:   Self{Exe: exe, Argv0: os.Args[0]},
		client: &http.Client{Timeout: 2 * time.Second}}, nil
}

// Multi reports whether ZOPES > 1 (instances behind the balancer).
func (c *Controller) Multi() bool { return c.Zopes > 1 }

// Instance derives instance n (without writing its config).
func (c *Controller) Instance(n int) install.Instance {
	zi, _ := install.DeriveInstance(c.Conf, n, c.Settings.BasePort)
	return zi
}

// Known lists the instance numbers zenpatch has configs for (started at
// some time), together with 1..ZOPES when Multi.
func (c *Controller) Known() []int {
	seen := map[int]bool{}
	if c.Multi() {
		for i := 1; i <= c.Zopes; i++ {
			seen[i] = true
		}
	}
	entries, _ := readDirNames(c.Inst, install.InstanceDir)
	for _, e := range entries {
		if m := instanceConfRe.FindStringSubmatch(e); m != nil {
			n, _ := strconv.Atoi(m[1])
			seen[n] = true
		}
	}
	var out []int
	for n := range seen {
		out = append(out, n)
	}
	sort.Ints(out)
	return out
}

// instanceConfRe matches the derived configs' names: zope-N.conf.
var instanceConfRe = regexp.MustCompile(`^zope-([0-9]+)\.conf$`)

func readDirNames(inst *install.Install, dir string) ([]string, error) {
	f, err := inst.Root.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Readdirnames(-1)
}

// PID reads a pid file and says whether that process is alive.
func PID(pidFile string) (int, bool) {
	b, err := readRegular(pidFile)
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	return pid, Alive(pid)
}

// Alive reports whether pid runs (and is not a zombie).
func Alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	if i := strings.LastIndex(s, ") "); i >= 0 && i+2 < len(s) {
		return s[i+2] != 'Z'
	}
	return true
}

// zopectl runs bin/zopectl with args for instance n (n < 1: the vendor
// config, the single Zope of ZOPES=1).
func (c *Controller) zopectl(ctx context.Context, n int, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, c.Inst.Abs(install.ZopectlPath), args...)
	env := c.Env
	if env == nil {
		env = os.Environ()
	}
	env = withoutVars(env, "ZENPATCH_INSTANCE", "ZENPATCH_CONFIG_FILE")
	// ZENPATCH_INSTANCE is always set, so a patched zopectl never calls
	// back into zenpatch from here: 0 is the vendor config (zope.conf).
	conf := c.Inst.Abs(install.ZopeConfPath)
	if n > 0 {
		conf = c.Inst.Abs(c.Instance(n).ConfigPath)
	}
	env = append(env, "ZENPATCH_INSTANCE="+strconv.Itoa(max(n, 0)), "ZENPATCH_CONFIG_FILE="+conf)
	cmd.Env = env
	cmd.Dir = c.Inst.Home
	cmd.WaitDelay = 5 * time.Second
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

func withoutVars(env []string, names ...string) []string {
	var out []string
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// PortError says an instance's port is taken.
type PortError struct {
	Instance int
	Addr     string
	Owner    string // "pid 123 (python3)" when known
}

// Error implements error.
func (e *PortError) Error() string {
	who := ""
	if e.Owner != "" {
		who = " by " + e.Owner
	}
	s := fmt.Sprintf("port %s for Zope instance %d is in use%s", e.Addr, e.Instance, who)
	if _, p, err := net.SplitHostPort(e.Addr); err == nil {
		lo, hi := EphemeralRange()
		if n, _ := strconv.Atoi(p); n >= lo && n <= hi {
			s += fmt.Sprintf(" (it lies in the kernel's ephemeral range %d-%d, which outgoing connections use: pick a base-port below %d)", lo, hi, lo)
		}
	}
	return s
}

// Hint is the next step.
func (e *PortError) Hint() string {
	return "stop what holds the port, or move the instances with base-port in " + install.SettingsPath
}

// checkPorts fails when something listens on one of the instance's ports.
func checkPorts(zi install.Instance) error {
	for _, l := range zi.Listeners {
		if err := checkFree(zi.N, l.Host, l.Port); err != nil {
			return err
		}
	}
	return nil
}

// checkFree fails when something listens on an instance's port.
func checkFree(n int, host string, port int) error {
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err == nil {
		return l.Close()
	}
	return &PortError{Instance: n, Addr: addr, Owner: PortOwner(port)}
}

// StartError is an instance (or the balancer) that did not come up, with
// the tail of its log.
type StartError struct {
	What   string // "Zope instance 2", "the balancer"
	Reason string
	Log    string // log path
	Tail   string
}

// Error implements error, in one line; Detail has the log's tail.
func (e *StartError) Error() string {
	return fmt.Sprintf("%s did not start: %s", e.What, e.Reason)
}

// Hint is the next step.
func (e *StartError) Hint() string {
	return "read the log lines above; nothing of this start was left running"
}

// Detail is the last lines of the log, to print after the error.
func (e *StartError) Detail() string {
	if e.Tail == "" {
		return ""
	}
	return fmt.Sprintf("last lines of %s:\n%s", e.Log, e.Tail)
}

func tail(path string, lines int) string {
	b, err := readRegular(path)
	if err != nil {
		return ""
	}
	ls := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return "  " + strings.Join(ls, "\n  ")
}

// Answers reports whether the instance answers HTTP (any status < 500).
func (c *Controller) Answers(ctx context.Context, zi install.Instance) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+zi.Addr()+c.Settings.HealthPath, nil)
	if err != nil {
		return false
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode < 500
}

// StartOne starts instance n unless it runs; it waits until n answers.
// On failure n is stopped again, so nothing is left half-started.
func (c *Controller) StartOne(ctx context.Context, n int) error {
	zi, err := c.Inst.WriteInstanceConfig(c.Conf, n, c.Settings.BasePort)
	if err != nil {
		return err
	}
	if pid, ok := PID(zi.PidFile); ok {
		fmt.Fprintf(c.Out, "instance %d already running (pid %d, port %d)\n", n, pid, zi.Port)
		return nil
	}
	if err := checkPorts(zi); err != nil {
		return err
	}
	out, err := c.zopectl(ctx, n, "start")
	if err == nil {
		err = c.waitUp(ctx, zi)
	} else {
		err = fmt.Errorf("zopectl start exited: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if err != nil {
		_ = c.StopOne(context.WithoutCancel(ctx), n)
		return &StartError{What: fmt.Sprintf("Zope instance %d", n), Reason: err.Error(), Log: zi.EventLog, Tail: tail(zi.EventLog, 10)}
	}
	pid, _ := PID(zi.PidFile)
	fmt.Fprintf(c.Out, "instance %d started (pid %d, port %d)\n", n, pid, zi.Port)
	return nil
}

func (c *Controller) waitUp(ctx context.Context, zi install.Instance) error {
	ctx, cancel := context.WithTimeout(ctx, c.Settings.StartTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	sawPid := false
	for {
		pid, alive := PID(zi.PidFile)
		if pid > 0 {
			sawPid = true
		}
		if sawPid && !alive {
			return errors.New("the process exited")
		}
		if alive && c.Answers(ctx, zi) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no HTTP answer on %s within %s (start-timeout in %s)", zi.Addr(), c.Settings.StartTimeout, install.SettingsPath)
		case <-tick.C:
		}
	}
}

// StopOne stops instance n through zopectl; a process that outlives
// stop-timeout is killed. Nothing of n runs afterwards.
func (c *Controller) StopOne(ctx context.Context, n int) error {
	zi := c.Instance(n)
	pid, alive := PID(zi.PidFile)
	if !alive {
		return nil
	}
	if c.patched() {
		_, _ = c.zopectl(ctx, n, "stop")
	} else {
		// The vendor's zopectl (after an upgrade) knows no instances:
		// stop the process as zdaemon would, with SIGTERM.
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	if waitGone(pid, c.Settings.StopTimeout) {
		fmt.Fprintf(c.Out, "instance %d stopped (was pid %d)\n", n, pid)
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if !waitGone(pid, 5*time.Second) {
		return fmt.Errorf("instance %d (pid %d) does not stop, even with SIGKILL", n, pid)
	}
	fmt.Fprintf(c.Out, "instance %d killed after %s (was pid %d)\n", n, c.Settings.StopTimeout, pid)
	return nil
}

func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !Alive(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return !Alive(pid)
}

// patched reports whether bin/zopectl has the multi-Zope patch (a ZOPES
// line), i.e. whether it honours ZENPATCH_INSTANCE.
func (c *Controller) patched() bool {
	data, err := c.Inst.ReadFile(install.ZopectlPath)
	return err == nil && install.Zopes(data) > 0
}

// vendorPid is the single, unpatched Zope's pid (zope.conf's pid file).
func (c *Controller) vendorPid() (int, bool) { return PID(c.Conf.PidFile) }

// StartAll starts every instance 1..ZOPES that is not running, after
// stopping surplus instances (ZOPES lowered) and a single vendor-mode Zope
// (ZOPES raised from 1). Ports are checked before anything starts; if an
// instance fails, the ones this call started are stopped again.
func (c *Controller) StartAll(ctx context.Context) error {
	if err := c.StopSurplus(ctx); err != nil {
		return err
	}
	if !c.Multi() {
		return c.startVendor(ctx)
	}
	if pid, ok := c.vendorPid(); ok {
		fmt.Fprintf(c.Out, "stopping the single Zope (pid %d): ZOPES=%d instances take over\n", pid, c.Zopes)
		_, _ = c.zopectl(ctx, -1, "stop")
		if !waitGone(pid, c.Settings.StopTimeout) {
			return fmt.Errorf("the single Zope (pid %d) did not stop; stop it and try again", pid)
		}
	}
	var todo []int
	for n := 1; n <= c.Zopes; n++ {
		zi := c.Instance(n)
		if _, ok := PID(zi.PidFile); ok {
			continue
		}
		if err := checkPorts(zi); err != nil {
			return err
		}
		todo = append(todo, n)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(todo))
	for i, n := range todo {
		wg.Go(func() { errs[i] = c.StartOne(ctx, n) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		for i, n := range todo {
			if errs[i] == nil {
				_ = c.StopOne(context.WithoutCancel(ctx), n)
			}
		}
		return err
	}
	for n := 1; n <= c.Zopes; n++ {
		if !slices.Contains(todo, n) {
			pid, _ := PID(c.Instance(n).PidFile)
			fmt.Fprintf(c.Out, "instance %d already running (pid %d, port %d)\n", n, pid, c.Instance(n).Port)
		}
	}
	return nil
}

// startVendor runs the single Zope the vendor's way (ZOPES=1).
func (c *Controller) startVendor(ctx context.Context) error {
	if pid, ok := c.vendorPid(); ok {
		fmt.Fprintf(c.Out, "Zope already running (pid %d)\n", pid)
		return nil
	}
	out, err := c.zopectl(ctx, -1, "start")
	if err != nil {
		return fmt.Errorf("zopectl start: %v: %s", err, strings.TrimSpace(string(out)))
	}
	fmt.Fprint(c.Out, string(out))
	return nil
}

// StopSurplus stops instances numbered above ZOPES (all of them when
// ZOPES=1) and removes their configs.
func (c *Controller) StopSurplus(ctx context.Context) error {
	limit := c.Zopes
	if !c.Multi() {
		limit = 0
	}
	for _, n := range c.Known() {
		if n <= limit {
			continue
		}
		if _, ok := PID(c.Instance(n).PidFile); ok {
			fmt.Fprintf(c.Out, "instance %d is surplus (ZOPES=%d): stopping it\n", n, c.Zopes)
		}
		if err := c.StopOne(ctx, n); err != nil {
			return err
		}
		_ = c.Inst.Root.Remove(c.Instance(n).ConfigPath)
	}
	return nil
}

// StopAll stops every instance zenpatch knows, and a vendor-mode Zope.
func (c *Controller) StopAll(ctx context.Context) error {
	var errs []error
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, n := range c.Known() {
		wg.Go(func() {
			if err := c.StopOne(ctx, n); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if pid, ok := c.vendorPid(); ok {
		_, _ = c.zopectl(ctx, -1, "stop")
		if !waitGone(pid, c.Settings.StopTimeout) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		fmt.Fprintf(c.Out, "Zope stopped (was pid %d)\n", pid)
	}
	return errors.Join(errs...)
}

// Status is one instance's live state.
type Status struct {
	N       int           `json:"instance"`
	Port    int           `json:"port"`
	PID     int           `json:"pid"` // 0: not running
	Running bool          `json:"running"`
	Answers bool          `json:"answers_http"`
	Uptime  time.Duration `json:"uptime_ns"`
	Surplus bool          `json:"surplus"` // above ZOPES
}

// StatusAll reports every known instance.
func (c *Controller) StatusAll(ctx context.Context) []Status {
	var out []Status
	for _, n := range c.Known() {
		zi := c.Instance(n)
		s := Status{N: n, Port: zi.Port, Surplus: n > c.Zopes || !c.Multi()}
		s.PID, s.Running = PID(zi.PidFile)
		if s.Running {
			s.Answers = c.Answers(ctx, zi)
			if fi, err := os.Stat(zi.PidFile); err == nil {
				s.Uptime = time.Since(fi.ModTime()).Truncate(time.Second)
			}
		} else {
			s.PID = 0
		}
		out = append(out, s)
	}
	return out
}

// VendorStatus reports the single Zope of ZOPES=1 (pid 0: not running).
func (c *Controller) VendorStatus() (int, bool) { return c.vendorPid() }

// readRegular reads a file that must be a regular one (a pid file, a
// log), opened non-blocking, so that a FIFO in its place cannot hang
// zenpatch.
func readRegular(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", path)
	}
	return io.ReadAll(io.LimitReader(f, 64<<20))
}
