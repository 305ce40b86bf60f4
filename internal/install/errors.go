package install

import (
	"errors"
	"io/fs"
)

// ConflictError says the patch does not fit zopectl: it was edited where
// the patch goes, or (Newer) the release is newer than the patch knows and
// its zopectl differs. Nothing is changed.
type ConflictError struct {
	Err   error
	Newer bool   // the patch was chosen as the nearest series of a newer release
	hint  string // a better next step, known where the conflict was found
}

// Error implements error.
func (e *ConflictError) Error() string { return e.Err.Error() }

// Unwrap returns the cause (often an *apply.HunkError).
func (e *ConflictError) Unwrap() error { return e.Err }

// Hint is the next step.
func (e *ConflictError) Hint() string {
	switch {
	case e.hint != "":
		return e.hint
	case e.Newer:
		return "this release's zopectl differs from what the nearest patch knows: give a patch of your own with --patches DIR, or wait for a zenpatch release that knows it"
	}
	return "zopectl was edited where the patch goes: compare it with the vendor's, or run 'zenpatch apply --reject' to save the patch's hunks to " + RejectPath + " and merge them by hand"
}

// WithHint returns a copy of the conflict whose hint is h.
func (e *ConflictError) WithHint(h string) *ConflictError {
	c := *e
	c.hint = h
	return &c
}

// UnsupportedError says no patch serves the installed version, or the
// version cannot be told. Nothing is changed.
type UnsupportedError struct {
	Err    error
	Source string // where the version was read ("" when it was not)
}

// Error implements error.
func (e *UnsupportedError) Error() string { return e.Err.Error() }

// Unwrap returns the cause (ErrNoVersion or patches.ErrUnsupported).
func (e *UnsupportedError) Unwrap() error { return e.Err }

// Hint is the next step.
func (e *UnsupportedError) Hint() string {
	var h interface{ Hint() string }
	if errors.As(e.Err, &h) { // the web tier, an unreadable ZVersion.py
		return h.Hint()
	}
	if errors.Is(e.Err, ErrNoVersion) {
		return "tell zenpatch the version with --version-override X.Y.Z (or check " + VersionPath + ")"
	}
	if e.Source != "" {
		return "zenpatch knows Zenoss 2.x-4.x; if the version (read from " + e.Source + ") is wrong, give it with --version-override"
	}
	return "zenpatch knows Zenoss 2.x-4.x; if the version is wrong, give it with --version-override"
}

// PortRangeError is a port setting that cannot work: a port past 65535,
// or Zope instance ports that take a port the balancer listens on. Msg
// names the file, line and key.
type PortRangeError struct {
	Msg string
	Fix string // the next step
}

// Error implements error.
func (e *PortRangeError) Error() string { return e.Msg }

// Hint is the next step.
func (e *PortRangeError) Hint() string { return e.Fix }

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
