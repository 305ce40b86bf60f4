package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/sizing"
)

// statusJSON is the stable --json form of status (documented in README).
type statusJSON struct {
	Zenhome  string           `json:"zenhome"`
	Version  *install.Version `json:"zenoss"`
	WebTier  install.WebTier  `json:"web_tier"`
	Patch    patchJSON        `json:"patch"`
	Zopes    zopesJSON        `json:"zopes"`
	ZopeConf *confJSON        `json:"zope_conf,omitempty"`
	Hook     hookJSON         `json:"hook"`
	Problems []string         `json:"problems"`
}

type patchJSON struct {
	State    install.PatchState `json:"state"`
	Selected string             `json:"selected,omitempty"`
	Exact    bool               `json:"exact_version_match"`
	Note     string             `json:"note,omitempty"`
	Applied  string             `json:"applied,omitempty"`
	Pending  bool               `json:"changes_pending"`
	Record   *install.Record    `json:"state_file,omitempty"`
}

type hookJSON struct {
	Installed bool   `json:"installed"` // both action files in place
	Root      string `json:"root,omitempty"`
	Command   string `json:"command,omitempty"`
}

type zopesJSON struct {
	Now         int                    `json:"now"` // 0: unpatched
	Want        int                    `json:"want"`
	Why         string                 `json:"why"`
	Recommended *sizing.Recommendation `json:"recommendation,omitempty"`
}

type confJSON struct {
	HTTPAddress string   `json:"http_address"`
	Threads     int      `json:"zserver_threads"`
	Storage     string   `json:"storage"`
	ZEOClients  []string `json:"zeo_clients,omitempty"`
	Error       string   `json:"error,omitempty"`
}

func cmdStatus(inv *invocation, args []string) error {
	var f installFlags
	var s sizingFlags
	var asJSON bool
	fs := newFlags(inv, "status", "status [flags]", `
Show what zenpatch knows of the install: the Zenoss version and the file it
came from, the patch state (absent, applied, stale, conflict, unsupported),
ZOPES now and recommended with each term of the reasoning, and zope.conf's
HTTP address and threads. Reads only.

Examples:
  zenpatch status
  zenpatch status --json | jq .patch.state`)
	f.add(fs)
	s.add(fs)
	fs.BoolVar(&asJSON, "json", false, "print the stable JSON form")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	inst, opt, err := f.openWith(inv, &s)
	if err != nil {
		return err
	}
	defer inst.Close()
	insp, err := inst.Inspect(opt)
	if err != nil {
		return err
	}
	st := gatherStatus(inst, insp)
	if asJSON {
		enc := json.NewEncoder(inv.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	printStatus(inv.stdout, st)
	return nil
}

// gatherStatus puts together what status shows.
func gatherStatus(inst *install.Install, insp *install.Inspection) *statusJSON {
	st := &statusJSON{Zenhome: inst.Home, Problems: []string{}}
	if insp.Version.Version != "" {
		v := insp.Version
		st.Version = &v
	}
	st.WebTier = insp.WebTier
	st.Patch = patchJSON{State: insp.PatchState, Applied: insp.AppliedID, Record: insp.Recorded, Pending: insp.Pending()}
	if insp.Selection.Entry != nil {
		st.Patch.Selected, st.Patch.Exact, st.Patch.Note = insp.Selection.Entry.ID, insp.Selection.Exact, insp.Selection.Note
	}
	for _, p := range insp.Problems() {
		st.Problems = append(st.Problems, p.Error())
	}
	st.Zopes = zopesJSON{Now: insp.ZopesNow, Want: insp.ZopesWant, Why: insp.ZopesWhy, Recommended: insp.Sizing}
	if zc, err := inst.ReadZopeConf(); err != nil {
		st.ZopeConf = &confJSON{Error: err.Error()}
		st.Problems = append(st.Problems, err.Error())
	} else {
		st.ZopeConf = &confJSON{HTTPAddress: zc.HTTPAddress(), Threads: zc.Threads, Storage: zc.Storage, ZEOClients: zc.ZEOClients}
		if _, err := inst.ReadSettings(zc); err != nil {
			st.Problems = append(st.Problems, err.Error())
		}
	}
	if rec, ok, err := readHookRecord(inst); err != nil {
		st.Problems = append(st.Problems, err.Error())
	} else if rec != nil {
		st.Hook = hookJSON{Installed: ok, Root: rec.Root, Command: rec.Rule}
		if !ok {
			st.Problems = append(st.Problems, "the upgrade hook was installed under "+rec.Root+" but its files are gone: run 'zenpatch hook install' again")
		}
	}
	return st
}

func printStatus(w io.Writer, st *statusJSON) {
	row := func(k, f string, a ...any) { fmt.Fprintf(w, "%-10s %s\n", k, fmt.Sprintf(f, a...)) }
	row("ZENHOME", "%s", st.Zenhome)
	if v := st.Version; v != nil {
		build := ""
		if v.Build != "" {
			build = " (build " + v.Build + ")"
		}
		row("version", "Zenoss %s%s, from %s", v.Version, build, v.Source)
	} else {
		row("version", "unknown")
	}
	if w := st.WebTier; w.Program != "" && !w.Zopectl() {
		row("web tier", "%s (%s: webserverctl %s): not zopectl, so zenpatch leaves it alone", w.Program, w.Source, w.Program)
	}
	p := st.Patch
	switch p.State {
	case install.Absent:
		row("patch", "absent: %s fits; 'zenpatch apply' adds it", p.Selected)
	case install.Applied:
		row("patch", "applied: %s", p.Applied)
	case install.Stale:
		row("patch", "stale: %s is applied; 'zenpatch apply' replaces it with %s", p.Applied, p.Selected)
	case install.Conflict:
		row("patch", "conflict: %s does not fit bin/zopectl (nothing will be changed)", p.Selected)
	case install.Unsupported:
		row("patch", "unsupported")
	}
	if p.Note != "" {
		row("", "note: %s", p.Note)
	}
	if z := st.Zopes; z.Want > 0 {
		now := fmt.Sprint(z.Now)
		if z.Now == 0 {
			now = "1 (unpatched)"
		}
		row("ZOPES", "now %s, want %d (%s)", now, z.Want, z.Why)
	}
	if r := st.Zopes.Recommended; r != nil {
		row("sizing", "%s", strings.Join(r.Terms, "; "))
	}
	if c := st.ZopeConf; c != nil && c.Error == "" {
		storage := c.Storage
		if storage == "" {
			storage = "-"
		}
		row("zope.conf", "HTTP %s, zserver-threads %d, storage %s", c.HTTPAddress, c.Threads, storage)
	}
	if st.Hook.Installed {
		row("hook", "installed (yum and dnf, under %s)", st.Hook.Root)
	} else {
		row("hook", "not installed: 'zenpatch hook install' re-applies the patch after Zenoss upgrades")
	}
	if p.Pending {
		row("pending", "yes: 'zenpatch diff' shows the changes")
	}
	for _, pr := range st.Problems {
		row("problem", "%s", pr)
	}
}
