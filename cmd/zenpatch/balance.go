package main

import (
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/zenpatch/zenpatch/internal/balancer"
	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/zope"
)

// balanceFlags are the balancer's command-line settings; zero values are
// not given (the settings file or the balancer's defaults apply).
type balanceFlags struct {
	listen, backends, healthPath, cpuProfile string
	admin                                    string
	objectAffinity                           string
	maxConn, queueSize, procs                int
	slowStart, queueTimeout, healthInterval  time.Duration
	balanceFactor                            float64
	affinity                                 bool
}

func (b *balanceFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&b.listen, "listen", "", "standalone: listen on `ADDR` (host:port)")
	fs.StringVar(&b.backends, "backends", "", "standalone: comma-separated host:port `LIST`")
	fs.StringVar(&b.admin, "admin", "", "standalone: serve the admin API (status, drain, undrain, metrics) on the unix `SOCKET` (mode 0600; default: none)")
	fs.IntVar(&b.maxConn, "max-conn", 4, "standalone: requests at once per backend (Zope's zserver-threads)")
	fs.DurationVar(&b.slowStart, "slow-start", 0, "ramp a fresh backend's share over this long (default 30s; -1s: off)")
	fs.IntVar(&b.queueSize, "queue-size", 0, "waiting requests at most (default 1024)")
	fs.DurationVar(&b.queueTimeout, "queue-timeout", 0, "longest wait for a free backend before 503 (default 30s)")
	fs.DurationVar(&b.healthInterval, "health-interval", 0, "active health check interval (default 2s)")
	fs.StringVar(&b.healthPath, "health-path", "", "active health check path (default /)")
	fs.BoolVar(&b.affinity, "cookie-affinity", false, "send a client back to the same Zope (temp_folder sessions)")
	fs.StringVar(&b.objectAffinity, "object-affinity", "", "`on|off`: keep each Zenoss object (device, organizer) on one Zope, for its object cache (default: the <affinity> setting, else on)")
	fs.Float64Var(&b.balanceFactor, "balance-factor", 0, "object affinity's bounded-loads factor c: a key's home takes it while under c × the average load (default 1.25)")
	fs.IntVar(&b.procs, "procs", 0, "most CPUs the balancer uses at once (GOMAXPROCS; default 2, or the procs setting); it uses one while lightly loaded")
	fs.StringVar(&b.cpuProfile, "cpuprofile", "", "write a Go CPU profile to `FILE` until the balancer stops (diagnostics)")
}

// check refuses values the balancer cannot use (the settings file refuses
// the same ones).
func (b *balanceFlags) check() error {
	switch {
	case b.procs < 0 || b.procs > 1024:
		return usageErr("", "--procs %d: want 1 to 1024 (or leave it out)", b.procs)
	case b.queueSize < 0 || b.queueSize > 1<<20:
		return usageErr("", "--queue-size %d: want 1 to %d", b.queueSize, 1<<20)
	case b.maxConn < 1 || b.maxConn > 1024:
		return usageErr("", "--max-conn %d: want 1 to 1024", b.maxConn)
	case b.queueTimeout < 0 || (b.queueTimeout > 0 && b.queueTimeout < 100*time.Millisecond):
		return usageErr("", "--queue-timeout %s: want 100ms or more", b.queueTimeout)
	case b.healthInterval < 0 || (b.healthInterval > 0 && b.healthInterval < 100*time.Millisecond):
		return usageErr("", "--health-interval %s: want 100ms or more", b.healthInterval)
	case b.healthPath != "" && !strings.HasPrefix(b.healthPath, "/"):
		return usageErr("", "--health-path %q: want a path starting with /", b.healthPath)
	case b.objectAffinity != "" && b.objectAffinity != "on" && b.objectAffinity != "off":
		return usageErr("", "--object-affinity %q: want on or off", b.objectAffinity)
	case b.balanceFactor != 0 && !(b.balanceFactor >= 1 && b.balanceFactor <= 100):
		return usageErr("", "--balance-factor %v: want a number from 1 to 100 (1.25 is the default)", b.balanceFactor)
	case (b.backends == "") != (b.listen == ""):
		return usageErr("", "standalone balance needs both --listen and --backends")
	case b.admin != "" && b.backends == "":
		return usageErr("", "--admin is for standalone balance (with --listen and --backends); with an install the admin API is on var/zenpatch/balancer.sock")
	}
	if b.listen != "" {
		if _, _, err := install.ParseAddress(b.listen); err != nil || !strings.Contains(b.listen, ":") {
			return usageErr("", "--listen %q: want host:port (or :port), port 1-65535", b.listen)
		}
	}
	return nil
}

// config is what the flags set of the balancer's configuration.
func (b *balanceFlags) config(log *slog.Logger) balancer.Config {
	return balancer.Config{Logger: log, SlowStart: b.slowStart, QueueSize: b.queueSize, QueueTimeout: b.queueTimeout,
		HealthInterval: b.healthInterval, HealthPath: b.healthPath, Affinity: b.affinity,
		Keys: balancer.KeyAffinity{Off: b.objectAffinity == "off", On: b.objectAffinity == "on", Factor: b.balanceFactor}}
}

func cmdBalance(inv *invocation, args []string) error {
	var f installFlags
	var b balanceFlags
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
	f.addHome(fs)
	b.add(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if err := b.check(); err != nil {
		return err
	}
	if b.cpuProfile != "" {
		stop, err := startProfile(b.cpuProfile)
		if err != nil {
			return err
		}
		defer stop()
	}
	log := slog.New(slog.NewTextHandler(inv.stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if b.backends != "" {
		specs, err := balancer.ParseBackends(b.backends, b.maxConn)
		if err != nil {
			return usageErr("", "--backends: %v", err)
		}
		err = balancer.ListenAndServe(inv.ctx, b.config(log), specs, b.listen, b.admin, b.procs)
		return withHint(err, "pick a free --listen address (and an --admin path no running balancer holds), or stop what holds it")
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
	return ctl.Serve(inv.ctx, b.config(log), b.procs, log)
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
