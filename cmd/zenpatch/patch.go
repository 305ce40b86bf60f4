package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/zenpatch/zenpatch/apply"
	"github.com/zenpatch/zenpatch/internal/install"
)

func cmdDiff(inv *invocation, args []string) error {
	var f installFlags
	var s sizingFlags
	fs := newFlags(inv, "diff", "diff [flags]", `
Print, as a unified diff, every change 'zenpatch apply' would make (the patch
and the ZOPES line), without changing anything. Exit 0: nothing to do;
2: changes pending; 3: conflict or unsupported version.

Example:
  zenpatch diff --zenhome /opt/zenoss --zopes 4`)
	f.add(fs)
	s.add(fs)
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	return showDiff(inv, &f, &s)
}

// showDiff prints the plan of apply as a unified diff (diff, apply -n).
func showDiff(inv *invocation, f *installFlags, s *sizingFlags) error {
	inst, opt, err := f.openWith(inv, s)
	if err != nil {
		return err
	}
	defer inst.Close()
	insp, err := inst.Inspect(opt)
	if err != nil {
		return err
	}
	if insp.Problem != nil {
		return insp.Problem
	}
	if insp.Unpin {
		fmt.Fprintf(inv.stderr, "zenpatch: note: apply drops the pin of ZOPES (--zopes auto): later applies and upgrades follow the recommendation\n")
	}
	if insp.Plan.Empty() {
		fmt.Fprintf(inv.stderr, "zenpatch: nothing to change in %s: %s applied, ZOPES=%d\n", install.ZopectlPath, insp.Selection.Entry.ID, insp.ZopesWant)
		if insp.Unpin {
			return errPending
		}
		return nil
	}
	printNotes(inv, insp)
	return printDiff(inv, insp.Plan)
}

func printNotes(inv *invocation, insp *install.Inspection) {
	for _, n := range insp.Notes() {
		fmt.Fprintf(inv.stderr, "zenpatch: %s\n", n)
	}
}

// printInstallNotes says what the install model did on its own (a crash
// recovery that kept a changed file).
func printInstallNotes(inv *invocation, inst *install.Install) {
	for _, n := range inst.Notes() {
		fmt.Fprintf(inv.stderr, "zenpatch: note: %s\n", n)
	}
}

// printDiff prints a plan's diff on stdout (coloured on a terminal) and
// reports that changes are pending.
func printDiff(inv *invocation, plan *apply.Plan) error {
	d, err := plan.Diff()
	if err != nil {
		return err
	}
	if colorOn(inv, inv.stdout) {
		d = apply.Colorize(d)
	}
	inv.stdout.Write(d)
	return errPending
}

func cmdApply(inv *invocation, args []string) error {
	var f installFlags
	var s sizingFlags
	var dryRun, reject bool
	fs := newFlags(inv, "apply", "apply [flags]", `
Apply the multi-Zope patch for the installed Zenoss version to bin/zopectl
and set ZOPES (pinned with --zopes, else recommended from the usable CPUs).
All-or-nothing; the vendor file is backed up under var/zenpatch/backup.
Already applied: nothing is written. Conflict: nothing is written, exit 3.
Restart Zope afterwards (zopectl restart) to run the instances.

Examples:
  zenpatch apply --dry-run          # the same as 'zenpatch diff'
  zenpatch apply --zopes 4          # pin four instances
  zenpatch apply --zopes auto       # follow the recommendation again`)
	f.add(fs)
	s.add(fs)
	fs.BoolVarP(&dryRun, "dry-run", "n", false, "print the diff and change nothing (same as 'zenpatch diff')")
	fs.BoolVar(&reject, "reject", false, "on conflict, save the patch's hunks to "+install.RejectPath+" for a manual merge")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if dryRun {
		return showDiff(inv, &f, &s)
	}
	inst, opt, err := f.openWith(inv, &s)
	if err != nil {
		return err
	}
	defer inst.Close()
	insp, err := inst.Apply(opt, install.CommitOptions{AfterStep: crashHook(inv)})
	printInstallNotes(inv, inst)
	var ce *install.ConflictError
	if errors.As(err, &ce) && reject {
		if err := inst.SaveReject(insp); err != nil {
			return err
		}
		fmt.Fprintf(inv.stderr, "zenpatch: saved the patch's hunks to %s\n", install.RejectPath)
		return ce.WithHint("merge the hunks of " + install.RejectPath + " into " + install.ZopectlPath + " by hand, then run 'zenpatch apply' again")
	}
	if err != nil {
		return err
	}
	printApplied(inv, inst, insp)
	return nil
}

// printApplied says what apply did.
func printApplied(inv *invocation, inst *install.Install, insp *install.Inspection) {
	if !insp.Pending() {
		fmt.Fprintf(inv.stdout, "nothing to do: %s is applied, ZOPES=%d\n", insp.Selection.Entry.ID, insp.ZopesWant)
		return
	}
	if insp.Plan.Empty() { // only the pin dropped
		fmt.Fprintf(inv.stdout, "ZOPES=%d is no longer pinned: it follows the recommendation from now on\n", insp.ZopesWant)
		return
	}
	printNotes(inv, insp)
	switch insp.PatchState {
	case install.Absent, install.Stale:
		fmt.Fprintf(inv.stdout, "patched %s with %s; ZOPES=%d (%s)\n", install.ZopectlPath, insp.Selection.Entry.ID, insp.ZopesWant, insp.ZopesWhy)
	default:
		fmt.Fprintf(inv.stdout, "ZOPES %d → %d (%s)\n", insp.ZopesNow, insp.ZopesWant, insp.ZopesWhy)
	}
	fmt.Fprintf(inv.stdout, "vendor copy kept in %s; restart Zope to use it: %s/bin/zopectl restart\n", install.BackupDir, inst.Home)
}

func cmdRevert(inv *invocation, args []string) error {
	var f installFlags
	var dryRun bool
	fs := newFlags(inv, "revert", "revert [flags]", `
Bring back the vendor's bin/zopectl: byte for byte from the backup when
zopectl is as zenpatch wrote it (the sha256 is checked), else by reversing
the patch. Stop the extra instances first (zopectl stop) if they run.

Example:
  zenpatch revert --zenhome /opt/zenoss`)
	f.add(fs)
	fs.BoolVarP(&dryRun, "dry-run", "n", false, "print the diff and change nothing")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	inst, opt, err := f.openWith(inv, nil)
	if err != nil {
		return err
	}
	defer inst.Close()
	var r *install.Reversal
	if dryRun {
		r, err = inst.PlanRevert(opt)
	} else {
		r, err = inst.Revert(opt, install.CommitOptions{AfterStep: crashHook(inv)})
		printInstallNotes(inv, inst)
	}
	if err != nil {
		return err
	}
	if r.Absent {
		fmt.Fprintln(inv.stdout, "nothing to revert: no zenpatch patch is applied")
		return nil
	}
	if r.Note != "" {
		fmt.Fprintf(inv.stderr, "zenpatch: note: %s\n", r.Note)
	}
	if dryRun {
		return printDiff(inv, r.Plan)
	}
	fmt.Fprintf(inv.stdout, "reverted %s: removed %s (%s)\n", install.ZopectlPath, r.Patch, r.How)
	return nil
}

// crashHook lets the crash test kill the process at the Nth durable step
// of a commit (ZENPATCH_TEST_CRASH_AT=N); unset, it does nothing.
func crashHook(inv *invocation) func(string) {
	n, err := strconv.Atoi(inv.getenv("ZENPATCH_TEST_CRASH_AT"))
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
