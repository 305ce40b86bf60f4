package install

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"time"

	"github.com/zenpatch/zenpatch/apply"
	"github.com/zenpatch/zenpatch/internal/sizing"
	"github.com/zenpatch/zenpatch/internal/txn"
	"github.com/zenpatch/zenpatch/patches"
)

// Patch states, as status and --json report them.
const (
	StateAbsent      = "absent"      // vendor zopectl; the patch applies
	StateApplied     = "applied"     // the current patch is in place
	StateStale       = "stale"       // an older edition of the patch is in place
	StateConflict    = "conflict"    // zopectl was edited where the patch goes
	StateUnsupported = "unsupported" // no patch for this version
)

// Options steer Inspect.
type Options struct {
	Patches *patches.Set
	Version VersionOptions
	Zopes   int // --zopes: pin ZOPES; 0 = not pinned
	// Recommend computes the recommended ZOPES; nil → sizing for this host.
	Recommend func() sizing.Recommendation
	Now       func() time.Time
}

// Inspection is the whole picture of the patch on an install, and the plan
// of changes that apply would make.
type Inspection struct {
	Version   Version
	Selection patches.Selection
	State     string
	AppliedID string // the patch found in zopectl (may be an older edition)
	ZopesNow  int    // ZOPES in zopectl now; 0: no ZOPES line
	ZopesWant int
	ZopesWhy  string // "--zopes", "pinned earlier", "recommended"
	Sizing    *sizing.Recommendation
	Places    []apply.Placement
	Plan      *apply.Plan // zopectl old → new; empty when nothing to do
	Problem   error       // why State is conflict or unsupported
	Recorded  *State      // the state file, if any
	original  []byte      // the vendor zopectl as best known
	recovered bool        // original rebuilt by reversing the patch
}

// State is var/zenpatch/state.json: what zenpatch last wrote.
type State struct {
	Patch         string      `json:"patch"` // "" after revert
	ZenossVersion string      `json:"zenoss_version"`
	Zopes         int         `json:"zopes"`
	ZopesPinned   bool        `json:"zopes_pinned"`
	ChangedAt     time.Time   `json:"changed_at"`
	Files         []FileState `json:"files"`
}

// FileState records one patched file.
type FileState struct {
	Path   string `json:"path"`
	Pre    string `json:"pre_sha256"`  // the vendor file
	Post   string `json:"post_sha256"` // what zenpatch wrote
	Backup string `json:"backup"`      // the vendor file's copy
	// Reconstructed is true when the vendor file was rebuilt by reversing
	// an already-applied patch (no earlier backup existed).
	Reconstructed bool `json:"reconstructed,omitempty"`
}

// ReadState reads the state file; nil when there is none.
func (i *Install) ReadState() (*State, error) {
	data, err := i.ReadFile(StatePath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %v (move it aside; zenpatch rebuilds it on the next apply)", StatePath, err)
	}
	return &s, nil
}

// zopesRe matches the ZOPES line the patch adds: value, then any comment.
var zopesRe = regexp.MustCompile(`(?m)^([ \t]*ZOPES=)([0-9]+)([ \t]*(?:#.*)?\r?)$`)

// Zopes returns the ZOPES value in a zopectl, 0 when there is none.
func Zopes(zopectl []byte) int {
	m := zopesRe.FindSubmatch(zopectl)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[2]))
	return n
}

// SetZopes rewrites the value of the first ZOPES= line, keeping its
// indentation and comment.
func SetZopes(zopectl []byte, n int) []byte {
	loc := zopesRe.FindSubmatchIndex(zopectl)
	if loc == nil {
		return zopectl
	}
	var b bytes.Buffer
	b.Write(zopectl[:loc[4]])
	b.WriteString(strconv.Itoa(n))
	b.Write(zopectl[loc[5]:])
	return b.Bytes()
}

// Inspect works out the patch state and the plan. It reads only.
func (i *Install) Inspect(opt Options) (*Inspection, error) {
	in := &Inspection{Plan: &apply.Plan{}}
	rec, err := i.ReadState()
	if err != nil {
		return nil, err
	}
	in.Recorded = rec
	cur, err := i.ReadFile(ZopectlPath)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ZopectlPath, err)
	}
	in.ZopesNow = Zopes(cur)
	in.Version, err = i.DetectVersion(opt.Version)
	if err != nil {
		in.State, in.Problem = StateUnsupported, err
		return in, nil
	}
	in.Selection, err = opt.Patches.Select(in.Version.Version)
	if err != nil {
		in.State, in.Problem = StateUnsupported, err
		return in, nil
	}
	entry := in.Selection.Entry
	norm := cur
	if in.ZopesNow > 0 {
		norm = SetZopes(cur, 1)
	}
	base, places, err := i.place(in, entry, norm, opt.Patches)
	if err != nil {
		return nil, err
	}
	if in.State == StateConflict {
		return in, nil
	}
	in.Places = places
	// How many instances.
	switch {
	case opt.Zopes > 0:
		in.ZopesWant, in.ZopesWhy = opt.Zopes, "--zopes"
	case rec != nil && rec.ZopesPinned && rec.Patch != "":
		in.ZopesWant, in.ZopesWhy = rec.Zopes, "pinned earlier with --zopes"
	case (rec == nil || rec.Patch == "") && in.ZopesNow > 0 && in.State != StateAbsent:
		// Patched before zenpatch kept state (or by hand): the operator
		// chose this number; keep it rather than change the instance count.
		in.ZopesWant, in.ZopesWhy = in.ZopesNow, "kept from zopectl"
	default:
		r := recommend(opt)
		in.Sizing = &r
		in.ZopesWant, in.ZopesWhy = r.Zopes, "recommended"
	}
	if in.Sizing == nil {
		r := recommend(opt)
		in.Sizing = &r
	}
	target := SetZopes(base, in.ZopesWant)
	in.Plan.Changes = []apply.Change{{Path: ZopectlPath, Old: cur, New: target, Places: places}}
	return in, nil
}

func recommend(opt Options) sizing.Recommendation {
	if opt.Recommend != nil {
		return opt.Recommend()
	}
	return sizing.Recommend(sizing.Host(), 1, 0)
}

// place decides the state and returns the patched zopectl (ZOPES=1).
func (i *Install) place(in *Inspection, entry *patches.Entry, norm []byte, set *patches.Set) ([]byte, []apply.Placement, error) {
	p, err := entry.Patch()
	if err != nil {
		return nil, nil, err
	}
	f := p.File(ZopectlPath)
	if f == nil {
		return nil, nil, fmt.Errorf("patch %s does not change %s", entry.ID, ZopectlPath)
	}
	rev := p.Reverse().File(ZopectlPath)
	older, err := olderReverses(set, entry)
	if err != nil {
		return nil, nil, err
	}
	// An edition of the patch in place, matched exactly, comes first: a
	// fuzzy forward match must never stack a second block on an old one.
	if _, _, err := apply.ApplyFile(norm, rev, 0); err == nil {
		return i.applied(in, entry, norm, rev)
	}
	for _, o := range older {
		if vendor, _, err := apply.ApplyFile(norm, o.rev, 0); err == nil {
			return i.stale(in, o.entry, vendor, f)
		}
	}
	out, places, ferr := apply.ApplyFile(norm, f, apply.MaxFuzz)
	if ferr == nil {
		if in.ZopesNow > 0 {
			in.State, in.Problem = StateConflict, fmt.Errorf("%s already has a ZOPES line from a patch zenpatch does not know; revert that patch by hand first", ZopectlPath)
			return nil, nil, nil
		}
		in.State, in.original = StateAbsent, norm
		return out, places, nil
	}
	if _, _, err := apply.ApplyFile(norm, rev, apply.MaxFuzz); err == nil {
		return i.applied(in, entry, norm, rev)
	}
	for _, o := range older {
		if vendor, _, err := apply.ApplyFile(norm, o.rev, apply.MaxFuzz); err == nil {
			return i.stale(in, o.entry, vendor, f)
		}
	}
	in.State, in.Problem = StateConflict, ferr
	return nil, nil, nil
}

type olderRev struct {
	entry *patches.Entry
	rev   *apply.File
}

func olderReverses(set *patches.Set, entry *patches.Entry) ([]olderRev, error) {
	var out []olderRev
	for _, old := range set.Older(entry) {
		op, err := old.Patch()
		if err != nil {
			return nil, err
		}
		if r := op.Reverse().File(ZopectlPath); r != nil {
			out = append(out, olderRev{old, r})
		}
	}
	return out, nil
}

func (i *Install) applied(in *Inspection, entry *patches.Entry, norm []byte, rev *apply.File) ([]byte, []apply.Placement, error) {
	in.State, in.AppliedID = StateApplied, entry.ID
	if orig, _, err := apply.ApplyFile(norm, rev, apply.MaxFuzz); err == nil {
		in.original, in.recovered = orig, true
	}
	return norm, nil, nil
}

func (i *Install) stale(in *Inspection, old *patches.Entry, vendor []byte, f *apply.File) ([]byte, []apply.Placement, error) {
	in.AppliedID, in.original, in.recovered = old.ID, vendor, true
	out, places, err := apply.ApplyFile(vendor, f, apply.MaxFuzz)
	if err != nil {
		in.State, in.Problem = StateConflict, fmt.Errorf("%s is applied, and after removing it %s still does not fit: %w", old.ID, in.Selection.Entry.ID, err)
		return nil, nil, nil
	}
	in.State = StateStale
	return out, places, nil
}

// Sum is the hex sha256 of data.
func Sum(data []byte) string {
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// CommitOptions steer Commit.
type CommitOptions struct {
	Now       func() time.Time
	AfterStep func(string) // crash tests
}

// Commit writes in's plan: zopectl, the vendor file's backup and the state
// file, all in one transaction. The caller holds the lock and inspected
// under it. A plan with nothing to change writes nothing.
func (i *Install) Commit(in *Inspection, opt CommitOptions) error {
	if in.State == StateConflict || in.State == StateUnsupported {
		return in.Problem
	}
	if in.Plan.Empty() {
		return nil
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	ch := in.Plan.Changes[0]
	fsx := FileState{Path: ZopectlPath, Post: Sum(ch.New)}
	rec := in.Recorded
	if rec != nil && len(rec.Files) > 0 && rec.Patch != "" && rec.Files[0].Post == Sum(ch.Old) {
		// zopectl is as zenpatch last wrote it: the vendor original stays.
		prev := rec.Files[0]
		fsx.Pre, fsx.Backup, fsx.Reconstructed = prev.Pre, prev.Backup, prev.Reconstructed
	} else {
		fsx.Pre, fsx.Reconstructed = Sum(in.original), in.recovered
		fsx.Backup = BackupDir + "/" + fsx.Pre
	}
	st := State{
		Patch: in.Selection.Entry.ID, ZenossVersion: in.Version.Version,
		Zopes: in.ZopesWant, ZopesPinned: in.ZopesWhy != "recommended",
		ChangedAt: now().UTC().Truncate(time.Second), Files: []FileState{fsx},
	}
	stData, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	ws := []txn.Write{{Path: ZopectlPath, Data: ch.New}}
	if old, err := i.ReadFile(fsx.Backup); err != nil || Sum(old) != fsx.Pre {
		ws = append(ws, txn.Write{Path: fsx.Backup, Data: in.original, Mode: 0o644})
	}
	ws = append(ws, txn.Write{Path: StatePath, Data: append(stData, '\n'), Mode: 0o644})
	return txn.Commit(i.Root, ws, txn.Options{Journal: JournalPath, AfterStep: opt.AfterStep})
}

// Reversal is what revert would do.
type Reversal struct {
	Plan   *apply.Plan
	How    string // "backup" (exact bytes) or "reverse patch"
	Note   string
	Patch  string // the patch removed
	Absent bool   // nothing to revert
}

// PlanRevert works out how to bring back the vendor zopectl: from the
// backup when zopectl is what zenpatch wrote (exact bytes, hash checked),
// else by reversing whichever known patch is applied.
func (i *Install) PlanRevert(opt Options) (*Reversal, error) {
	rec, err := i.ReadState()
	if err != nil {
		return nil, err
	}
	cur, err := i.ReadFile(ZopectlPath)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ZopectlPath, err)
	}
	if rec != nil && rec.Patch != "" && len(rec.Files) > 0 && rec.Files[0].Post == Sum(cur) {
		fsx := rec.Files[0]
		orig, err := i.ReadFile(fsx.Backup)
		if err != nil {
			return nil, fmt.Errorf("backup %s of the vendor %s: %w", fsx.Backup, ZopectlPath, err)
		}
		if Sum(orig) != fsx.Pre {
			return nil, fmt.Errorf("backup %s does not match the recorded sha256 %s (it was changed); not restoring it", fsx.Backup, fsx.Pre)
		}
		r := &Reversal{How: "backup", Patch: rec.Patch, Plan: &apply.Plan{Changes: []apply.Change{{Path: ZopectlPath, Old: cur, New: orig}}}}
		if fsx.Reconstructed {
			r.Note = "the backup was rebuilt by reversing the patch zenpatch found applied"
		}
		return r, nil
	}
	norm := cur
	if Zopes(cur) > 0 {
		norm = SetZopes(cur, 1)
	}
	var candidates []*patches.Entry
	if rec != nil && rec.Patch != "" {
		if e := opt.Patches.ByID(rec.Patch); e != nil {
			candidates = append(candidates, e)
		}
	}
	candidates = append(candidates, opt.Patches.Entries...)
	for _, e := range candidates {
		p, err := e.Patch()
		if err != nil {
			return nil, err
		}
		rev := p.Reverse().File(ZopectlPath)
		if rev == nil {
			continue
		}
		f := p.File(ZopectlPath)
		if st, _, _, _ := apply.Check(norm, f, rev, apply.MaxFuzz); st != apply.Applied {
			continue
		}
		orig, _, err := apply.ApplyFile(norm, rev, apply.MaxFuzz)
		if err != nil {
			continue
		}
		note := ""
		if rec != nil && rec.Patch != "" {
			note = fmt.Sprintf("%s changed since zenpatch wrote it (sha256 differs from the state file): the patch is removed by reversing it, and other changes are kept", ZopectlPath)
		}
		return &Reversal{How: "reverse patch", Patch: e.ID, Note: note, Plan: &apply.Plan{Changes: []apply.Change{{Path: ZopectlPath, Old: cur, New: orig}}}}, nil
	}
	return &Reversal{Absent: true, Plan: &apply.Plan{}}, nil
}

// CommitRevert writes a reversal and records in the state file that no
// patch is applied. The caller holds the lock.
func (i *Install) CommitRevert(r *Reversal, opt CommitOptions) error {
	if r.Absent || r.Plan.Empty() {
		return nil
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	st := State{ChangedAt: now().UTC().Truncate(time.Second)}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	ws := []txn.Write{
		{Path: ZopectlPath, Data: r.Plan.Changes[0].New},
		{Path: StatePath, Data: append(data, '\n'), Mode: 0o644},
	}
	return txn.Commit(i.Root, ws, txn.Options{Journal: JournalPath, AfterStep: opt.AfterStep})
}
