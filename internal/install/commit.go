package install

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/zenpatch/zenpatch/apply"
	"github.com/zenpatch/zenpatch/internal/txn"
	"github.com/zenpatch/zenpatch/patches"
)

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

// Commit writes insp's plan: zopectl, the vendor file's backup and the
// record, all in one transaction (and a record that could not be read is
// kept aside as CorruptRecordPath). The caller holds the lock and
// inspected under it. An inspection with nothing pending writes nothing.
func (i *Install) Commit(insp *Inspection, opt CommitOptions) error {
	if insp.Problem != nil {
		return insp.Problem
	}
	if !insp.Pending() {
		return nil
	}
	now := time.Now
	if opt.Now != nil {
		now = opt.Now
	}
	ch := insp.Plan.Changes[0]
	fsx := FileRecord{Path: ZopectlPath, Post: Sum(ch.New)}
	rec := insp.Recorded
	if rec.wrote(ch.Old) {
		// zopectl is as zenpatch last wrote it: the vendor original stays.
		prev := rec.Files[0]
		fsx.Pre, fsx.Backup, fsx.Reconstructed = prev.Pre, prev.Backup, prev.Reconstructed
	} else {
		fsx.Pre, fsx.Reconstructed = Sum(insp.original), insp.recovered
		fsx.Backup = BackupDir + "/" + fsx.Pre
	}
	st := Record{
		Patch: insp.Selection.Entry.ID, ZenossVersion: insp.Version.Version,
		Zopes: insp.ZopesWant, ZopesPinned: insp.ZopesWhy != "recommended",
		ChangedAt: now().UTC().Truncate(time.Second), Files: []FileRecord{fsx},
	}
	stData, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	var ws []txn.Write
	if !bytes.Equal(ch.Old, ch.New) {
		ws = append(ws, txn.Write{Path: ZopectlPath, Data: ch.New})
	}
	if old, err := i.ReadFile(fsx.Backup); err != nil || Sum(old) != fsx.Pre {
		ws = append(ws, txn.Write{Path: fsx.Backup, Data: insp.original, Mode: 0o644})
	}
	if insp.RecordErr != nil {
		if old, err := i.ReadFile(RecordPath); err == nil {
			ws = append(ws, txn.Write{Path: CorruptRecordPath, Data: old, Mode: 0o644})
		}
	}
	ws = append(ws, txn.Write{Path: RecordPath, Data: append(stData, '\n'), Mode: 0o644})
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
// else by reversing whichever known patch is applied (also when the
// backup is gone or changed, or the record cannot be read).
func (i *Install) PlanRevert(opt Options) (*Reversal, error) {
	rec, err := i.ReadRecord()
	var re *RecordError
	if errors.As(err, &re) {
		rec = nil
	} else if err != nil {
		return nil, err
	}
	cur, err := i.ReadFile(ZopectlPath)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", ZopectlPath, err)
	}
	note := ""
	if rec.wrote(cur) {
		fsx := rec.Files[0]
		orig, err := i.ReadFile(fsx.Backup)
		switch {
		case err == nil && Sum(orig) == fsx.Pre:
			r := &Reversal{How: "backup", Patch: rec.Patch, Plan: &apply.Plan{Changes: []apply.Change{{Path: ZopectlPath, Old: cur, New: orig}}}}
			if fsx.Reconstructed {
				r.Note = "the backup was rebuilt by reversing the patch zenpatch found applied"
			}
			return r, nil
		case err == nil:
			note = fmt.Sprintf("the backup %s does not match the recorded sha256 (it was changed): the patch is removed by reversing it instead", fsx.Backup)
		case isNotExist(err):
			note = fmt.Sprintf("the backup %s is gone: the patch is removed by reversing it instead", fsx.Backup)
		default:
			return nil, fmt.Errorf("backup %s of the vendor %s: %w", fsx.Backup, ZopectlPath, err)
		}
	} else if rec != nil && rec.Patch != "" {
		note = fmt.Sprintf("%s changed since zenpatch wrote it (sha256 differs from the record): the patch is removed by reversing it, and other changes are kept", ZopectlPath)
	}
	norm := cur
	if zl, ok := FindZopes(cur); ok {
		norm = zl.Canonical(cur)
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
		fit := apply.Check(norm, p.File(ZopectlPath), []*apply.File{p.Reverse().File(ZopectlPath)}, apply.MaxFuzz)
		if fit.Verdict != apply.Applied {
			continue
		}
		return &Reversal{How: "reverse patch", Patch: e.ID, Note: note, Plan: &apply.Plan{Changes: []apply.Change{{Path: ZopectlPath, Old: cur, New: fit.Out}}}}, nil
	}
	if rec != nil && rec.Patch != "" && len(rec.Files) > 0 {
		// The record says zenpatch patched it, and no patch reverses:
		// the block itself was edited.
		b := rec.Files[0].Backup
		return nil, (&ConflictError{Err: fmt.Errorf("%s was edited where %s is: the patch cannot be removed by reversing it", ZopectlPath, rec.Patch)}).
			WithHint(fmt.Sprintf("the vendor file is kept in %s: restore it by hand (cp %s %s) if the other edits may go, or undo the edits in the zenpatch block", b, b, ZopectlPath))
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
	st := Record{ChangedAt: now().UTC().Truncate(time.Second)}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	ws := []txn.Write{
		{Path: ZopectlPath, Data: r.Plan.Changes[0].New},
		{Path: RecordPath, Data: append(data, '\n'), Mode: 0o644},
	}
	return txn.Commit(i.Root, ws, txn.Options{Journal: JournalPath, AfterStep: opt.AfterStep})
}

// SaveReject writes the selected patch's text to RejectPath, for an
// operator to merge by hand after a conflict.
func (i *Install) SaveReject(insp *Inspection) error {
	data, err := insp.Selection.Entry.Text()
	if err != nil {
		return err
	}
	return i.WriteFile(RejectPath, data, 0o644)
}
