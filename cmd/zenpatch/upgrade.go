package main

import (
	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/upgrade"
)

func cmdUpgrade(inv *invocation, args []string) error {
	var f installFlags
	var s sizingFlags
	var noRestart, restart bool
	fs := newFlags(inv, "upgrade", "upgrade [flags]", `
The post-upgrade hook: detect the Zenoss version; if bin/zopectl was
replaced (its sha256 differs from what zenpatch wrote) or the patch is
missing, apply the patch for the new version and set ZOPES. Then it leaves
the Zopes as it found them:
  stopped (as after 'zenoss stop'): nothing is started
  a migration pending ($ZENHOME/.upgraded or .fresh_install): nothing is
    restarted even if Zope runs; the next 'zenoss start' migrates, then
    starts the instances
  running: a rolling restart through the balancer
Idempotent: a second run says so in one line. Every decision goes to
log/zenpatch.log. If no patch fits the new version (or it conflicts), the
vendor's zopectl is left untouched (a running multi-Zope setup hands the
HTTP port back to the vendor's single Zope) and zenpatch exits 3.

Examples:
  zenpatch upgrade                  # what the yum/dnf hook runs after 'yum update zenoss'
  zenpatch upgrade --no-restart     # patch now, restart in the maintenance window
  zenpatch upgrade --restart        # and start Zope even if it was stopped`)
	f.add(fs)
	s.add(fs)
	fs.BoolVar(&noRestart, "no-restart", false, "change files only; restart nothing")
	fs.BoolVar(&restart, "restart", false, "also start Zope if it was stopped (never while a migration is pending)")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	policy := upgrade.AsFound
	switch {
	case noRestart && restart:
		return usageErr("", "--restart and --no-restart contradict each other")
	case noRestart:
		policy = upgrade.Never
	case restart:
		policy = upgrade.Always
	}
	inst, opt, err := f.openWith(inv, &s)
	if err != nil {
		return err
	}
	defer inst.Close()
	defer printInstallNotes(inv, inst)
	return upgrade.Run(inv.ctx, inst, upgrade.Options{
		Inspect: opt, Commit: install.CommitOptions{AfterStep: crashHook(inv)},
		Restart: policy, Out: inv.stdout, Notes: inv.stderr,
	})
}
