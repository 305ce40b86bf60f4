package zope

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zenpatch/zenpatch/internal/balancer"
	"github.com/zenpatch/zenpatch/internal/frontend"
	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/txn"
)

// Files of the balancer daemon, relative to ZENHOME.
const (
	AdminSocket = install.StateDir + "/balancer.sock"
	BalancerPid = install.StateDir + "/balancer.pid"
	BalancerLog = "log/zenpatch-balancer.log"
	// SpoolDir holds the balancer's spool files: request and response
	// bodies too big for memory, each unlinked as soon as it is made.
	SpoolDir = install.StateDir + "/spool"
)

// BackendSpecs are the instances as balancer backends (cap =
// zserver-threads), with an address for each <http-server> of zope.conf.
func (c *Controller) BackendSpecs() []balancer.BackendSpec {
	var out []balancer.BackendSpec
	for n := 1; n <= c.Zopes; n++ {
		zi := c.Instance(n)
		spec := balancer.BackendSpec{Name: strconv.Itoa(n), Addr: zi.Addr(), Cap: c.Conf.Threads}
		for k := 1; k < len(zi.Listeners); k++ {
			spec.Extra = append(spec.Extra, zi.AddrOf(k))
		}
		out = append(out, spec)
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

// ListenAddrs are every address the balancer listens on: ListenAddr, then
// the addresses of zope.conf's further <http-server> sections.
func (c *Controller) ListenAddrs() []string {
	out := []string{c.ListenAddr()}
	for _, l := range c.Conf.HTTP[1:] {
		out = append(out, l.Address())
	}
	return out
}

// BalancerConfig is the balancer's configuration from etc/zenpatch.conf,
// with the balancer's defaults for every key not given.
func (c *Controller) BalancerConfig() balancer.Config {
	bs := c.Settings.Balancer
	return balancer.Config{
		SlowStart: bs.SlowStart, QueueSize: bs.QueueSize, QueueTimeout: bs.QueueTimeout,
		HealthPath: c.Settings.HealthPath, HealthInterval: bs.HealthInterval,
		Rise: bs.Rise, Fall: bs.Fall, Affinity: bs.Affinity, Keys: bs.ObjectAffinity.Config(),
	}.WithDefaults()
}

// BalancerProc is the balancer daemon's pid file, checked: a live pid
// counts as the balancer only while the pid file is locked (the daemon
// holds an flock on it for its whole life), or, for a balancer started by
// a zenpatch from before that lock, when its command line is "… balance
// --zenhome DIR" with DIR this ZENHOME.
func (c *Controller) BalancerProc() Proc {
	file := c.Inst.Abs(BalancerPid)
	return readProc(file, "the balancer", func(_ int, args []string) bool {
		return Locked(file) || c.balanceArgs(args)
	})
}

// balanceArgs reports whether args are StartBalancer's command line for
// this install: ARGV0 balance --zenhome HOME.
func (c *Controller) balanceArgs(args []string) bool {
	if len(args) < 3 || args[1] != "balance" {
		return false
	}
	for i, a := range args[2:] {
		dir, ok := strings.CutPrefix(a, "--zenhome=")
		if !ok && a == "--zenhome" && i+3 < len(args) {
			dir, ok = args[i+3], true
		}
		if ok {
			return sameDir(dir, c.Inst.Home)
		}
	}
	return false
}

// sameDir reports whether a and b are the same directory (through
// symlinks).
func sameDir(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return false
	}
	fb, err := os.Stat(b)
	return err == nil && os.SameFile(fa, fb)
}

// BalancerRunning returns the balancer daemon's pid when it runs.
func (c *Controller) BalancerRunning() (int, bool) {
	p := c.BalancerProc()
	if !p.Running() {
		return 0, false
	}
	return p.PID, true
}

// AlreadyRunningError says a balancer already runs for the install.
type AlreadyRunningError struct{ PID int }

// Error implements error.
func (e *AlreadyRunningError) Error() string {
	return fmt.Sprintf("a balancer already runs for this install (pid %d holds the lock on %s)", e.PID, BalancerPid)
}

// Hint is the next step.
func (e *AlreadyRunningError) Hint() string {
	return "'zenpatch zope status' shows it; 'zenpatch zope stop' stops it"
}

// lockPidFile takes the balancer's pid file for this process: an flock
// held until the returned file is closed (the kernel drops it when the
// process ends, however it ends), and this process's pid in it. A status
// probe (Locked) holds the lock for an instant, so a taken lock is tried
// again for two seconds before it means another balancer.
func (c *Controller) lockPidFile() (*os.File, error) {
	if err := c.Inst.Root.MkdirAll(install.StateDir, 0o755); err != nil {
		return nil, err
	}
	f, err := c.Inst.Root.OpenFile(BalancerPid, os.O_RDWR|os.O_CREATE|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = &FileKindError{Path: BalancerPid, Mode: fi.Mode(), Want: "the balancer's pid file"}
		}
		return nil, err
	}
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", BalancerPid, err)
		}
		if time.Now().After(deadline) {
			pid, _ := PID(c.Inst.Abs(BalancerPid))
			f.Close()
			return nil, &AlreadyRunningError{PID: pid}
		}
	}
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("write %s: %w", BalancerPid, err)
	}
	return f, nil
}

// FileKindError says a path zenpatch keeps a file of its own at holds
// something else.
type FileKindError struct {
	Path string      // relative to ZENHOME
	Mode fs.FileMode // what is there
	Want string      // what belongs there: "the balancer's admin socket"
}

// Error implements error.
func (e *FileKindError) Error() string {
	return fmt.Sprintf("%s is %s, not %s", e.Path, txn.KindOf(e.Mode), e.Want)
}

// Hint is the next step.
func (e *FileKindError) Hint() string {
	return "move it away or remove it (zenpatch keeps " + e.Want + " there), then run the command again; nothing was started"
}

// checkAdminSocket fails when the admin socket's path holds anything but
// a socket (a stale socket is replaced when the balancer starts).
func (c *Controller) checkAdminSocket() error {
	fi, err := c.Inst.Root.Lstat(AdminSocket)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return &FileKindError{Path: AdminSocket, Mode: fi.Mode(), Want: "the balancer's admin socket"}
	}
	return nil
}

// listenSources says where each of ListenAddrs is set, for messages.
func (c *Controller) listenSources() []string {
	var out []string
	for i, l := range c.Conf.HTTP {
		src := fmt.Sprintf("%s, zope.conf's HTTP address", l.Pos)
		if i == 0 && c.Settings.Balancer.Listen != "" {
			src = "listen in " + install.SettingsPath + "'s <balancer>"
		}
		out = append(out, src)
	}
	return out
}

// checkFront checks, unless the balancer is off or runs, that it can
// start: its addresses are free (or held by the single Zope with pid
// single, which stops before the balancer starts), its admin socket's
// path is free for a socket and its log is a file.
func (c *Controller) checkFront(single int) error {
	if c.Settings.BalancerOff {
		return nil
	}
	if _, ok := c.BalancerRunning(); ok {
		return nil
	}
	if err := c.checkAdminSocket(); err != nil {
		return err
	}
	if fi, err := os.Stat(c.Inst.Abs(BalancerLog)); err == nil && !fi.Mode().IsRegular() {
		return &FileKindError{Path: BalancerLog, Mode: fi.Mode(), Want: "the balancer's log"}
	}
	src := c.listenSources()
	for i, addr := range c.ListenAddrs() {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
			continue
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			return &ListenError{Addr: addr, Source: src[i], Err: err}
		}
		port := 0
		if _, p, err := net.SplitHostPort(addr); err == nil {
			port, _ = strconv.Atoi(p)
		}
		pid, owner := portOwner(port)
		if single > 0 && pid == single {
			continue
		}
		return &PortError{Addr: addr, Owner: owner, Source: src[i]}
	}
	return nil
}

// Admin is a client of the running balancer's admin API.
func (c *Controller) Admin() *balancer.AdminClient {
	return balancer.NewAdminClient(c.Inst.Abs(AdminSocket))
}

// ListenError says the balancer could not take its address.
type ListenError struct {
	Addr   string
	Source string // where the address is set; "" for zope.conf's HTTP address
	Err    error
}

// Error implements error.
func (e *ListenError) Error() string {
	src := e.Source
	if src == "" {
		src = "zope.conf's HTTP address"
	}
	return fmt.Sprintf("listen on %s (%s): %v", e.Addr, src, e.Err)
}

// Unwrap returns the cause.
func (e *ListenError) Unwrap() error { return e.Err }

// Hint is the next step.
func (e *ListenError) Hint() string {
	return "is a single Zope still running on it? 'zenpatch zope stop' stops everything"
}

// SingleError says ZOPES is 1: one Zope serves the HTTP address itself.
type SingleError struct{ Zopes int }

// Error implements error.
func (e *SingleError) Error() string {
	return fmt.Sprintf("ZOPES=%d in %s: one Zope serves the HTTP address itself, nothing to balance", e.Zopes, install.ZopectlPath)
}

// Hint is the next step.
func (e *SingleError) Hint() string {
	return "raise ZOPES with 'zenpatch apply --zopes N', or run standalone with --listen and --backends"
}

// Serve runs the install's balancer in the foreground until ctx ends (then
// gracefully): settings from etc/zenpatch.conf, overridden by the non-zero
// fields of over (command-line flags; Affinity if set); at most procs CPUs
// (0: the procs setting, else the balancer's default). It listens on
// ListenAddr, answers its admin API on AdminSocket, keeps its pid in
// BalancerPid, and re-reads the backends on SIGHUP (after ZOPES changed)
// keeping connections and state.
func (c *Controller) Serve(ctx context.Context, over balancer.Config, procs int, log *slog.Logger) error {
	if !c.Multi() {
		return &SingleError{Zopes: c.Zopes}
	}
	cfg := c.BalancerConfig().Override(over)
	cfg.Logger = log
	cfg.SpoolDir = c.Inst.Abs(SpoolDir)
	lb, err := balancer.New(cfg, c.BackendSpecs())
	if err != nil {
		return err
	}
	if err := c.CheckPortPlan(); err != nil {
		return err
	}
	// The pid file first: a second balancer stops here, before it
	// touches the first one's admin socket.
	pidf, err := c.lockPidFile()
	if err != nil {
		return err
	}
	defer pidf.Close() // drops the lock, after the pid file is removed
	defer func() {
		if pid, _ := PID(c.Inst.Abs(BalancerPid)); pid == os.Getpid() {
			_ = c.Inst.Root.Remove(BalancerPid)
		}
	}()
	if err := c.checkAdminSocket(); err != nil {
		return err
	}
	var ls []net.Listener
	closeAll := func() {
		for _, l := range ls {
			l.Close()
		}
	}
	src := c.listenSources()
	for i, addr := range c.ListenAddrs() {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			closeAll()
			return &ListenError{Addr: addr, Source: src[i], Err: err}
		}
		ls = append(ls, l)
	}
	adm, err := balancer.ListenAdmin(c.Inst.Abs(AdminSocket))
	if err != nil {
		closeAll()
		return err
	}
	ls = append(ls, adm)
	defer func() { _ = c.Inst.Root.Remove(AdminSocket) }()
	go c.reloadOnHUP(ctx, lb, log)
	if procs == 0 {
		procs = c.Settings.Balancer.Procs
	}
	nofile := balancer.RaiseOpenFileLimit(log)
	log.Info("balancing", "listen", strings.Join(c.ListenAddrs(), ","), "zopes", c.Zopes, "cap", c.Conf.Threads, "procs", balancer.StartProcs(ctx, log, procs), "runtime", balancer.RuntimeTuning(), "admin", AdminSocket, "nofile", nofile)
	return (&balancer.Server{LB: lb, Public: ls[0], Extra: ls[1 : len(ls)-1], Admin: adm}).Run(ctx)
}

// reloadOnHUP re-reads the backends (ZOPES, ports) on every SIGHUP until
// ctx ends; a failed reload keeps the old backends.
func (c *Controller) reloadOnHUP(ctx context.Context, lb *balancer.Balancer, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			fresh, err := New(c.Inst, nil)
			if err == nil {
				err = lb.SetBackends(fresh.BackendSpecs())
			}
			if err != nil {
				log.Error("reload failed; keeping the old backends", "err", err)
				continue
			}
			log.Info("reloaded backends", "backends", len(lb.Status().Backends))
		}
	}
}

// StartBalancer starts the balancer daemon (zenpatch balance) unless it
// runs, and waits until its admin API answers. A running one is told to
// re-read its backends.
func (c *Controller) StartBalancer(ctx context.Context) error {
	if pid, ok := c.BalancerRunning(); ok {
		c.printf("balancer already running (pid %d, %s)\n", pid, c.ListenAddr())
		return syscall.Kill(pid, syscall.SIGHUP)
	}
	logFrom := fileSize(c.Inst.Abs(BalancerLog))
	logf, err := os.OpenFile(c.Inst.Abs(BalancerLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	exe, argv0 := c.Self.Exe, c.Self.Argv0
	cmd := &exec.Cmd{Path: exe, Args: []string{argv0, "balance", "--zenhome", c.Inst.Home},
		Stdout: logf, Stderr: logf, Dir: c.Inst.Home, Env: c.Env,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true}}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.After(15 * time.Second)
	admin := c.Admin()
	for {
		if _, err := admin.Status(ctx); err == nil {
			c.printf("balancer started (pid %d) on %s → %d instances\n", cmd.Process.Pid, strings.Join(c.ListenAddrs(), " and "), c.Zopes)
			return nil
		}
		select {
		case err := <-exited:
			return &StartError{What: "the balancer", Reason: fmt.Sprintf("it exited at start (%v)", err), Log: BalancerLog, Tail: tail(c.Inst.Abs(BalancerLog), logFrom, 5)}
		case <-deadline:
			_ = cmd.Process.Kill()
			return &StartError{What: "the balancer", Reason: "its admin API did not answer on " + AdminSocket + " within 15s", Log: BalancerLog, Tail: tail(c.Inst.Abs(BalancerLog), logFrom, 5)}
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// StopBalancer stops the balancer gracefully (SIGTERM: in-flight requests
// finish); it is killed if it outlives the stop timeout. A pid file that
// names another process is left alone, and so is that process.
func (c *Controller) StopBalancer(ctx context.Context) error {
	p := c.BalancerProc()
	if !p.Running() {
		if s := p.Stale(); s != "" {
			c.printf("balancer: %s; left alone\n", s)
		}
		return nil
	}
	pid := p.PID
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if !waitGone(pid, balancer.ShutdownTimeout+5*time.Second) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		waitGone(pid, 5*time.Second)
	}
	c.printf("balancer stopped (was pid %d)\n", pid)
	return nil
}

// RollingRestart restarts instances one at a time behind the balancer:
// drain (no new requests), wait for its in-flight requests, restart, wait
// until it answers, put it back (its slow start begins), next. Users see
// no failed request. Without a running balancer it restarts them plainly.
func (c *Controller) RollingRestart(ctx context.Context, list []int) error {
	_, lbUp := c.BalancerRunning()
	admin := c.Admin()
	for _, n := range list {
		name := strconv.Itoa(n)
		if lbUp {
			if err := admin.Drain(ctx, name, c.Settings.StopTimeout); err != nil {
				c.printf("instance %d: %v; restarting anyway\n", n, err)
			} else {
				c.printf("instance %d drained\n", n)
			}
		}
		if err := c.StopOne(ctx, n); err != nil {
			return err
		}
		if err := c.StartOne(ctx, n); err != nil {
			return err
		}
		if lbUp {
			if err := admin.Undrain(ctx, name); err != nil {
				return err
			}
			c.printf("instance %d back in the balancer (slow start %s)\n", n, c.BalancerConfig().SlowStart)
		}
	}
	return nil
}

// FrontendSite describes the install for a front end of the operator's own
// (at least two instances, so the config is useful once ZOPES is raised).
func (c *Controller) FrontendSite() frontend.Site {
	site := frontend.Site{Source: c.Inst.Home, ListenHost: c.Conf.HTTPHost, ListenPort: c.Conf.HTTPPort,
		HealthPath: c.Settings.HealthPath, SlowStart: int(c.BalancerConfig().SlowStart.Seconds())}
	for i := 1; i <= max(c.Zopes, 2); i++ {
		site.Backends = append(site.Backends, frontend.Backend{Name: fmt.Sprintf("zope%d", i), Addr: c.Instance(i).Addr(), Cap: c.Conf.Threads})
	}
	return site
}
