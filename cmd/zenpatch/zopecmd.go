package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/sandbox"
	"github.com/zenpatch/zenpatch/internal/zope"
)

func cmdZope(e *env, args []string) error {
	var c common
	fs := newFlags(e, "zope", "zope start|stop|restart|status [N] [flags]", `
Control the Zope instances of a patched install (ZOPES > 1) and the
balancer in front of them. This is what bin/zopectl calls; you may call it
too. Without N, the action covers every instance; with N, instance N only.
  start    start the instances that are not running (surplus ones, above
           ZOPES, are stopped), each waited for until it answers HTTP
  stop     stop everything; no process is left behind
  restart  restart the instances one at a time
  status   each instance: pid, port, up/down, uptime (exit 3 if any is down)
Other zopectl commands (fg, debug, run, logtail, …) run for instance 1.

Examples:
  zenpatch zope status
  zenpatch zope restart 2`)
	c.installFlags(fs)
	fs.BoolVar(&c.json, "json", false, "status: print JSON")
	fs.SetInterspersed(true)
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 {
		return usageErr("zope needs an action: start, stop, restart or status")
	}
	action, rest := fs.Arg(0), fs.Args()[1:]
	inst, err := c.open(e)
	if err != nil {
		return err
	}
	defer inst.Close()
	ctl, err := zope.New(inst, e.stdout)
	if err != nil {
		return withCode(exitError, err, "fix "+install.ZopeConfPath+" (it must have an <http-server> with an address) or "+install.SettingsPath)
	}
	n := 0
	if len(rest) > 0 {
		switch action {
		case "start", "stop", "restart", "status":
			v, err := strconv.Atoi(rest[0])
			if err != nil || v < 1 || len(rest) > 1 {
				return usageErr("zope %s takes one instance number from 1 to ZOPES=%d, got %q", action, ctl.Zopes, rest)
			}
			if v > ctl.Zopes && action != "stop" && action != "status" {
				return usageErr("instance %d does not exist: ZOPES=%d", v, ctl.Zopes)
			}
			n = v
		}
	}
	if err := preflight(ctl); err != nil {
		return err
	}
	switch action {
	case "start", "stop", "restart":
		exe, err := os.Executable()
		if err != nil {
			return err
		}
		return zopeAction(e, ctl, action, n, exe)
	case "status":
		return zopeStatus(e, ctl, n, c.json)
	default:
		// fg, debug, run, logtail…: the vendor script, for instance 1.
		fmt.Fprintf(e.stderr, "zenpatch: note: zopectl %s runs for instance 1 (ZOPES=%d)\n", action, ctl.Zopes)
		in, err := inst.WriteInstanceConfig(ctl.Conf, 1, ctl.Settings.BasePort)
		if err != nil {
			return err
		}
		cmd := exec.CommandContext(e.ctx, inst.Abs(install.ZopectlPath), fs.Args()...)
		cmd.Env = append(os.Environ(), "ZENPATCH_INSTANCE=1", "ZENPATCH_CONFIG_FILE="+inst.Abs(in.ConfigPath))
		cmd.Stdin, cmd.Stdout, cmd.Stderr = e.stdin, e.stdout, e.stderr
		cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
		if err := cmd.Run(); err != nil {
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return quietCode(ee.ExitCode())
			}
			return err
		}
		return nil
	}
}

// preflight checks what a sandbox needs: its stand-in Zope is Python.
func preflight(ctl *zope.Controller) error {
	for _, p := range sandbox.StandinPaths {
		if data, err := ctl.Inst.ReadFile(p); err == nil && sandbox.IsStandin(data) {
			if _, err := sandbox.Python(); err != nil {
				return withCode(exitError, err, "the sandbox's stand-in Zope needs python3; a real Zope uses the install's own Python")
			}
		}
	}
	return nil
}

func zopeErr(err error) error {
	if err == nil {
		return nil
	}
	var pe *zope.PortError
	if errors.As(err, &pe) {
		return withCode(exitError, err, "stop what holds the port, or move the instances with base-port in "+install.SettingsPath)
	}
	var se *zope.StartError
	if errors.As(err, &se) {
		return withCode(exitError, err, "read the instance's event log above; nothing of this start was left running")
	}
	return err
}

func zopeStatus(e *env, ctl *zope.Controller, n int, asJSON bool) error {
	all := ctl.StatusAll(e.ctx)
	var sel []zope.Status
	for _, s := range all {
		if n == 0 || s.N == n {
			sel = append(sel, s)
		}
	}
	down := 0
	for _, s := range sel {
		if !s.Surplus && !s.Answers {
			down++
		}
	}
	vpid, vup := ctl.VendorStatus()
	if asJSON {
		out := map[string]any{"zopes": ctl.Zopes, "instances": sel}
		if vup {
			out["single_zope_pid"] = vpid
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(e.stdout, "ZOPES=%d\n", ctl.Zopes)
		if pid, ok := ctl.BalancerRunning(); ok {
			fmt.Fprintf(e.stdout, "balancer  pid %d on %s\n", pid, ctl.ListenAddr())
		} else if ctl.Multi() {
			fmt.Fprintf(e.stdout, "balancer  not running\n")
		}
		if vup {
			fmt.Fprintf(e.stdout, "single Zope (vendor config) running, pid %d\n", vpid)
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
			if s.Running {
				fmt.Fprintf(e.stdout, "instance %d  port %d  pid %d  %s  uptime %s%s\n", s.N, s.Port, s.PID, state, s.Uptime.Round(time.Second), extra)
			} else {
				fmt.Fprintf(e.stdout, "instance %d  port %d  %s%s\n", s.N, s.Port, state, extra)
			}
		}
	}
	if ctl.Multi() && (down > 0 || len(sel) == 0) {
		return quietCode(exitConflict)
	}
	return nil
}

// zopeAction starts, stops or restarts instance n (0: all) and the balancer.
func zopeAction(e *env, ctl *zope.Controller, action string, n int, exe string) error {
	argv0 := os.Args[0]
	switch action {
	case "start":
		if n > 0 {
			return zopeErr(ctl.StartOne(e.ctx, n))
		}
		if !ctl.Multi() { // ZOPES=1: the vendor Zope needs the balancer's port
			if err := ctl.StopBalancer(e.ctx); err != nil {
				return err
			}
		}
		if err := ctl.StartAll(e.ctx); err != nil {
			return zopeErr(err)
		}
		if !ctl.Multi() {
			return nil
		}
		if ctl.Settings.BalancerOff {
			fmt.Fprintf(e.stdout, "balancer off (%s): your own front end serves %s\n", install.SettingsPath, ctl.ListenAddr())
			return nil
		}
		if err := ctl.StartBalancer(e.ctx, exe, argv0); err != nil {
			return withCode(exitError, err, "the instances run; fix the balancer and run 'zopectl start' again")
		}
		return nil
	case "stop":
		if n > 0 {
			return zopeErr(ctl.StopOne(e.ctx, n))
		}
		if err := ctl.StopBalancer(e.ctx); err != nil {
			return err
		}
		return zopeErr(ctl.StopAll(e.ctx))
	case "restart":
		if !ctl.Multi() {
			if err := ctl.StopBalancer(e.ctx); err != nil {
				return err
			}
			if err := ctl.StopAll(e.ctx); err != nil {
				return err
			}
			return zopeErr(ctl.StartAll(e.ctx))
		}
		list := []int{n}
		if n == 0 {
			if err := ctl.StopSurplus(e.ctx); err != nil {
				return err
			}
			list = nil
			for i := 1; i <= ctl.Zopes; i++ {
				list = append(list, i)
			}
		}
		if err := ctl.RollingRestart(e.ctx, list); err != nil {
			return zopeErr(err)
		}
		if n == 0 { // instances added by a raised ZOPES, and the balancer
			if err := ctl.StartAll(e.ctx); err != nil {
				return zopeErr(err)
			}
			if ctl.Settings.BalancerOff {
				return nil
			}
			return ctl.StartBalancer(e.ctx, exe, argv0)
		}
		return nil
	}
	return usageErr("unknown zope action %q", action)
}
