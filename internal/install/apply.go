package install

// Apply brings the install to the plan Inspect makes: the patch for its
// version and the ZOPES line. It inspects read-only first, so a refusal or
// a no-op creates nothing (not even the lock file); then, under the lock,
// it finishes any change a crash interrupted, inspects again and commits.
// The inspection is returned in every case (on a conflict, for --reject);
// a conflict or unsupported version is returned as its typed error, with
// nothing changed.
func (i *Install) Apply(opt Options, copt CommitOptions) (*Inspection, error) {
	if err := i.FinishInterrupted(); err != nil {
		return nil, err
	}
	insp, err := i.Inspect(opt)
	if err != nil {
		return nil, err
	}
	if err := insp.refusal(opt); err != nil || !insp.Pending() {
		return insp, err
	}
	lock, err := i.Lock()
	if err != nil {
		return insp, err
	}
	defer lock.Unlock()
	if insp, err = i.Inspect(opt); err != nil {
		return nil, err
	}
	if err := insp.refusal(opt); err != nil || !insp.Pending() {
		return insp, err
	}
	return insp, i.Commit(insp, copt)
}

// refusal is why Apply changes nothing: a conflict or unsupported version,
// or a ZOPES value that is not a number when --zopes does not say.
func (insp *Inspection) refusal(opt Options) error {
	if insp.Problem != nil {
		return insp.Problem
	}
	if insp.ZopesErr != nil && opt.Zopes == 0 {
		return insp.ZopesErr
	}
	return nil
}

// Revert brings back the vendor zopectl (see PlanRevert), planned again
// under the lock. With nothing to revert it writes nothing.
func (i *Install) Revert(opt Options, copt CommitOptions) (*Reversal, error) {
	if err := i.FinishInterrupted(); err != nil {
		return nil, err
	}
	r, err := i.PlanRevert(opt)
	if err != nil || r.Absent {
		return r, err
	}
	lock, err := i.Lock()
	if err != nil {
		return nil, err
	}
	defer lock.Unlock()
	if r, err = i.PlanRevert(opt); err != nil || r.Absent {
		return r, err
	}
	return r, i.CommitRevert(r, copt)
}
