package install

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// Record is var/zenpatch/state.json: what zenpatch last wrote to the
// install, so that the next run can tell its own work from a vendor's or an
// operator's.
type Record struct {
	Patch         string       `json:"patch"` // "" after revert
	ZenossVersion string       `json:"zenoss_version"`
	Zopes         int          `json:"zopes"`
	ZopesPinned   bool         `json:"zopes_pinned"`
	ChangedAt     time.Time    `json:"changed_at"`
	Files         []FileRecord `json:"files"`
}

// FileRecord records one patched file.
type FileRecord struct {
	Path   string `json:"path"`
	Pre    string `json:"pre_sha256"`  // the vendor file
	Post   string `json:"post_sha256"` // what zenpatch wrote
	Backup string `json:"backup"`      // the vendor file's copy
	// Reconstructed is true when the vendor file was rebuilt by reversing
	// an already-applied patch (no earlier backup existed).
	Reconstructed bool `json:"reconstructed,omitempty"`
}

// ReadRecord reads the record; nil when there is none.
func (i *Install) ReadRecord() (*Record, error) {
	data, err := i.ReadFile(RecordPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r Record
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, &RecordError{Err: err}
	}
	if r.Patch != "" && (r.Zopes < 1 || r.Zopes > 256 || len(r.Files) == 0) {
		return nil, &RecordError{Err: fmt.Errorf("it says patch %s with zopes %d and %d files", r.Patch, r.Zopes, len(r.Files))}
	}
	return &r, nil
}

// RecordError is a record that is not valid JSON (a torn write by another
// tool, a hand edit): it is taken as absent.
type RecordError struct{ Err error }

// Error implements error.
func (e *RecordError) Error() string {
	return fmt.Sprintf("%s cannot be read (%v): it is ignored, and the next apply writes a new one (the old one is kept as %s)", RecordPath, e.Err, CorruptRecordPath)
}

// Unwrap returns the JSON error.
func (e *RecordError) Unwrap() error { return e.Err }

// wrote reports whether data is exactly what the record says zenpatch
// last wrote to zopectl (a patch is applied and the sha256 matches).
func (r *Record) wrote(data []byte) bool {
	return r != nil && r.Patch != "" && len(r.Files) > 0 && r.Files[0].Post == Sum(data)
}
