package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/zenpatch/zenpatch/internal/balancer"
	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/txn"
	"github.com/zenpatch/zenpatch/internal/zope"
)

func cmdBalance(e *env, args []string) error {
	var c common
	var listen, backends string
	var maxConn int
	var slowStart, queueTimeout, healthInterval time.Duration
	var queueSize, procs int
	var affinity bool
	var healthPath, cpuProfile string
	fs := newFlags(e, "balance", "balance [flags]", `
Run zenpatch's HTTP balancer in the foreground. With an install (the
default), it listens on zope.conf's HTTP address and fronts the ZOPES
instances, with each instance's cap = zserver-threads, its admin API on
var/zenpatch/balancer.sock; settings come from <balancer> in
etc/zenpatch.conf. Standalone, --listen and --backends say it all (for
benchmarks, or instances on other hosts). SIGTERM stops it gracefully;
SIGHUP re-reads the backends without dropping connections.

Examples:
  zenpatch balance --zenhome /opt/zenoss
  zenpatch balance --listen 127.0.0.1:8080 --backends 127.0.0.1:9081,127.0.0.1:9082 --max-conn 4`)
	c.installFlags(fs)
	fs.StringVar(&listen, "listen", "", "standalone: listen on `ADDR` (host:port)")
	fs.StringVar(&backends, "backends", "", "standalone: comma-separated host:port `LIST`")
	fs.IntVar(&maxConn, "max-conn", 4, "standalone: requests at once per backend (Zope's zserver-threads)")
	fs.DurationVar(&slowStart, "slow-start", 0, "ramp a fresh backend's share over this long (default 30s; -1s: off)")
	fs.IntVar(&queueSize, "queue-size", 0, "waiting requests at most (default 1024)")
	fs.DurationVar(&queueTimeout, "queue-timeout", 0, "longest wait for a free backend before 503 (default 30s)")
	fs.DurationVar(&healthInterval, "health-interval", 0, "active health check interval (default 2s)")
	fs.StringVar(&healthPath, "health-path", "", "active health check path (default /)")
	fs.BoolVar(&affinity, "cookie-affinity", false, "send a client back to the same Zope (temp_folder sessions)")
	fs.IntVar(&procs, "procs", 0, "most CPUs the balancer uses at once (GOMAXPROCS; default 2, or the procs setting); it uses one while lightly loaded")
	fs.StringVar(&cpuProfile, "cpuprofile", "", "write a Go CPU profile to `FILE` until the balancer stops (diagnostics)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if procs < 0 {
		return usageErr("--procs %d: want 1 or more", procs)
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return withCode(exitError, err, "--cpuprofile needs a writable file path")
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	cfg := balancer.Config{Logger: log, SlowStart: slowStart, QueueSize: queueSize, QueueTimeout: queueTimeout, HealthInterval: healthInterval, HealthPath: healthPath, Affinity: affinity}
	ctx, stop := signal.NotifyContext(e.ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if backends != "" || listen != "" {
		if backends == "" || listen == "" {
			return usageErr("standalone balance needs both --listen and --backends")
		}
		var specs []balancer.BackendSpec
		for i, b := range strings.Split(backends, ",") {
			specs = append(specs, balancer.BackendSpec{Name: strconv.Itoa(i + 1), Addr: strings.TrimSpace(b), Cap: maxConn})
		}
		lb, err := balancer.New(cfg, specs)
		if err != nil {
			return usageErr("--backends: %v", err)
		}
		l, err := net.Listen("tcp", listen)
		if err != nil {
			return withCode(exitError, fmt.Errorf("--listen %s: %w", listen, err), "pick a free address, or stop what holds it")
		}
		nofile := balancer.RaiseOpenFileLimit(log)
		log.Info("balancing", "listen", l.Addr().String(), "backends", backends, "cap", maxConn, "procs", startProcs(ctx, e, log, procs, 0), "runtime", runtimeState(e), "nofile", nofile)
		return (&balancer.Server{LB: lb, Public: l}).Run(ctx)
	}

	inst, err := c.open(e)
	if err != nil {
		return err
	}
	defer inst.Close()
	ctl, err := zope.New(inst, e.stderr)
	if err != nil {
		return explain(err)
	}
	if !ctl.Multi() {
		return withCode(exitError, fmt.Errorf("ZOPES=%d in %s: one Zope serves %s itself, nothing to balance", ctl.Zopes, install.ZopectlPath, ctl.Conf.HTTPAddress()), "raise ZOPES with 'zenpatch apply --zopes N', or run standalone with --listen and --backends")
	}
	bs := ctl.Settings.Balancer
	if slowStart == 0 {
		cfg.SlowStart = bs.SlowStart
	}
	if queueSize == 0 {
		cfg.QueueSize = bs.QueueSize
	}
	if queueTimeout == 0 {
		cfg.QueueTimeout = bs.QueueTimeout
	}
	if healthInterval == 0 {
		cfg.HealthInterval = bs.HealthInterval
	}
	if healthPath == "" {
		cfg.HealthPath = ctl.Settings.HealthPath
	}
	cfg.Rise, cfg.Fall = bs.Rise, bs.Fall
	cfg.Affinity = affinity || bs.Affinity
	lb, err := balancer.New(cfg, ctl.BackendSpecs())
	if err != nil {
		return err
	}
	addr := ctl.ListenAddr()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return withCode(exitError, fmt.Errorf("listen on %s (zope.conf's HTTP address): %w", addr, err), "is a single Zope still running on it? 'zenpatch zope stop' stops everything")
	}
	adm, err := balancer.ListenAdmin(inst.Abs(zope.AdminSocket))
	if err != nil {
		l.Close()
		return err
	}
	if err := txn.WriteFile(inst.Root, zope.BalancerPid, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	defer func() {
		if pid, _ := zope.PID(inst.Abs(zope.BalancerPid)); pid == os.Getpid() {
			_ = inst.Root.Remove(zope.BalancerPid)
		}
		_ = inst.Root.Remove(zope.AdminSocket)
	}()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := reloadBackends(inst, lb); err != nil {
					log.Error("reload failed; keeping the old backends", "err", err)
				} else {
					log.Info("reloaded backends", "backends", len(lb.Status().Backends))
				}
			}
		}
	}()
	nofile := balancer.RaiseOpenFileLimit(log)
	log.Info("balancing", "listen", addr, "zopes", ctl.Zopes, "cap", ctl.Conf.Threads, "procs", startProcs(ctx, e, log, procs, bs.Procs), "runtime", runtimeState(e), "admin", zope.AdminSocket, "nofile", nofile)
	return (&balancer.Server{LB: lb, Public: l, Admin: adm}).Run(ctx)
}

func reloadBackends(inst *install.Install, lb *balancer.Balancer) error {
	ctl, err := zope.New(inst, nil)
	if err != nil {
		return err
	}
	return lb.SetBackends(ctl.BackendSpecs())
}
