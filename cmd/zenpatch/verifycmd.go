package main

import (
	"fmt"
	"os"

	"github.com/zenpatch/zenpatch/patches"
	"github.com/zenpatch/zenpatch/verify"
)

func cmdVerify(e *env, args []string) error {
	var c common
	var patchSet, live bool
	var fixtures, junit string
	fs := newFlags(e, "verify", "verify [--patch-set] [--live] [flags]", `
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
	c.installFlags(fs)
	c.sizingFlags(fs)
	fs.BoolVar(&patchSet, "patch-set", false, "verify the patch set against the fixtures (no install needed)")
	fs.StringVar(&fixtures, "fixtures", "", "with --patch-set: vendor installs in `DIR` (one per subdirectory) instead of the bundled ones")
	fs.BoolVar(&live, "live", false, "also check the running instances and balancer")
	fs.BoolVar(&c.json, "json", false, "print the report as JSON")
	fs.StringVar(&junit, "junit", "", "also write the report as JUnit XML to `FILE`")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	r := &verify.Report{}
	if patchSet {
		set, err := c.patchSet()
		if err != nil {
			return err
		}
		var fx []patches.Fixture
		if fixtures != "" {
			fx, err = verify.FixturesDir(fixtures)
		} else {
			fx, err = patches.Fixtures()
		}
		if err != nil {
			return withCode(exitError, fmt.Errorf("--fixtures: %w", err), "give a directory with one vendor install per subdirectory")
		}
		verify.PatchSet(r, set, fx)
	}
	if !patchSet || c.zenhome != "" || live {
		inst, opt, err := c.openWith(e)
		if err != nil {
			return err
		}
		defer inst.Close()
		hs := verify.HookState{Detail: "not installed: run 'zenpatch hook install' so upgrades re-apply the patch"}
		if rec, ok, err := readHookRecord(inst); err != nil {
			hs.Detail = err.Error()
		} else if rec != nil && ok {
			hs = verify.HookState{Installed: true, Detail: "yum and dnf actions under " + rec.Root}
		} else if rec != nil {
			hs.Detail = "recorded under " + rec.Root + " but the files are gone: run 'zenpatch hook install'"
		}
		verify.Install(r, inst, opt, hs)
		if live {
			verify.Live(e.ctx, r, inst)
		}
	}
	if junit != "" {
		f, err := os.CreateTemp(".", ".junit-*.xml")
		if err != nil {
			return withCode(exitError, err, "--junit needs a writable directory")
		}
		werr := r.WriteJUnit(f)
		if err := f.Close(); werr == nil {
			werr = err
		}
		if werr == nil {
			werr = os.Rename(f.Name(), junit)
		}
		if werr != nil {
			os.Remove(f.Name())
			return withCode(exitError, fmt.Errorf("--junit %s: %w", junit, werr), "give a writable file path")
		}
	}
	if c.json {
		if err := r.WriteJSON(e.stdout); err != nil {
			return err
		}
	} else {
		r.WriteText(e.stdout)
	}
	return quietCode(r.ExitCode())
}
