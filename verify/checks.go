package verify

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	version "github.com/hashicorp/go-version"

	"github.com/zenpatch/zenpatch/apply"
	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/zope"
	"github.com/zenpatch/zenpatch/patches"
)

// PatchSet checks every patch of set against every fixture whose version
// it claims: it applies cleanly, the result passes 'sh -n', it is then
// seen as applied, and reversing it gives the vendor bytes back. A patch
// that claims no fixture is reported as drift (it was never checked).
func PatchSet(r *Report, set *patches.Set, fixtures []patches.Fixture) {
	if len(set.Entries) == 0 {
		r.Add("patch-set", "index", Error, set.Source+": the index lists no patch: nothing was checked", 0)
	}
	if len(fixtures) == 0 {
		r.Add("patch-set", "fixtures", Error, "no vendor fixture: nothing was checked", 0)
	}
	for _, e := range set.Entries {
		start := time.Now()
		p, err := e.Patch()
		if err != nil {
			r.Add("patch-set", e.ID, Error, err.Error(), time.Since(start))
			continue
		}
		claimed := 0
		for _, fx := range fixtures {
			v, ok := install.ParseZVersion(fx.Files[install.VersionPath])
			if !ok {
				continue
			}
			ver, err := version.NewVersion(v.Version)
			if err != nil || !e.Matches(ver) {
				continue
			}
			claimed++
			t0 := time.Now()
			st, detail := checkOne(p, fx)
			r.Add("patch-set", e.ID+"@"+fx.Name, st, detail, time.Since(t0))
		}
		if claimed == 0 {
			r.Add("patch-set", e.ID, Drift, fmt.Sprintf("no fixture of a version it claims (%s); nothing checked it", e.Versions), time.Since(start))
		}
	}
}

func checkOne(p *apply.Patch, fx patches.Fixture) (Status, string) {
	var notes []string
	for _, f := range p.Files {
		orig, ok := fx.Files[f.Path]
		if !ok {
			return Conflict, f.Path + ": not in the fixture"
		}
		rev := p.Reverse().File(f.Path)
		revs := []*apply.File{rev}
		fit := apply.Check(orig, f, revs, apply.MaxFuzz)
		if fit.Verdict != apply.Pending {
			if fit.Err != nil {
				return Conflict, fit.Err.Error()
			}
			return Conflict, fmt.Sprintf("%s: the vendor file already looks patched", f.Path)
		}
		out := fit.Out
		for _, pl := range fit.Places {
			notes = append(notes, pl.String())
		}
		if err := shSyntax(out); err != nil {
			return Error, fmt.Sprintf("%s after the patch fails sh -n: %v", f.Path, err)
		}
		if apply.Check(out, f, revs, apply.MaxFuzz).Verdict != apply.Applied {
			return Error, f.Path + ": after applying, the patch is not seen as applied"
		}
		back, _, err := apply.ApplyFile(out, rev, 0)
		if err != nil || !bytes.Equal(back, orig) {
			return Error, f.Path + ": reversing does not give the vendor bytes back"
		}
	}
	return OK, strings.Join(notes, "; ") + "; sh -n ok; revert exact"
}

func shSyntax(script []byte) error {
	f, err := os.CreateTemp("", "zenpatch-verify-*.sh")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(script); err != nil {
		f.Close()
		return err
	}
	f.Close()
	out, err := exec.Command("sh", "-n", f.Name()).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// FixturesDir reads every subdirectory of dir that holds a bin/zopectl as
// a fixture (vendor files, as shipped).
func FixturesDir(dir string) ([]patches.Fixture, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []patches.Fixture
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		sub := filepath.Join(dir, e.Name())
		if _, err := os.Stat(filepath.Join(sub, install.ZopectlPath)); err != nil {
			continue
		}
		f, err := patches.ReadFixture(e.Name(), os.DirFS(sub))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", sub, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// HookState is whether the upgrade hook is in place, as the caller found.
type HookState struct {
	Installed bool
	Detail    string
}

// Install checks an install: the patch is current for its version, ZOPES
// is as wanted, instance configs match zope.conf, the hook is installed.
func Install(r *Report, inst *install.Install, opt install.Options, hook HookState) {
	t0 := time.Now()
	insp, err := inst.Inspect(opt)
	if err != nil {
		r.Add("install", "patch", Error, err.Error(), time.Since(t0))
		return
	}
	switch insp.PatchState {
	case install.Applied:
		r.Add("install", "patch", OK, fmt.Sprintf("%s applied (Zenoss %s from %s)", insp.AppliedID, insp.Version.Version, insp.Version.Source), time.Since(t0))
	case install.Absent:
		r.Add("install", "patch", Drift, fmt.Sprintf("%s is not applied: run 'zenpatch apply'", insp.Selection.Entry.ID), time.Since(t0))
	case install.Stale:
		r.Add("install", "patch", Drift, fmt.Sprintf("%s is applied; %s replaces it: run 'zenpatch apply'", insp.AppliedID, insp.Selection.Entry.ID), time.Since(t0))
	case install.Unsupported:
		r.Add("install", "patch", Unsupported, insp.Problem.Error(), time.Since(t0))
		return
	default:
		r.Add("install", "patch", Conflict, fmt.Sprintf("%s: %v", insp.PatchState, insp.Problem), time.Since(t0))
		return
	}
	if insp.ZopesErr != nil {
		r.Add("install", "zopes", Error, insp.ZopesErr.Error(), 0)
	} else if insp.ZopesNow == insp.ZopesWant {
		r.Add("install", "zopes", OK, fmt.Sprintf("ZOPES=%d (%s)", insp.ZopesNow, insp.ZopesWhy), 0)
	} else if insp.ZopesNow == 0 {
		r.Add("install", "zopes", Drift, fmt.Sprintf("no ZOPES line (unpatched: one Zope), want %d (%s): run 'zenpatch apply'", insp.ZopesWant, insp.ZopesWhy), 0)
	} else {
		r.Add("install", "zopes", Drift, fmt.Sprintf("ZOPES=%d, want %d (%s): run 'zenpatch apply'", insp.ZopesNow, insp.ZopesWant, insp.ZopesWhy), 0)
	}
	t0 = time.Now()
	ctl, err := zope.New(inst, nil)
	if err != nil {
		r.Add("install", "instance-configs", Error, err.Error(), time.Since(t0))
	} else {
		var stale []string
		runzope, rzErr := inst.ReadFile(install.RunzopePath)
		for _, n := range ctl.Known() {
			zi, want := install.DeriveInstance(ctl.Conf, n, ctl.Settings.BasePort)
			have, err := inst.ReadFile(zi.ConfigPath)
			if err != nil {
				continue // not started yet: derived at its first start
			}
			wantRZ, err := install.DeriveRunzope(runzope, n, inst.Abs(zi.ConfigPath))
			haveRZ, herr := inst.ReadFile(zi.RunzopePath)
			if !bytes.Equal(have, want) || rzErr != nil || err != nil || herr != nil || !bytes.Equal(haveRZ, wantRZ) {
				stale = append(stale, fmt.Sprint(n))
			}
		}
		if len(stale) == 0 {
			r.Add("install", "instance-configs", OK, "every instance config matches zope.conf and bin/runzope", time.Since(t0))
		} else {
			r.Add("install", "instance-configs", Drift, fmt.Sprintf("instance %s started with an older zope.conf or bin/runzope: run 'zopectl restart'", strings.Join(stale, ", ")), time.Since(t0))
		}
	}
	switch {
	case hook.Installed:
		r.Add("install", "hook", OK, hook.Detail, 0)
	case ctl != nil && ctl.Settings.HookOff:
		r.Add("install", "hook", Skipped, "hook off in "+install.SettingsPath+": upgrades run 'zenpatch upgrade' some other way", 0)
	default:
		r.Add("install", "hook", Drift, hook.Detail, 0)
	}
}

// Live checks that every instance answers HTTP, that the balancer
// answers, and that each instance is reached through the balancer.
func Live(ctx context.Context, r *Report, inst *install.Install) {
	t0 := time.Now()
	ctl, err := zope.New(inst, nil)
	if err != nil {
		r.Add("live", "instances", Error, err.Error(), time.Since(t0))
		return
	}
	if !ctl.Multi() {
		p := ctl.VendorProc()
		switch {
		case p.Running():
			r.Add("live", "zope", OK, fmt.Sprintf("single Zope running (pid %d); ZOPES=1", p.PID), time.Since(t0))
		case p.Stale() != "":
			r.Add("live", "zope", Error, "ZOPES=1 and no Zope runs; its "+p.Stale(), time.Since(t0))
		default:
			r.Add("live", "zope", Error, "ZOPES=1 and no Zope runs", time.Since(t0))
		}
		return
	}
	for _, s := range ctl.StatusAll(ctx) {
		if s.Surplus {
			if s.Running {
				r.Add("live", fmt.Sprintf("instance-%d", s.N), Drift, "surplus instance still running: 'zopectl start' stops it", 0)
			}
			continue
		}
		if s.Answers {
			r.Add("live", fmt.Sprintf("instance-%d", s.N), OK, fmt.Sprintf("pid %d answers on port %d", s.PID, s.Port), 0)
		} else if s.Stale != "" {
			r.Add("live", fmt.Sprintf("instance-%d", s.N), Error, fmt.Sprintf("does not run: its %s", s.Stale), 0)
		} else {
			r.Add("live", fmt.Sprintf("instance-%d", s.N), Error, fmt.Sprintf("does not answer on port %d", s.Port), 0)
		}
	}
	if ctl.Settings.BalancerOff {
		r.Add("live", "balancer", Skipped, "balancer off in etc/zenpatch.conf (your own front end)", 0)
		return
	}
	t0 = time.Now()
	before, err := ctl.Admin().Status(ctx)
	if err != nil {
		r.Add("live", "balancer", Error, "the balancer does not answer on "+zope.AdminSocket+": "+err.Error(), time.Since(t0))
		return
	}
	r.Add("live", "balancer", OK, fmt.Sprintf("answers; %d backends", len(before.Backends)), time.Since(t0))
	// Through the public address: enough requests that every backend
	// serves some (least-outstanding with round-robin ties).
	addr := ctl.ListenAddr()
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	t0 = time.Now()
	for range 4 * len(before.Backends) {
		resp, err := client.Get("http://" + addr + ctl.Settings.HealthPath)
		if err != nil {
			r.Add("live", "through-balancer", Error, err.Error(), time.Since(t0))
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	after, err := ctl.Admin().Status(ctx)
	if err != nil {
		r.Add("live", "through-balancer", Error, err.Error(), time.Since(t0))
		return
	}
	for i, b := range after.Backends {
		name := "through-balancer-" + b.Name
		if i < len(before.Backends) && b.Served > before.Backends[i].Served {
			r.Add("live", name, OK, fmt.Sprintf("reached via %s (%s)", addr, b.State), time.Since(t0))
		} else {
			r.Add("live", name, Error, fmt.Sprintf("not reached via %s (state %s)", addr, b.State), time.Since(t0))
		}
	}
	// zope.conf's further <http-server> addresses: each answers through
	// the balancer too.
	for _, a := range ctl.ListenAddrs()[1:] {
		dial := a
		if strings.HasPrefix(a, ":") {
			dial = "127.0.0.1" + a
		}
		t0 = time.Now()
		resp, err := client.Get("http://" + dial + ctl.Settings.HealthPath)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode >= 500 {
				err = fmt.Errorf("answered %s", resp.Status)
			}
		}
		if err != nil {
			r.Add("live", "listener-"+a, Error, err.Error(), time.Since(t0))
		} else {
			r.Add("live", "listener-"+a, OK, "the balancer answers on zope.conf's further <http-server> address", time.Since(t0))
		}
	}
}
