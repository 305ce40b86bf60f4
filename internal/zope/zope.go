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
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
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
	outMu    sync.Mutex // Out is written from concurrent starts and stops
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
	if i := strings.LastIndex(s, ") "); i >= 0 && i+2 < len(s) && s[i+2] == 'Z' {
		// A zombie is gone, unless it leads a thread group whose other
		// threads are still exiting: they hold its files (a listening
		// port) until they are done.
		return threads(pid) > 1
	}
	return true
}

// threads is how many threads process pid has (0 when unknown).
func threads(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// zopectl runs bin/zopectl with args for instance n (n < 1: the vendor
// config, the single Zope of ZOPES=1); a failure is a *ZopectlError.
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
	if err := cmd.Run(); err != nil {
		return out.Bytes(), &ZopectlError{Args: args, Instance: max(n, 0), Config: conf, Home: c.Inst.Home, Err: err, Output: out.String()}
	}
	return out.Bytes(), nil
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

// PortError says a port zenpatch needs is taken: an instance's, or (with
// Instance 0) one the balancer listens on.
type PortError struct {
	Instance int    // 0: the balancer
	Addr     string // host:port
	Owner    string // "pid 123 (python3)" when known
	Source   string // the balancer's: where its address is set ("etc/zope.conf:25, zope.conf's HTTP address")
}

// Error implements error.
func (e *PortError) Error() string {
	who := ""
	if e.Owner != "" {
		who = " by " + e.Owner
	}
	what := fmt.Sprintf("Zope instance %d", e.Instance)
	if e.Instance == 0 {
		what = "the balancer (" + e.Source + ")"
	}
	s := fmt.Sprintf("port %s for %s is in use%s", e.Addr, what, who)
	if _, p, err := net.SplitHostPort(e.Addr); err == nil && e.Instance > 0 {
		lo, hi := EphemeralRange()
		if n, _ := strconv.Atoi(p); n >= lo && n <= hi {
			s += fmt.Sprintf(" (it lies in the kernel's ephemeral range %d-%d, which outgoing connections use: pick a base-port below %d)", lo, hi, lo)
		}
	}
	return s
}

// Hint is the next step.
func (e *PortError) Hint() string {
	if e.Instance == 0 {
		return "stop what holds the port (a Zope started by hand? 'zenpatch zope stop' stops zenpatch's own), or move the balancer with listen in the <balancer> section of " + install.SettingsPath + "; nothing was started"
	}
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
	Err    error  // the cause, when it is an error of its own (a *ZopectlError)
	Log    string // log path
	Tail   string
}

// Error implements error, in one line; Detail has the log's tail.
func (e *StartError) Error() string {
	return fmt.Sprintf("%s did not start: %s", e.What, e.Reason)
}

// Unwrap returns the cause.
func (e *StartError) Unwrap() error { return e.Err }

// Hint is the next step.
func (e *StartError) Hint() string {
	if e.Tail != "" {
		return "read the log lines above; nothing of this start was left running"
	}
	var h interface{ Hint() string }
	if errors.As(e.Err, &h) {
		return h.Hint()
	}
	if e.Log != "" {
		return "nothing of this start was left running; look in " + e.Log + " for why"
	}
	return "nothing of this start was left running"
}

// Detail is the cause's detail (zopectl's output) and the last lines of
// the log, to print after the error.
func (e *StartError) Detail() string {
	var parts []string
	var d interface{ Detail() string }
	if errors.As(e.Err, &d) && d.Detail() != "" {
		parts = append(parts, d.Detail())
	}
	if e.Tail != "" {
		parts = append(parts, fmt.Sprintf("last lines of %s:\n%s", e.Log, e.Tail))
	}
	return strings.Join(parts, "\n")
}

// InstancesError is several instances that did not start at once: one
// line for them all, each one's reason and log in Detail.
type InstancesError struct {
	Instances []int
	Errs      []error // Errs[i] is why Instances[i] did not start
}

// Error implements error, in one line.
func (e *InstancesError) Error() string {
	return fmt.Sprintf("Zope instances %s did not start; instance %d: %s", andList(e.Instances), e.Instances[0], reason(e.Errs[0]))
}

// Unwrap returns each instance's error.
func (e *InstancesError) Unwrap() []error { return e.Errs }

// Hint is the first instance's hint.
func (e *InstancesError) Hint() string {
	var h interface{ Hint() string }
	if errors.As(e.Errs[0], &h) {
		return h.Hint()
	}
	return ""
}

// Detail has every instance's reason, then its detail (log tail).
func (e *InstancesError) Detail() string {
	var b strings.Builder
	for i, err := range e.Errs {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "instance %d: %s", e.Instances[i], reason(err))
		var d interface{ Detail() string }
		if errors.As(err, &d) && d.Detail() != "" {
			b.WriteString("\n" + d.Detail())
		}
	}
	return b.String()
}

// reason is why an instance did not start, without "Zope instance N did
// not start".
func reason(err error) string {
	var se *StartError
	if errors.As(err, &se) {
		return se.Reason
	}
	return err.Error()
}

// joinStartErrors makes the errors of one start a single error: nil, the
// one error, or an *InstancesError.
func joinStartErrors(ns []int, errs []error) error {
	var fn []int
	var fe []error
	for i, err := range errs {
		if err != nil {
			fn, fe = append(fn, ns[i]), append(fe, err)
		}
	}
	switch len(fe) {
	case 0:
		return nil
	case 1:
		return fe[0]
	}
	return &InstancesError{Instances: fn, Errs: fe}
}

// andList writes 1, 2 and 3.
func andList(ns []int) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// ZopectlError is a bin/zopectl command that failed.
type ZopectlError struct {
	Args     []string // zopectl's arguments: "start"
	Instance int      // 0: the single Zope (zope.conf)
	Config   string   // the config file it ran with (absolute)
	Home     string   // ZENHOME
	Err      error    // from running it
	Output   string   // what it printed
}

// Error implements error, in one line: zopectl's last line of output.
func (e *ZopectlError) Error() string {
	last := ""
	if ls := outputLines(e.Output); len(ls) > 0 {
		last = ": " + strings.TrimSpace(ls[len(ls)-1])
	}
	return fmt.Sprintf("%s %s: %v%s", install.ZopectlPath, strings.Join(e.Args, " "), e.Err, last)
}

// Unwrap returns the cause.
func (e *ZopectlError) Unwrap() error { return e.Err }

// Detail is zopectl's whole output, when it is more than the line shown.
func (e *ZopectlError) Detail() string {
	ls := outputLines(e.Output)
	if len(ls) < 2 {
		return ""
	}
	return "bin/zopectl said:\n  " + strings.Join(ls, "\n  ")
}

// Hint is the next step: the same command by hand, with the same
// environment, shows what went wrong.
func (e *ZopectlError) Hint() string {
	cmd := e.Home + "/" + install.ZopectlPath + " " + strings.Join(e.Args, " ")
	if e.Instance > 0 {
		cmd = fmt.Sprintf("ZENPATCH_INSTANCE=%d ZENPATCH_CONFIG_FILE=%s %s", e.Instance, e.Config, cmd)
	}
	h := "run '" + cmd + "' by hand to see why"
	var ee *exec.ExitError
	if errors.As(e.Err, &ee) {
		switch ee.ExitCode() {
		case 127:
			h += "; exit status 127: a program it runs was not found (check PYTHON and ZDCTL in " + install.ZopectlPath + ")"
		case 126:
			h += "; exit status 126: a program it runs is not executable (check PYTHON and ZDCTL in " + install.ZopectlPath + ")"
		}
	}
	return h
}

// outputLines are the non-blank lines of a command's output or a log,
// their indentation (a traceback's) kept.
func outputLines(out string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if l = strings.TrimRight(l, " \t\r"); strings.TrimSpace(l) != "" {
			ls = append(ls, l)
		}
	}
	return ls
}

// tail is the last lines of the file at path written after its first
// from bytes (the size it had when a start began, so that lines of an
// earlier run are not shown as this one's), indented; "" when there are
// none.
func tail(path string, from int64, lines int) string {
	b, err := readRegular(path)
	if err != nil {
		return ""
	}
	if from > 0 && from <= int64(len(b)) {
		b = b[from:]
	}
	ls := outputLines(string(b))
	if len(ls) == 0 {
		return ""
	}
	if len(ls) > lines {
		ls = ls[len(ls)-lines:]
	}
	return "  " + strings.Join(ls, "\n  ")
}

// fileSize is the size of the file at path, 0 when it cannot be read.
func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	return fi.Size()
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

// InstanceProc is instance n's pid file, checked: a live pid counts as
// instance n only if its command line names n's derived config
// (var/zenpatch/instances/zope-N.conf, given to Zope as -C CONFIG).
func (c *Controller) InstanceProc(n int) Proc {
	zi := c.Instance(n)
	return readProc(zi.PidFile, "this Zope", func(_ int, args []string) bool {
		return namesConfig(args, zi.ConfigPath)
	})
}

// VendorProc is the single Zope of ZOPES=1 (zope.conf's pid file),
// checked: a live pid counts only if its command line names zope.conf.
func (c *Controller) VendorProc() Proc {
	return readProc(c.Conf.PidFile, "this Zope", func(_ int, args []string) bool {
		return namesConfig(args, path.Base(install.ZopeConfPath))
	})
}

// clearStale removes a pid file that names a live process other than its
// Zope, so that zopectl does not take that process for a running Zope;
// the process itself is left alone. A pid file outside ZENHOME is not
// touched: that is an error instead.
func (c *Controller) clearStale(what, pidFile string, p Proc) error {
	if p.Stale() == "" {
		return nil
	}
	rel, err := filepath.Rel(c.Inst.Home, pidFile)
	if err != nil || !filepath.IsLocal(rel) {
		return fmt.Errorf("%s: %s %s; remove it and start again", what, pidFile, p.Stale())
	}
	if err := c.Inst.Root.Remove(rel); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	c.printf("%s: removed the stale pid file %s (it named pid %d (%s), which is not %s; that process was left alone)\n", what, rel, p.PID, p.Comm, p.What)
	return nil
}

// StartOne starts instance n unless it runs; it waits until n answers.
// On failure n is stopped again, so nothing is left half-started.
func (c *Controller) StartOne(ctx context.Context, n int) error {
	zi := c.Instance(n)
	p := c.InstanceProc(n)
	if p.Running() {
		c.printf("instance %d already running (pid %d, port %d)\n", n, p.PID, zi.Port)
		return nil
	}
	if err := checkPorts(zi); err != nil {
		return err
	}
	if err := c.clearStale(fmt.Sprintf("instance %d", n), zi.PidFile, p); err != nil {
		return err
	}
	zi, err := c.Inst.WriteInstanceConfig(c.Conf, n, c.Settings.BasePort)
	if err != nil {
		return err
	}
	logFrom := fileSize(zi.EventLog)
	_, err = c.zopectl(ctx, n, "start")
	if err == nil {
		err = c.waitUp(ctx, n)
	}
	if err != nil {
		_ = c.StopOne(context.WithoutCancel(ctx), n)
		se := &StartError{What: fmt.Sprintf("Zope instance %d", n), Reason: err.Error(), Log: zi.EventLog, Tail: tail(zi.EventLog, logFrom, 10)}
		var ze *ZopectlError
		if errors.As(err, &ze) {
			se.Err = ze
		}
		return se
	}
	c.printf("instance %d started (pid %d, port %d)\n", n, c.InstanceProc(n).PID, zi.Port)
	return nil
}

func (c *Controller) waitUp(ctx context.Context, n int) error {
	zi := c.Instance(n)
	ctx, cancel := context.WithTimeout(ctx, c.Settings.StartTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	sawPid := false
	for {
		p := c.InstanceProc(n)
		if p.PID > 0 {
			sawPid = true
		}
		if sawPid && !p.Alive {
			return errors.New("the process exited")
		}
		if p.Running() && c.Answers(ctx, zi) {
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
// stop-timeout is killed. Nothing of n runs afterwards. A pid file that
// names another process is left alone, and so is that process.
func (c *Controller) StopOne(ctx context.Context, n int) error {
	p := c.InstanceProc(n)
	if !p.Running() {
		if s := p.Stale(); s != "" {
			c.printf("instance %d: %s; left alone\n", n, s)
		}
		return nil
	}
	pid := p.PID
	if c.patched() {
		_, _ = c.zopectl(ctx, n, "stop")
	} else {
		// The vendor's zopectl (after an upgrade) knows no instances:
		// stop the process as zdaemon would, with SIGTERM.
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	if waitGone(pid, c.Settings.StopTimeout) {
		c.printf("instance %d stopped (was pid %d)\n", n, pid)
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if !waitGone(pid, 5*time.Second) {
		return fmt.Errorf("instance %d (pid %d) does not stop, even with SIGKILL", n, pid)
	}
	c.printf("instance %d killed after %s (was pid %d)\n", n, c.Settings.StopTimeout, pid)
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

// StartAll starts every instance 1..ZOPES that is not running, after
// stopping surplus instances (ZOPES lowered) and a single vendor-mode Zope
// (ZOPES raised from 1). Before anything starts it checks the instances'
// ports and, unless the balancer runs or is off, that the balancer can
// start (its addresses free, its admin socket's path usable). If an
// instance fails, the ones this call started are stopped again.
func (c *Controller) StartAll(ctx context.Context) error {
	_, err := c.startInstances(ctx)
	return err
}

// startInstances is StartAll; it returns the instances it started.
func (c *Controller) startInstances(ctx context.Context) ([]int, error) {
	if err := c.StopSurplus(ctx); err != nil {
		return nil, err
	}
	if !c.Multi() {
		return nil, c.startVendor(ctx)
	}
	var todo []int
	for n := 1; n <= c.Zopes; n++ {
		if c.InstanceProc(n).Running() {
			continue
		}
		if err := checkPorts(c.Instance(n)); err != nil {
			return nil, err
		}
		todo = append(todo, n)
	}
	vendor := c.VendorProc()
	single := 0 // the single Zope's pid: it holds the HTTP port until it stops
	if vendor.Running() {
		single = vendor.PID
	}
	if err := c.checkFront(single); err != nil {
		return nil, err
	}
	if single > 0 {
		c.printf("stopping the single Zope (pid %d): ZOPES=%d instances take over\n", single, c.Zopes)
		_, _ = c.zopectl(ctx, -1, "stop")
		if !waitGone(single, c.Settings.StopTimeout) {
			return nil, fmt.Errorf("the single Zope (pid %d) did not stop; stop it and try again", single)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(todo))
	for i, n := range todo {
		wg.Go(func() { errs[i] = c.StartOne(ctx, n) })
	}
	wg.Wait()
	if err := joinStartErrors(todo, errs); err != nil {
		for i, n := range todo {
			if errs[i] == nil {
				_ = c.StopOne(context.WithoutCancel(ctx), n)
			}
		}
		return nil, err
	}
	for n := 1; n <= c.Zopes; n++ {
		if !slices.Contains(todo, n) {
			c.printf("instance %d already running (pid %d, port %d)\n", n, c.InstanceProc(n).PID, c.Instance(n).Port)
		}
	}
	return todo, nil
}

// startVendor runs the single Zope the vendor's way (ZOPES=1).
func (c *Controller) startVendor(ctx context.Context) error {
	p := c.VendorProc()
	if p.Running() {
		c.printf("Zope already running (pid %d)\n", p.PID)
		return nil
	}
	if err := c.clearStale("the single Zope", c.Conf.PidFile, p); err != nil {
		return err
	}
	out, err := c.zopectl(ctx, -1, "start")
	if err != nil {
		return err
	}
	c.print(string(out))
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
		if c.InstanceProc(n).Running() {
			c.printf("instance %d is surplus (ZOPES=%d): stopping it\n", n, c.Zopes)
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
	p := c.VendorProc()
	if p.Running() {
		_, _ = c.zopectl(ctx, -1, "stop")
		if !waitGone(p.PID, c.Settings.StopTimeout) {
			_ = syscall.Kill(p.PID, syscall.SIGKILL)
		}
		c.printf("Zope stopped (was pid %d)\n", p.PID)
	} else if s := p.Stale(); s != "" {
		c.printf("the single Zope: %s; left alone\n", s)
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
	Surplus bool          `json:"surplus"`         // above ZOPES
	Stale   string        `json:"stale,omitempty"` // the pid file names another process (Proc.Stale)
}

// StatusAll reports every known instance.
func (c *Controller) StatusAll(ctx context.Context) []Status {
	var out []Status
	for _, n := range c.Known() {
		zi := c.Instance(n)
		s := Status{N: n, Port: zi.Port, Surplus: n > c.Zopes || !c.Multi()}
		p := c.InstanceProc(n)
		s.Running, s.Stale = p.Running(), p.Stale()
		if s.Running {
			s.PID = p.PID
			s.Answers = c.Answers(ctx, zi)
			if fi, err := os.Stat(zi.PidFile); err == nil {
				s.Uptime = time.Since(fi.ModTime()).Truncate(time.Second)
			}
		}
		out = append(out, s)
	}
	return out
}

// VendorStatus reports the single Zope of ZOPES=1 (pid 0: not running).
func (c *Controller) VendorStatus() (int, bool) {
	p := c.VendorProc()
	if !p.Running() {
		return 0, false
	}
	return p.PID, true
}

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

// printf and print write one progress line to Out; starts and
// stops run concurrently, and Out may be any writer.
func (c *Controller) printf(format string, a ...any) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	fmt.Fprintf(c.Out, format, a...)
}

func (c *Controller) print(a ...any) {
	c.outMu.Lock()
	defer c.outMu.Unlock()
	fmt.Fprint(c.Out, a...)
}
