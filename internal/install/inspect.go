package install

import (
	"errors"
	"fmt"
	"time"

	"github.com/zenpatch/zenpatch/apply"
	"github.com/zenpatch/zenpatch/internal/sizing"
	"github.com/zenpatch/zenpatch/patches"
)

// PatchState is how the multi-Zope patch stands on an install.
type PatchState string

// The patch states, as status and --json report them.
const (
	Absent      PatchState = "absent"      // vendor zopectl; the patch applies
	Applied     PatchState = "applied"     // the current patch is in place
	Stale       PatchState = "stale"       // an older edition of the patch is in place
	Conflict    PatchState = "conflict"    // zopectl was edited where the patch goes
	Unsupported PatchState = "unsupported" // no patch for this version
)

// Options steer Inspect.
type Options struct {
	Patches *patches.Set
	Version VersionOptions
	Zopes   int  // --zopes N: pin ZOPES; 0 = not pinned
	Auto    bool // --zopes auto: follow the recommendation again, dropping a pin
	// Recommend computes the recommended ZOPES; nil → sizing for this host.
	Recommend func() sizing.Recommendation
	Now       func() time.Time
}

// Inspection is the whole picture of the patch on an install, and the plan
// of changes that apply would make.
type Inspection struct {
	Version    Version
	Selection  patches.Selection
	PatchState PatchState
	WebTier    WebTier
	AppliedID  string // the patch found in zopectl (may be an older edition)
	ZopesNow   int    // ZOPES in zopectl now; 0: no ZOPES line
	ZopesWant  int
	ZopesWhy   string // "--zopes", "pinned earlier", "recommended"
	Sizing     *sizing.Recommendation
	Places     []apply.Placement
	Plan       *apply.Plan // zopectl old → new; empty when nothing to do
	// Problem is why PatchState is Conflict (a *ConflictError) or
	// Unsupported (an *UnsupportedError); nil otherwise.
	Problem error
	// ZopesErr is a ZOPES line whose value is not a number (a
	// *ZopesValueError): apply refuses to guess unless --zopes says.
	ZopesErr error
	// RecordErr is a record (state.json) that cannot be read: it is taken
	// as absent, and the next apply writes a new one.
	RecordErr error
	Recorded  *Record // the record, if any
	Unpin     bool    // --zopes auto drops a pin: the record changes even if zopectl does not
	original  []byte  // the vendor zopectl as best known
	recovered bool    // original rebuilt by reversing the patch
	zopes     *ZopesLine
}

// Pending reports whether applying would change anything: zopectl, or
// the record (a pin dropped).
func (insp *Inspection) Pending() bool { return !insp.Plan.Empty() || insp.Unpin }

// Problems are every problem the inspection found, for status.
func (insp *Inspection) Problems() []error {
	var out []error
	for _, e := range []error{insp.Problem, insp.ZopesErr, insp.RecordErr} {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

// Inspect works out the patch state and the plan. It reads only.
func (i *Install) Inspect(opt Options) (*Inspection, error) {
	insp := &Inspection{Plan: &apply.Plan{}}
	rec, err := i.ReadRecord()
	var re *RecordError
	if errors.As(err, &re) {
		insp.RecordErr, rec = err, nil
	} else if err != nil {
		return nil, err
	}
	insp.Recorded = rec
	cur, err := i.ReadFile(ZopectlPath)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ZopectlPath, err)
	}
	norm := cur
	if zl, ok := FindZopes(cur); ok {
		insp.zopes, insp.ZopesNow, norm = &zl, zl.N, zl.Canonical(cur)
		if zl.N == 0 {
			insp.ZopesErr = &ZopesValueError{Line: zl.Line, Value: zl.Value}
		}
	}
	insp.Version, err = i.DetectVersion(opt.Version)
	wt, werr := i.ReadWebTier()
	if werr != nil {
		return nil, werr
	}
	insp.WebTier = wt
	switch {
	case !wt.Zopectl(): // whatever the version, zenpatch leaves this alone
		insp.unsupported(&WebTierError{WebTier: wt})
		return insp, nil
	case err != nil:
		insp.unsupported(err)
		return insp, nil
	}
	insp.Selection, err = opt.Patches.Select(insp.Version.Version)
	if err != nil {
		insp.unsupported(err)
		return insp, nil
	}
	base, err := insp.place(norm, opt.Patches)
	if err != nil {
		return nil, err
	}
	if insp.PatchState == Conflict {
		return insp, nil
	}
	insp.decideZopes(opt, rec)
	target := SetZopes(base, insp.ZopesWant, insp.zopes)
	insp.Plan.Changes = []apply.Change{{Path: ZopectlPath, Old: cur, New: target, Places: insp.Places}}
	return insp, nil
}

func (insp *Inspection) unsupported(err error) {
	insp.PatchState, insp.Problem = Unsupported, &UnsupportedError{Err: err, Source: insp.Version.Source}
}

func (insp *Inspection) conflict(err error) {
	insp.PatchState, insp.Problem = Conflict, &ConflictError{Err: err, Newer: !insp.Selection.Exact}
}

// decideZopes picks how many instances, and why.
func (insp *Inspection) decideZopes(opt Options, rec *Record) {
	switch {
	case opt.Zopes > 0:
		insp.ZopesWant, insp.ZopesWhy = opt.Zopes, "--zopes"
	case opt.Auto:
		insp.Unpin = rec != nil && rec.ZopesPinned && rec.Patch != ""
	case rec != nil && rec.ZopesPinned && rec.Patch != "":
		insp.ZopesWant, insp.ZopesWhy = rec.Zopes, "pinned earlier with --zopes"
	case (rec == nil || rec.Patch == "") && insp.ZopesNow > 0 && insp.PatchState != Absent:
		// Patched before zenpatch kept a record (or by hand): the operator
		// chose this number; keep it rather than change the instance count.
		insp.ZopesWant, insp.ZopesWhy = insp.ZopesNow, "kept from zopectl"
	}
	r := recommend(opt)
	insp.Sizing = &r
	if insp.ZopesWant == 0 {
		insp.ZopesWant, insp.ZopesWhy = r.Zopes, "recommended"
	}
}

func recommend(opt Options) sizing.Recommendation {
	if opt.Recommend != nil {
		return opt.Recommend()
	}
	return sizing.Recommend(sizing.Host(), 1, 0)
}

// place decides the patch state from zopectl (its ZOPES line set to 1) and
// returns the patched zopectl (ZOPES=1). The current patch and its older
// editions are told apart by apply.Check.
func (insp *Inspection) place(norm []byte, set *patches.Set) ([]byte, error) {
	entry := insp.Selection.Entry
	p, err := entry.Patch()
	if err != nil {
		return nil, err
	}
	f := p.File(ZopectlPath)
	editions := []*patches.Entry{entry}
	revs := []*apply.File{p.Reverse().File(ZopectlPath)}
	for _, old := range set.Older(entry) {
		op, err := old.Patch()
		if err != nil {
			return nil, err
		}
		editions = append(editions, old)
		revs = append(revs, op.Reverse().File(ZopectlPath))
	}
	fit := apply.Check(norm, f, revs, apply.MaxFuzz)
	switch fit.Verdict {
	case apply.Applied:
		insp.AppliedID, insp.original, insp.recovered = editions[fit.Edition].ID, fit.Out, true
		if fit.Edition == 0 {
			insp.PatchState = Applied
			return norm, nil
		}
		out, places, err := apply.ApplyFile(fit.Out, f, apply.MaxFuzz)
		if err != nil {
			insp.conflict(fmt.Errorf("%s is applied, and after removing it %s still does not fit: %w", insp.AppliedID, entry.ID, err))
			return nil, nil
		}
		insp.PatchState, insp.Places = Stale, places
		return out, nil
	case apply.Pending:
		if insp.zopes != nil {
			insp.conflict(fmt.Errorf("%s already has a ZOPES line from a patch zenpatch does not know; revert that patch by hand first", ZopectlPath))
			return nil, nil
		}
		insp.PatchState, insp.original, insp.Places = Absent, norm, fit.Places
		return fit.Out, nil
	}
	insp.conflict(fit.Err)
	return nil, nil
}

// Notes are the lines an operator should see about a plan: the selection's
// note when the version was not matched exactly, an older edition being
// replaced, and where each hunk landed.
func (insp *Inspection) Notes() []string {
	var out []string
	if insp.Selection.Note != "" {
		out = append(out, "note: "+insp.Selection.Note)
	}
	if insp.PatchState == Stale {
		out = append(out, fmt.Sprintf("note: %s is applied; it is replaced by %s", insp.AppliedID, insp.Selection.Entry.ID))
	}
	for _, p := range insp.Places {
		out = append(out, fmt.Sprintf("%s: %s %s", ZopectlPath, insp.Selection.Entry.ID, p))
	}
	return out
}
