// Package upgrade is the post-upgrade hook's decision flow ('zenpatch
// upgrade', run by yum's and dnf's post-transaction actions after a Zenoss
// package update): detect the version now installed, put the multi-Zope
// patch back if the update replaced bin/zopectl, and leave the Zopes in the
// run state they were found in. Every decision goes to the install's log.
//
// Zenoss's own upgrade flow (zenoss-facts.md, "The upgrade flow in
// detail") is: 'zenoss stop', the package upgrade, then the first 'zenoss
// start', which runs the data migration (zenoss_upgrade_pre, ending with
// zenmigrate) because the flag file $ZENHOME/.upgraded exists, starts
// Zenoss and deletes the flag. The hook runs in the middle of that, so the
// usual case is "stopped, migration pending": change files, start nothing.
package upgrade

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"syscall"

	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/zope"
)

// Flag files Zenoss leaves in ZENHOME until its next start has migrated
// the data (zenoss_upgrade_pre, zenmigrate).
var MigrationFlags = []string{".upgraded", ".fresh_install"}

// Restart says what Run may do to running Zopes.
type Restart int

// Restart policies.
const (
	AsFound Restart = iota // leave the run state as found (the default)
	Never                  // --no-restart: change files only
	Always                 // --restart: also start Zope if it was stopped
)

// Options steer Run.
type Options struct {
	Inspect install.Options
	Commit  install.CommitOptions
	Restart Restart
	Out     io.Writer // what happened, for people
	Notes   io.Writer // where hunks landed and other notes
}

// NotStartedError says --restart asked to start Zope while a migration is
// pending: the files were changed, Zope was not started.
type NotStartedError struct{ Flag string }

// Error implements error.
func (e *NotStartedError) Error() string {
	return fmt.Sprintf("not starting Zope although --restart asks to: a Zenoss migration is pending (%s)", e.Flag)
}

// Hint is the next step.
func (e *NotStartedError) Hint() string {
	return "run 'zenoss start': it migrates the data first (zenmigrate), then starts the instances"
}

// Run performs the upgrade flow on inst. A patch that cannot be applied
// (an *install.ConflictError or *install.UnsupportedError is returned)
// leaves the vendor zopectl untouched; if zenpatch's instances were
// serving and no migration is pending, the vendor's single Zope takes over
// so the UI stays up.
func Run(ctx context.Context, inst *install.Install, opt Options) error {
	log, closeLog := OpenLog(inst, opt.Notes)
	defer closeLog()
	pending := PendingMigration(inst)
	ctl, ctlErr := zope.New(inst, opt.Out)
	running := ctlErr == nil && ctl.Running()
	log.Info("found", "running", running, "migration_pending", pending != "")
	insp, err := inst.Apply(opt.Inspect, opt.Commit)
	for _, n := range inst.Notes() {
		log.Warn("recovery", "note", n)
	}
	if insp != nil {
		log.Info("detected", "version", insp.Version.Version, "source", insp.Version.Source, "state", insp.PatchState, "zopes_now", insp.ZopesNow, "zopes_want", insp.ZopesWant)
	}
	if insp != nil && insp.Problem != nil {
		log.Error("cannot patch; leaving the vendor zopectl untouched", "err", insp.Problem)
		if running && pending == "" && opt.Restart != Never {
			fallBack(ctx, ctl, opt, log)
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
	state := fmt.Sprintf("%s applied, ZOPES=%d", insp.Selection.Entry.ID, insp.ZopesWant)
	if ctlErr != nil {
		log.Error("read zope.conf", "err", ctlErr)
		return ctlErr
	}
	ctl, err = zope.New(inst, opt.Out) // ZOPES as now written
	if err != nil {
		return err
	}
	return settle(ctx, ctl, opt, log, situation{changed, running, pending, state})
}

// situation is what settle decides on.
type situation struct {
	changed bool   // zopectl was written
	running bool   // some Zope ran before
	pending string // the migration flag found, "" for none
	state   string // "ID applied, ZOPES=N", for messages
}

// settle brings the Zopes to the run state they should have, and logs
// which case it was.
func settle(ctx context.Context, ctl *zope.Controller, opt Options, log *slog.Logger, s situation) error {
	say := func(c, format string, a ...any) {
		log.Info("case", "case", c)
		fmt.Fprintf(opt.Out, "upgrade: "+format+"\n", a...)
	}
	switch {
	case opt.Restart == Never:
		if !s.changed {
			say("nothing to do", "nothing to do: %s", s.state)
			return nil
		}
		say("files only (--no-restart)", "not restarting (--no-restart); run 'zopectl restart' when it suits")
		return nil
	case s.pending != "":
		if !s.changed {
			say("nothing to do (migration pending)", "nothing to do: %s; a Zenoss migration is pending (%s): the next 'zenoss start' runs it and then starts %d instance(s)", s.state, s.pending, ctl.Zopes)
		} else {
			say("migration pending: files only", "a Zenoss migration is pending (%s): nothing restarted; the next 'zenoss start' runs the migration, then starts %d instance(s)", s.pending, ctl.Zopes)
		}
		if opt.Restart == Always {
			return &NotStartedError{Flag: s.pending}
		}
		return nil
	case !s.running && opt.Restart != Always:
		if !s.changed {
			say("nothing to do (stopped)", "nothing to do: %s; Zope is not running", s.state)
		} else {
			say("stopped: files only", "Zope was not running: nothing started; 'zenoss start' (or 'zopectl start') starts %d instance(s)", ctl.Zopes)
		}
		return nil
	case !s.running:
		say("stopped: start (--restart)", "starting %d instance(s) (--restart)", ctl.Zopes)
		return ctl.Action(ctx, "start", 0)
	case !s.changed && (!ctl.Multi() || ctl.AllUp(ctx)):
		say("nothing to do (running)", "nothing to do: %s", s.state)
		return nil
	case !s.changed:
		say("running: start what is missing", "%s; starting what is not running", s.state)
		return ctl.Action(ctx, "start", 0)
	case ctl.Multi():
		say("running: rolling restart", "rolling restart of %d instance(s) behind the balancer", ctl.Zopes)
		return ctl.Action(ctx, "restart", 0)
	}
	say("running: restart the single Zope", "restarting the single Zope (ZOPES=1)")
	return ctl.Action(ctx, "restart", 0)
}

// PendingMigration names the migration flag file in ZENHOME (.upgraded or
// .fresh_install), or "" when none is there.
func PendingMigration(inst *install.Install) string {
	for _, f := range MigrationFlags {
		if _, err := inst.Root.Lstat(f); err == nil || !errors.Is(err, fs.ErrNotExist) {
			return f
		}
	}
	return ""
}

func fallBack(ctx context.Context, ctl *zope.Controller, opt Options, log *slog.Logger) {
	ctl.Out = opt.Notes
	if !ctl.OwnProcessesRun() {
		return
	}
	log.Warn("falling back to the vendor's single Zope")
	fmt.Fprintln(opt.Notes, "zenpatch: switching to the vendor's single Zope so the UI stays up")
	if _, err := ctl.FallBackToVendor(ctx); err != nil {
		log.Error("vendor start", "err", err)
		fmt.Fprintf(opt.Notes, "zenpatch: the vendor's zopectl start failed too: %v\n", err)
	}
}

// OpenLog opens log/zenpatch.log for appending (inside ZENHOME) as a
// structured log; on failure, records go nowhere rather than stopping the
// upgrade. The function returned closes it.
func OpenLog(inst *install.Install, warn io.Writer) (*slog.Logger, func()) {
	var w io.Writer = io.Discard
	closeFn := func() {}
	_ = inst.Root.MkdirAll("log", 0o755)
	f, err := inst.Root.OpenFile(install.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NONBLOCK, 0o644)
	if err == nil {
		fi, serr := f.Stat()
		if serr == nil && fi.Mode().IsRegular() {
			w, closeFn = f, func() { f.Close() }
		} else {
			f.Close()
			err = fmt.Errorf("%s is not a regular file", install.LogPath)
		}
	}
	if err != nil {
		fmt.Fprintf(warn, "zenpatch: warning: no log of this upgrade: %v\n", err)
	}
	return slog.New(slog.NewTextHandler(w, nil)).With("cmd", "upgrade"), closeFn
}
