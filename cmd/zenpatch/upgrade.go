package main

import (
	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/upgrade"
)

func cmdUpgrade(inv *invocation, args []string) error {
	var f installFlags
	var s sizingFlags
	var noRestart bool
	fs := newFlags(inv, "upgrade", "upgrade [flags]", `
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
	f.add(fs)
	s.add(fs)
	fs.BoolVar(&noRestart, "no-restart", false, "change files only; restart nothing")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	inst, opt, err := f.openWith(inv, &s)
	if err != nil {
		return err
	}
	defer inst.Close()
	return upgrade.Run(inv.ctx, inst, upgrade.Options{
		Inspect: opt, Commit: install.CommitOptions{AfterStep: crashHook(inv)},
		NoRestart: noRestart, Out: inv.stdout, Notes: inv.stderr,
	})
}
