// Package upgrade is the post-upgrade hook's decision flow ('zenpatch
// upgrade', run by yum's and dnf's post-transaction actions after a Zenoss
// package update): detect the version now installed, put the multi-Zope
// patch back if the update replaced bin/zopectl, and bring the Zopes to the
// run state they should have. Every decision goes to the install's log.
package upgrade

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/zope"
)

// Options steer Run.
type Options struct {
	Inspect   install.Options
	Commit    install.CommitOptions
	NoRestart bool      // change files only
	Out       io.Writer // what happened, for people
	Notes     io.Writer // where hunks landed and other notes
}

// Run performs the upgrade flow on inst. A patch that cannot be applied
// (an *install.ConflictError or *install.UnsupportedError is returned)
// leaves the vendor zopectl untouched and, unless NoRestart, keeps the UI
// up the vendor's way: zenpatch's balancer and instances stop and the
// vendor's single Zope starts.
func Run(ctx context.Context, inst *install.Install, opt Options) error {
	log, closeLog := OpenLog(inst)
	defer closeLog()
	insp, err := inst.Apply(opt.Inspect, opt.Commit)
	if insp != nil {
		log.Info("detected", "version", insp.Version.Version, "source", insp.Version.Source, "state", insp.PatchState, "zopes_now", insp.ZopesNow, "zopes_want", insp.ZopesWant)
	}
	if insp != nil && insp.Problem != nil {
		log.Error("cannot patch; leaving the vendor zopectl untouched", "err", insp.Problem)
		if !opt.NoRestart {
			fallBack(ctx, inst, opt, log)
		}
		return insp.Problem
	}
	if err != nil {
		log.Error("apply", "err", err)
		return err
	}
	changed := !insp.Plan.Empty()
	if changed {
		log.Info("applied", "patch", insp.Selection.Entry.ID, "was", insp.PatchState, "zopes", insp.ZopesWant, "why", insp.ZopesWhy)
		for _, n := range insp.Notes() {
			fmt.Fprintf(opt.Notes, "zenpatch: %s\n", n)
		}
		fmt.Fprintf(opt.Out, "upgrade: Zenoss %s: %s applied (was %s), ZOPES=%d (%s)\n", insp.Version.Version, insp.Selection.Entry.ID, insp.PatchState, insp.ZopesWant, insp.ZopesWhy)
	}
	nothing := func() {
		log.Info("nothing to do")
		fmt.Fprintf(opt.Out, "upgrade: nothing to do: %s applied, ZOPES=%d\n", insp.Selection.Entry.ID, insp.ZopesWant)
	}
	if opt.NoRestart {
		if changed {
			log.Info("restart skipped (--no-restart)")
			fmt.Fprintln(opt.Out, "upgrade: not restarting (--no-restart); run 'zopectl restart' when it suits")
		} else {
			nothing()
		}
		return nil
	}
	ctl, err := zope.New(inst, opt.Out)
	if err != nil {
		log.Error("read zope.conf", "err", err)
		return err
	}
	running := ctl.Running()
	if !changed && (!ctl.Multi() || ctl.AllUp(ctx)) {
		nothing()
		return nil
	}
	if running && ctl.Multi() {
		log.Info("rolling restart", "zopes", ctl.Zopes)
		err = ctl.Action(ctx, "restart", 0)
	} else {
		if running { // ZOPES=1 now: the vendor way
			_ = ctl.StopBalancer(ctx)
			_ = ctl.StopAll(ctx)
		}
		log.Info("start", "zopes", ctl.Zopes)
		err = ctl.Action(ctx, "start", 0)
	}
	if err != nil {
		log.Error("restart", "err", err)
		return err
	}
	log.Info("done")
	return nil
}

func fallBack(ctx context.Context, inst *install.Install, opt Options, log *slog.Logger) {
	ctl, err := zope.New(inst, opt.Notes)
	if err != nil {
		return
	}
	acted, err := ctl.FallBackToVendor(ctx)
	if !acted {
		return
	}
	log.Warn("fell back to the vendor's single Zope")
	fmt.Fprintln(opt.Notes, "zenpatch: switching to the vendor's single Zope so the UI stays up")
	if err != nil {
		log.Error("vendor start", "err", err)
		fmt.Fprintf(opt.Notes, "zenpatch: the vendor's zopectl start failed too: %v\n", err)
	}
}

// OpenLog opens log/zenpatch.log for appending (inside ZENHOME) as a
// structured log; on failure, records go nowhere rather than stopping the
// upgrade. The function returned closes it.
func OpenLog(inst *install.Install) (*slog.Logger, func()) {
	var w io.Writer = io.Discard
	closeFn := func() {}
	_ = inst.Root.MkdirAll("log", 0o755)
	if f, err := inst.Root.OpenFile(install.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644); err == nil {
		w, closeFn = f, func() { f.Close() }
	}
	return slog.New(slog.NewTextHandler(w, nil)).With("cmd", "upgrade"), closeFn
}
