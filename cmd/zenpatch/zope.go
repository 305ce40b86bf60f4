package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zenpatch/zenpatch/internal/balancer"
	"github.com/zenpatch/zenpatch/internal/zope"
)

func cmdZope(inv *invocation, args []string) error {
	var f installFlags
	var asJSON bool
	fs := newFlags(inv, "zope", "zope start|stop|restart|status [N] [flags]", `
Control the Zope instances of a patched install (ZOPES > 1) and the
balancer in front of them. This is what bin/zopectl calls; you may call it
too. Without N, the action covers every instance; with N, instance N only.
  start    start the instances that are not running (surplus ones, above
           ZOPES, are stopped), each waited for until it answers HTTP
  stop     stop everything; no process is left behind
  restart  restart the instances one at a time
  status   each instance: pid, port, up/down, uptime (exit 3 if any is
           down; with ZOPES=1, if the single Zope is down)
Zope's own zopectl commands (fg, foreground, debug, run, logtail, show,
kill, wait, reopen_transcript, adduser, test) run through bin/zopectl, for
instance 1 (for the single Zope when ZOPES=1).

Examples:
  zenpatch zope status
  zenpatch zope restart 2`)
	f.addHome(fs)
	fs.BoolVar(&asJSON, "json", false, "status: print JSON")
	fs.SetInterspersed(true)
	if err := parse(fs, args, -1); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usageErr("", "zope needs an action: start, stop, restart or status")
	}
	action, rest := fs.Arg(0), fs.Args()[1:]
	own := action == "status" || slices.Contains(zope.Actions, action)
	if !own && !slices.Contains(zope.ZopectlCommands, action) {
		return usageErr("zope", "unknown zope action %q: zenpatch does start, stop, restart and status, and passes zopectl's own %s to bin/zopectl", action, strings.Join(zope.ZopectlCommands, ", "))
	}
	inst, err := f.open(inv)
	if err != nil {
		return err
	}
	defer inst.Close()
	ctl, err := zope.New(inst, inv.stdout)
	if err != nil {
		return err
	}
	if !own {
		// fg, debug, run, logtail…: the vendor script, for instance 1.
		if ctl.Multi() {
			fmt.Fprintf(inv.stderr, "zenpatch: note: zopectl %s runs for instance 1 (ZOPES=%d)\n", action, ctl.Zopes)
		}
		return ctl.Passthrough(inv.ctx, fs.Args(), inv.stdin, inv.stdout, inv.stderr)
	}
	n, err := instanceArg(action, rest, ctl.Zopes, ctl.Known())
	if err != nil {
		return err
	}
	if action == "status" {
		return zopeStatus(inv, ctl, n, asJSON)
	}
	return ctl.Action(inv.ctx, action, n)
}

// instanceArg reads the optional instance number N of a zope action: one
// of 1..ZOPES; for status also an instance zenpatch knows (surplus, above
// ZOPES); for stop any (nothing to stop is done at once).
func instanceArg(action string, rest []string, zopes int, known []int) (int, error) {
	if len(rest) == 0 {
		return 0, nil
	}
	n, err := strconv.Atoi(rest[0])
	if err != nil || n < 1 || len(rest) > 1 {
		return 0, usageErr("", "zope %s takes one instance number from 1 to ZOPES=%d, got %q", action, zopes, rest)
	}
	switch {
	case n <= zopes, action == "stop": // stopping what does not run is done at once
		return n, nil
	case action == "status" && slices.Contains(known, n):
		return n, nil
	}
	return 0, usageErr("", "instance %d does not exist: ZOPES=%d", n, zopes)
}

// zopeStatus prints instance n's state (0: all) and the balancer's; an
// instance down is zope.ErrDown (exit 3, as LSB init scripts do).
func zopeStatus(inv *invocation, ctl *zope.Controller, n int, asJSON bool) error {
	var sel []zope.Status
	down := 0
	for _, s := range ctl.StatusAll(inv.ctx) {
		if n == 0 || s.N == n {
			sel = append(sel, s)
			if !s.Surplus && !s.Answers {
				down++
			}
		}
	}
	if n > 0 {
		// one instance asked for: its own state, surplus or not
		down = 0
		for _, s := range sel {
			if !s.Answers {
				down++
			}
		}
	}
	vendor := ctl.VendorProc()
	vpid, vup := vendor.PID, vendor.Running()
	if asJSON {
		out := map[string]any{"zopes": ctl.Zopes, "instances": sel}
		if vup {
			out["single_zope_pid"] = vpid
		}
		if s := vendor.Stale(); s != "" {
			out["single_zope_stale"] = s
		}
		if s := ctl.BalancerProc().Stale(); s != "" {
			out["balancer_stale"] = s
		}
		enc := json.NewEncoder(inv.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		printZopeStatus(inv, ctl, sel, vendor, n)
	}
	switch {
	case n > 0 && (down > 0 || len(sel) == 0):
		return zope.ErrDown
	case n == 0 && ctl.Multi() && (down > 0 || len(sel) == 0):
		return zope.ErrDown
	case n == 0 && !ctl.Multi() && !vup:
		return zope.ErrDown // the single Zope is down
	}
	return nil
}

func printZopeStatus(inv *invocation, ctl *zope.Controller, sel []zope.Status, vendor zope.Proc, n int) {
	w := inv.stdout
	fmt.Fprintf(w, "ZOPES=%d\n", ctl.Zopes)
	lb := ctl.BalancerProc()
	var lbStatus map[string]balancer.BackendStatus
	switch {
	case lb.Running():
		fmt.Fprintf(w, "balancer  pid %d on %s\n", lb.PID, ctl.ListenAddr())
		lbStatus = printAffinity(inv, ctl)
	case lb.Stale() != "":
		fmt.Fprintf(w, "balancer  not running (%s)\n", lb.Stale())
	case ctl.Multi():
		fmt.Fprintf(w, "balancer  not running\n")
	}
	switch {
	case vendor.Running():
		fmt.Fprintf(w, "single Zope (vendor config) running, pid %d\n", vendor.PID)
	case vendor.Stale() != "":
		fmt.Fprintf(w, "single Zope (vendor config) not running (%s)\n", vendor.Stale())
	case !ctl.Multi() && n == 0:
		fmt.Fprintf(w, "single Zope (vendor config) not running\n")
	}
	for _, s := range sel {
		state := "down"
		switch {
		case s.Answers:
			state = "up"
		case s.Running:
			state = "running, not answering"
		}
		extra := ""
		if s.Surplus {
			extra = " (surplus)"
		}
		if s.Stale != "" {
			extra += " (" + s.Stale + ")"
		}
		if b, ok := lbStatus[strconv.Itoa(s.N)]; ok && b.Home+b.Spilled > 0 {
			extra += fmt.Sprintf("  home %.0f%% of %d keyed", 100*float64(b.Home)/float64(b.Home+b.Spilled), b.Home+b.Spilled)
		}
		if s.Running {
			fmt.Fprintf(w, "instance %d  port %d  pid %d  %s  uptime %s%s\n", s.N, s.Port, s.PID, state, s.Uptime.Round(time.Second), extra)
		} else {
			fmt.Fprintf(w, "instance %d  port %d  %s%s\n", s.N, s.Port, state, extra)
		}
	}
}

// printAffinity prints the balancer's object-affinity figures (the share
// of requests with a key, and of those the share served by their key's
// home instance) and returns its backends by name; nil when it does not
// answer.
func printAffinity(inv *invocation, ctl *zope.Controller) map[string]balancer.BackendStatus {
	ctx, cancel := context.WithTimeout(inv.ctx, 2*time.Second)
	defer cancel()
	st, err := ctl.Admin().Status(ctx)
	if err != nil {
		fmt.Fprintf(inv.stdout, "affinity  unknown: the balancer's admin API does not answer (%v)\n", err)
		return nil
	}
	if st.KeyedShare > 0 {
		fmt.Fprintf(inv.stdout, "affinity  %.0f%% of requests name a Zenoss object; %.0f%% of those served by the object's home instance\n", 100*st.KeyedShare, 100*st.HomeShare)
	}
	out := map[string]balancer.BackendStatus{}
	for _, b := range st.Backends {
		out[b.Name] = b
	}
	return out
}
