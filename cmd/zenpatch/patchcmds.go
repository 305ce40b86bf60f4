package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/zenpatch/zenpatch/apply"
	"github.com/zenpatch/zenpatch/internal/buildinfo"
	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/txn"
	"github.com/zenpatch/zenpatch/patches"
)

// inspect opens the install and inspects it (read only).
func inspect(e *env, c *common) (*install.Install, *install.Inspection, error) {
	inst, opt, err := c.openWith(e)
	if err != nil {
		return nil, nil, err
	}
	in, err := inst.Inspect(opt)
	if err != nil {
		inst.Close()
		return nil, nil, explain(err)
	}
	return inst, in, nil
}

// problem turns a conflict or unsupported version into an exit-3 error.
func problem(in *install.Inspection) error {
	switch in.State {
	case install.StateUnsupported:
		hint := "zenpatch knows Zenoss 2.x-4.x; if the version was misread, give it with --version-override"
		if errors.Is(in.Problem, install.ErrNoVersion) {
			hint = "tell zenpatch the version with --version-override X.Y.Z (or check " + install.VersionPath + ")"
		} else if errors.Is(in.Problem, patches.ErrUnsupported) && in.Version.Source != "" {
			hint += "\n(the version came from " + in.Version.Source + ")"
		}
		return withCode(exitConflict, in.Problem, hint)
	case install.StateConflict:
		return explain(in.Problem)
	}
	return nil
}

// printPlaces says where each hunk went, on w.
func printPlaces(w io.Writer, in *install.Inspection) {
	if !in.Selection.Exact && in.Selection.Note != "" {
		fmt.Fprintf(w, "zenpatch: note: %s\n", in.Selection.Note)
	}
	if in.State == install.StateStale {
		fmt.Fprintf(w, "zenpatch: note: %s is applied; it is replaced by %s\n", in.AppliedID, in.Selection.Entry.ID)
	}
	for _, p := range in.Places {
		fmt.Fprintf(w, "zenpatch: %s: %s %s\n", install.ZopectlPath, in.Selection.Entry.ID, p)
	}
}

func cmdDiff(e *env, args []string) error {
	var c common
	fs := newFlags(e, "diff", "diff [flags]", `
Print, as a unified diff, every change 'zenpatch apply' would make (the patch
and the ZOPES line), without changing anything. Exit 0: nothing to do;
2: changes pending; 3: conflict or unsupported version.

Example:
  zenpatch diff --zenhome /opt/zenoss --zopes 4`)
	c.installFlags(fs)
	c.sizingFlags(fs)
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	return showDiff(e, &c)
}

func showDiff(e *env, c *common) error {
	inst, in, err := inspect(e, c)
	if err != nil {
		return err
	}
	defer inst.Close()
	if err := problem(in); err != nil {
		return err
	}
	d, err := in.Plan.Diff()
	if err != nil {
		return err
	}
	if len(d) == 0 {
		fmt.Fprintf(e.stderr, "zenpatch: nothing to change: %s applied, ZOPES=%d\n", in.Selection.Entry.ID, in.ZopesWant)
		return nil
	}
	printPlaces(e.stderr, in)
	if colorOn(e, e.stdout) {
		d = apply.Colorize(d)
	}
	e.stdout.Write(d)
	return quietCode(exitPending)
}

func cmdApply(e *env, args []string) error {
	var c common
	var dryRun, reject bool
	fs := newFlags(e, "apply", "apply [flags]", `
Apply the multi-Zope patch for the installed Zenoss version to bin/zopectl
and set ZOPES (pinned with --zopes, else recommended from the usable CPUs).
All-or-nothing; the vendor file is backed up under var/zenpatch/backup.
Already applied: nothing is written. Conflict: nothing is written, exit 3.
Restart Zope afterwards (zopectl restart) to run the instances.

Examples:
  zenpatch apply --dry-run          # the same as 'zenpatch diff'
  zenpatch apply --zopes 4          # pin four instances
  zenpatch apply --zopes auto       # follow the recommendation again`)
	c.installFlags(fs)
	c.sizingFlags(fs)
	fs.BoolVarP(&dryRun, "dry-run", "n", false, "print the diff and change nothing (same as 'zenpatch diff')")
	fs.BoolVar(&reject, "reject", false, "on conflict, save the patch's hunks to "+rejectPath+" for a manual merge")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	if dryRun {
		return showDiff(e, &c)
	}
	inst, opt, err := c.openWith(e)
	if err != nil {
		return err
	}
	defer inst.Close()
	if err := inst.FinishInterrupted(); err != nil {
		return explain(err)
	}
	// Read-only first: a refusal or a no-op must not even create the lock.
	in, err := inst.Inspect(opt)
	if err != nil {
		return explain(err)
	}
	if in.State == install.StateConflict && reject {
		if err := saveReject(inst, in); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "zenpatch: saved the patch's hunks to %s\n", rejectPath)
	}
	if err := problem(in); err != nil {
		return err
	}
	if in.Plan.Empty() {
		fmt.Fprintf(e.stdout, "nothing to do: %s is applied, ZOPES=%d\n", in.Selection.Entry.ID, in.ZopesWant)
		return nil
	}
	lock, err := inst.Lock()
	if err != nil {
		return explain(err)
	}
	defer lock.Unlock()
	if in, err = inst.Inspect(opt); err != nil { // again, under the lock
		return explain(err)
	}
	if err := problem(in); err != nil {
		return err
	}
	if in.Plan.Empty() {
		fmt.Fprintf(e.stdout, "nothing to do: %s is applied, ZOPES=%d\n", in.Selection.Entry.ID, in.ZopesWant)
		return nil
	}
	printPlaces(e.stderr, in)
	if err := inst.Commit(in, install.CommitOptions{AfterStep: crashHook(e)}); err != nil {
		return explain(err)
	}
	switch in.State {
	case install.StateAbsent, install.StateStale:
		fmt.Fprintf(e.stdout, "patched %s with %s; ZOPES=%d (%s)\n", install.ZopectlPath, in.Selection.Entry.ID, in.ZopesWant, in.ZopesWhy)
	default:
		fmt.Fprintf(e.stdout, "ZOPES %d → %d (%s)\n", in.ZopesNow, in.ZopesWant, in.ZopesWhy)
	}
	fmt.Fprintf(e.stdout, "vendor copy kept in %s; restart Zope to use it: %s/bin/zopectl restart\n", install.BackupDir, inst.Home)
	return nil
}

func saveReject(inst *install.Install, in *install.Inspection) error {
	data, err := in.Selection.Entry.Text()
	if err != nil {
		return err
	}
	return txn.WriteFile(inst.Root, rejectPath, data, 0o644)
}

func cmdRevert(e *env, args []string) error {
	var c common
	var dryRun bool
	fs := newFlags(e, "revert", "revert [flags]", `
Bring back the vendor's bin/zopectl: byte for byte from the backup when
zopectl is as zenpatch wrote it (the sha256 is checked), else by reversing
the patch. Stop the extra instances first (zopectl stop) if they run.

Example:
  zenpatch revert --zenhome /opt/zenoss`)
	c.installFlags(fs)
	fs.BoolVarP(&dryRun, "dry-run", "n", false, "print the diff and change nothing")
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
	if err := inst.FinishInterrupted(); err != nil {
		return explain(err)
	}
	r, err := inst.PlanRevert(opt)
	if err != nil {
		return explain(err)
	}
	if r.Absent {
		fmt.Fprintln(e.stdout, "nothing to revert: no zenpatch patch is applied")
		return nil
	}
	if !dryRun {
		lock, err := inst.Lock()
		if err != nil {
			return explain(err)
		}
		defer lock.Unlock()
		if r, err = inst.PlanRevert(opt); err != nil { // again, under the lock
			return explain(err)
		}
		if r.Absent {
			fmt.Fprintln(e.stdout, "nothing to revert: no zenpatch patch is applied")
			return nil
		}
	}
	if r.Note != "" {
		fmt.Fprintf(e.stderr, "zenpatch: note: %s\n", r.Note)
	}
	if dryRun {
		d, err := r.Plan.Diff()
		if err != nil {
			return err
		}
		if colorOn(e, e.stdout) {
			d = apply.Colorize(d)
		}
		e.stdout.Write(d)
		return quietCode(exitPending)
	}
	if err := inst.CommitRevert(r, install.CommitOptions{AfterStep: crashHook(e)}); err != nil {
		return explain(err)
	}
	fmt.Fprintf(e.stdout, "reverted %s: removed %s (%s)\n", install.ZopectlPath, r.Patch, r.How)
	return nil
}

func cmdVersion(e *env, args []string) error {
	fs := newFlags(e, "version", "version [--json]", `Print zenpatch's own version, the commit it was built from ("modified"
when the work tree had uncommitted changes) and the Go version that built
it. Packages set the version; a plain 'go build' says "dev".

Examples:
  zenpatch version                  # zenpatch 1.2.3 (commit 176d20a1b2c3, go1.26.8)
  zenpatch version --json`)
	asJSON := fs.Bool("json", false, "print the stable JSON form")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	info := buildinfo.Get()
	if *asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	fmt.Fprintln(e.stdout, info)
	return nil
}

// crashHook lets the crash test kill the process at the Nth durable step
// of a commit (ZENPATCH_TEST_CRASH_AT=N); unset, it does nothing.
func crashHook(e *env) func(string) {
	n, err := strconv.Atoi(e.getenv("ZENPATCH_TEST_CRASH_AT"))
	if err != nil || n <= 0 {
		return nil
	}
	count := 0
	return func(string) {
		count++
		if count == n {
			p, _ := os.FindProcess(os.Getpid())
			_ = p.Kill()
			select {}
		}
	}
}
