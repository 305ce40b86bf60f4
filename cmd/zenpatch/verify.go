package main

import (
	"fmt"

	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/patches"
	"github.com/zenpatch/zenpatch/verify"
)

func cmdVerify(inv *invocation, args []string) error {
	var f installFlags
	var s sizingFlags
	var patchSet, live, asJSON bool
	var fixtures, junit string
	fs := newFlags(inv, "verify", "verify [--patch-set] [--live] [flags]", `
Check, for CI and monitoring. Exit 0: all ok; 2: drift (something to apply
or restart); 3: a patch conflicts or the version is unsupported; 1: error.
  --patch-set  every patch (bundled, or --patches DIR) against every vendor
               fixture it claims: applies cleanly, passes sh -n, reverts exactly
  (default)    the install: patch current for its version, ZOPES as
               recommended or pinned, instance configs match zope.conf,
               upgrade hook installed
  --live       also: every instance and the balancer answer, and each
               instance is reached through the balancer

Examples:
  zenpatch verify --patch-set --junit verify.xml      # in the project's CI
  zenpatch verify --live --json                       # on the server, from monitoring`)
	f.add(fs)
	s.add(fs)
	fs.BoolVar(&patchSet, "patch-set", false, "verify the patch set against the fixtures (no install needed)")
	fs.StringVar(&fixtures, "fixtures", "", "with --patch-set: vendor installs in `DIR` (one per subdirectory) instead of the bundled ones")
	fs.BoolVar(&live, "live", false, "also check the running instances and balancer")
	fs.BoolVar(&asJSON, "json", false, "print the report as JSON")
	fs.StringVar(&junit, "junit", "", "also write the report as JUnit XML to `FILE`")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if fixtures != "" && !patchSet {
		return usageErr("", "--fixtures goes with --patch-set")
	}
	r := &verify.Report{}
	if patchSet {
		if err := verifyPatchSet(r, &f, fixtures); err != nil {
			return err
		}
	}
	if !patchSet || f.zenhome != "" || live {
		if err := verifyInstall(inv, r, &f, &s, live); err != nil {
			if !asJSON {
				return err
			}
			// For a monitoring job reading JSON: the failure is a check.
			_, hint, _ := classify(err)
			r.Add("install", "open", verify.Error, err.Error()+" (hint: "+hint+")", 0)
		}
	}
	return writeReport(inv, r, junit, asJSON)
}

// writeReport prints r (as text or JSON), writes its JUnit form to junit
// if given, and returns its outcome: the error that sets the exit code.
func writeReport(inv *invocation, r *verify.Report, junit string, asJSON bool) error {
	if junit != "" {
		if err := r.WriteJUnitFile(junit); err != nil {
			return withHint(fmt.Errorf("--junit %s: %w", junit, err), "give a writable file path")
		}
	}
	outcome := r.Err()
	if asJSON {
		code, _, _ := classify(outcome)
		if err := r.WriteJSON(inv.stdout, code); err != nil {
			return err
		}
	} else {
		r.WriteText(inv.stdout)
	}
	return outcome
}

func verifyPatchSet(r *verify.Report, f *installFlags, dir string) error {
	set, err := f.patchSet()
	if err != nil {
		return err
	}
	var fx []patches.Fixture
	if dir != "" {
		fx, err = verify.FixturesDir(dir)
	} else {
		fx, err = patches.Fixtures()
	}
	if err != nil {
		return withHint(fmt.Errorf("--fixtures: %w", err), "give a directory with one vendor install per subdirectory")
	}
	verify.PatchSet(r, set, fx)
	return nil
}

// verifyInstall checks the install (and with live, what runs).
func verifyInstall(inv *invocation, r *verify.Report, f *installFlags, s *sizingFlags, live bool) error {
	inst, opt, err := f.openWith(inv, s)
	if err != nil {
		return err
	}
	defer inst.Close()
	verify.Install(r, inst, opt, hookState(inst))
	if live {
		verify.Live(inv.ctx, r, inst)
	}
	return nil
}

// hookState is what verify reports of the upgrade hook.
func hookState(inst *install.Install) verify.HookState {
	rec, ok, err := readHookRecord(inst)
	switch {
	case err != nil:
		return verify.HookState{Detail: err.Error()}
	case rec != nil && ok:
		return verify.HookState{Installed: true, Detail: "yum and dnf actions under " + rec.Root}
	case rec != nil:
		return verify.HookState{Detail: "recorded under " + rec.Root + " but the files are gone: run 'zenpatch hook install'"}
	}
	return verify.HookState{Detail: "not installed: run 'zenpatch hook install' so upgrades re-apply the patch"}
}
