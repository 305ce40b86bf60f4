package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/zope"
)

func cmdUpgrade(e *env, args []string) error {
	var c common
	var noRestart bool
	fs := newFlags(e, "upgrade", "upgrade [flags]", `
The post-upgrade hook: detect the Zenoss version; if bin/zopectl was
replaced (its sha256 differs from what zenpatch wrote) or the patch is
missing, apply the patch for the new version and set ZOPES, then restart
through the balancer: rolling when instances run, a plain start when they
do not, nothing with --no-restart. Idempotent: a second run says so in one
line. Every decision goes to log/zenpatch.log.
If no patch fits the new version (or it conflicts), the vendor's zopectl is
left untouched, Zope keeps running the vendor's way (one instance on the
HTTP port), and zenpatch exits 3 saying what to do.

Examples:
  zenpatch upgrade                  # after 'yum update zenoss'
  zenpatch upgrade --no-restart     # patch now, restart in the maintenance window`)
	c.installFlags(fs)
	c.sizingFlags(fs)
	fs.BoolVar(&noRestart, "no-restart", false, "change files only; restart nothing")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	inst, opt, err := c.openWith(e)
	if err != nil {
		return err
	}
	defer inst.Close()
	logw, closeLog := openLog(inst)
	defer closeLog()
	log := slog.New(slog.NewTextHandler(logw, nil)).With("cmd", "upgrade")
	lock, err := inst.Lock()
	if err != nil {
		log.Error("lock", "err", err)
		return explain(err)
	}
	in, err := inst.Inspect(opt)
	if err != nil {
		lock.Unlock()
		log.Error("inspect", "err", err)
		return explain(err)
	}
	log.Info("detected", "version", in.Version.Version, "source", in.Version.Source, "state", in.State, "zopes_now", in.ZopesNow, "zopes_want", in.ZopesWant)
	if err := problem(in); err != nil {
		lock.Unlock()
		log.Error("cannot patch; leaving the vendor zopectl untouched", "err", in.Problem)
		if !noRestart {
			vendorFallback(e, inst, log)
		}
		return err
	}
	changed := !in.Plan.Empty()
	if changed {
		if err := inst.Commit(in, install.CommitOptions{AfterStep: crashHook(e)}); err != nil {
			lock.Unlock()
			log.Error("apply", "err", err)
			return explain(err)
		}
		log.Info("applied", "patch", in.Selection.Entry.ID, "was", in.State, "zopes", in.ZopesWant, "why", in.ZopesWhy)
		printPlaces(e.stderr, in)
		fmt.Fprintf(e.stdout, "upgrade: Zenoss %s: %s applied (was %s), ZOPES=%d (%s)\n", in.Version.Version, in.Selection.Entry.ID, in.State, in.ZopesWant, in.ZopesWhy)
	}
	lock.Unlock()
	if noRestart {
		if changed {
			log.Info("restart skipped (--no-restart)")
			fmt.Fprintln(e.stdout, "upgrade: not restarting (--no-restart); run 'zopectl restart' when it suits")
		} else {
			fmt.Fprintf(e.stdout, "upgrade: nothing to do: %s applied, ZOPES=%d\n", in.Selection.Entry.ID, in.ZopesWant)
		}
		return nil
	}
	ctl, err := zope.New(inst, e.stdout)
	if err != nil {
		log.Error("read zope.conf", "err", err)
		return explain(err)
	}
	running := anyRunning(ctl)
	if !changed && (!ctl.Multi() || allUp(e, ctl)) {
		log.Info("nothing to do")
		fmt.Fprintf(e.stdout, "upgrade: nothing to do: %s applied, ZOPES=%d\n", in.Selection.Entry.ID, in.ZopesWant)
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	if running && ctl.Multi() {
		log.Info("rolling restart", "zopes", ctl.Zopes)
		err = zopeAction(e, ctl, "restart", 0, exe)
	} else {
		if running { // ZOPES=1 now: the vendor way
			_ = ctl.StopBalancer(e.ctx)
			_ = ctl.StopAll(e.ctx)
		}
		log.Info("start", "zopes", ctl.Zopes)
		err = zopeAction(e, ctl, "start", 0, exe)
	}
	if err != nil {
		log.Error("restart", "err", err)
		return err
	}
	log.Info("done")
	return nil
}

// openLog opens log/zenpatch.log for appending (inside ZENHOME); on
// failure, logs go nowhere rather than stopping the upgrade.
func openLog(inst *install.Install) (io.Writer, func()) {
	_ = inst.Root.MkdirAll("log", 0o755)
	f, err := inst.Root.OpenFile(install.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return io.Discard, func() {}
	}
	return f, func() { f.Close() }
}

func anyRunning(ctl *zope.Controller) bool {
	if _, ok := ctl.VendorStatus(); ok {
		return true
	}
	if _, ok := ctl.BalancerRunning(); ok {
		return true
	}
	for _, n := range ctl.Known() {
		if _, ok := zope.PID(ctl.Instance(n).PidFile); ok {
			return true
		}
	}
	return false
}

func allUp(e *env, ctl *zope.Controller) bool {
	if _, ok := ctl.BalancerRunning(); !ok {
		return false
	}
	for _, s := range ctl.StatusAll(e.ctx) {
		if !s.Surplus && !s.Answers {
			return false
		}
	}
	return true
}

// vendorFallback keeps Zope serving the vendor's way when the patch cannot
// be applied: zenpatch's balancer and instances stop, the vendor zopectl
// starts its single Zope on the HTTP port.
func vendorFallback(e *env, inst *install.Install, log *slog.Logger) {
	ctl, err := zope.New(inst, e.stderr)
	if err != nil {
		return
	}
	_, lb := ctl.BalancerRunning()
	instances := false
	for _, n := range ctl.Known() {
		if _, ok := zope.PID(ctl.Instance(n).PidFile); ok {
			instances = true
		}
	}
	if !lb && !instances {
		return
	}
	log.Warn("falling back to the vendor's single Zope")
	fmt.Fprintln(e.stderr, "zenpatch: switching to the vendor's single Zope so the UI stays up")
	_ = ctl.StopBalancer(e.ctx)
	ctl.Zopes = 1
	_ = ctl.StopAll(e.ctx)
	if err := ctl.StartAll(e.ctx); err != nil {
		log.Error("vendor start", "err", err)
		fmt.Fprintf(e.stderr, "zenpatch: the vendor's zopectl start failed too: %v\n", err)
	}
}
