package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"time"

	"github.com/zenpatch/zenpatch/internal/balancer"
	"github.com/zenpatch/zenpatch/internal/zope"
)

func cmdBalance(inv *invocation, args []string) error {
	var f installFlags
	var listen, backends, healthPath, cpuProfile string
	var maxConn, queueSize, procs int
	var slowStart, queueTimeout, healthInterval time.Duration
	var affinity bool
	fs := newFlags(inv, "balance", "balance [flags]", `
Run zenpatch's HTTP balancer in the foreground. With an install (the
default), it listens on zope.conf's HTTP address and fronts the ZOPES
instances, with each instance's cap = zserver-threads, its admin API on
var/zenpatch/balancer.sock; settings come from <balancer> in
etc/zenpatch.conf, and flags given here win over them. Standalone,
--listen and --backends say it all (for benchmarks, or instances on other
hosts). SIGTERM stops it gracefully; SIGHUP re-reads the backends without
dropping connections.

Examples:
  zenpatch balance --zenhome /opt/zenoss
  zenpatch balance --listen 127.0.0.1:8080 --backends 127.0.0.1:9081,127.0.0.1:9082 --max-conn 4`)
	f.add(fs)
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
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if procs < 0 || queueSize < 0 || maxConn < 1 {
		return usageErr("", "--procs, --queue-size and --max-conn want positive numbers")
	}
	if cpuProfile != "" {
		stop, err := startProfile(cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	log := slog.New(slog.NewTextHandler(inv.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	over := balancer.Config{Logger: log, SlowStart: slowStart, QueueSize: queueSize, QueueTimeout: queueTimeout,
		HealthInterval: healthInterval, HealthPath: healthPath, Affinity: affinity}
	if backends != "" || listen != "" {
		if backends == "" || listen == "" {
			return usageErr("", "standalone balance needs both --listen and --backends")
		}
		specs, err := balancer.ParseBackends(backends, maxConn)
		if err != nil {
			return usageErr("", "--backends: %v", err)
		}
		err = balancer.ListenAndServe(inv.ctx, over, specs, listen, procs)
		return withHint(err, "pick a free --listen address, or stop what holds it")
	}
	inst, err := f.open(inv)
	if err != nil {
		return err
	}
	defer inst.Close()
	ctl, err := zope.New(inst, inv.stderr)
	if err != nil {
		return err
	}
	return ctl.Serve(inv.ctx, over, procs, log)
}

// startProfile writes a Go CPU profile to path until the returned function
// is called.
func startProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, withHint(fmt.Errorf("--cpuprofile: %w", err), "give a writable file path")
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
