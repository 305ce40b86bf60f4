package main

import (
	"os"
	"slices"
	"strings"
	"time"

	"github.com/zenpatch/zenpatch/internal/sandbox"
	"github.com/zenpatch/zenpatch/internal/sizing"
)

func cmdDemo(inv *invocation, args []string) error {
	d := sandbox.Demo{Out: inv.stdout, Err: inv.stderr}
	fs := newFlags(inv, "demo", "demo [flags]", `
The whole story on a sandbox Zenoss install that zenpatch creates in a
temporary directory (real-shaped zopectl, zope.conf and ZVersion.py; the
Zope is a stand-in Python server whose pages cost CPU under the GIL):
  1. one Zope, the vendor's way; status; a load run
  2. the dry-run diff, then 'upgrade': patch, ZOPES, N instances behind
     the balancer; the same load run
  3. a simulated Zenoss upgrade replaces zopectl; 'upgrade' restores the
     patch with a rolling restart under load (no request fails)
  4. the Zenoss way: 'zenoss stop', the package upgrade (.upgraded), the
     hook's 'upgrade' (patch only, nothing started), 'zenoss start'
  5. everything stops and the sandbox is removed (--keep: left running)
Needs only python3 besides zenpatch. Loopback only; about a minute.

Examples:
  zenpatch demo
  zenpatch demo --keep --zopes 3`)
	fs.BoolVar(&d.Keep, "keep", false, "leave the sandbox running and print how to use and remove it")
	fs.IntVar(&d.Zopes, "zopes", 0, "instances to run (default: the recommendation, at least 2)")
	fs.StringVar(&d.Shape, "version", "4.2.5", "sandbox shape: Zenoss "+strings.Join(sandbox.Shapes, " or "))
	fs.DurationVar(&d.Duration, "duration", 5*time.Second, "length of each load run")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if !slices.Contains(sandbox.Shapes, d.Shape) {
		return usageErr("", "--version %q: the sandbox comes as Zenoss %s", d.Shape, strings.Join(sandbox.Shapes, " or "))
	}
	if !fs.Changed("zopes") {
		d.Zopes = max(2, sizing.Recommend(sizing.Host(), 1, 0).Zopes)
	}
	if d.Zopes < 2 || d.Zopes > 16 {
		return usageErr("", "--zopes %d: the demo runs 2 to 16 instances", d.Zopes)
	}
	if _, err := sandbox.Python(); err != nil {
		return err
	}
	if d.Duration <= 0 {
		return usageErr("", "--duration %s: want a positive duration such as 5s", d.Duration)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	d.Exe = exe
	d.TTY = isTerminal(inv.stdout)
	d.Color = colorOn(inv, inv.stdout)
	return d.Run(inv.ctx)
}
