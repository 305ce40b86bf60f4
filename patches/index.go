package patches

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sort"
	"strings"

	version "github.com/hashicorp/go-version"

	"github.com/zenpatch/zenpatch/apply"
	"github.com/zenpatch/zenpatch/internal/txn"
)

// Entry is one patch of the index.
type Entry struct {
	ID           string `json:"id"`
	File         string `json:"file"`
	Series       string `json:"series"`
	Versions     string `json:"versions"`
	SupersededBy string `json:"superseded_by,omitempty"`
	Zopectl      string `json:"zopectl,omitempty"`

	constraint version.Constraints
	set        *Set
}

// Set is a patch index and the files it names.
type Set struct {
	Source  string // where it came from, for messages
	Entries []*Entry
	fsys    fs.FS
}

type indexFile struct {
	Patches []*Entry `json:"patches"`
}

// Load reads a patch set from dir (index.json and the .patch files).
func Load(dir string) (*Set, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("--patches %s: %w", dir, err)
	}
	return load(os.DirFS(dir), dir)
}

func load(fsys fs.FS, source string) (*Set, error) {
	data, err := fs.ReadFile(fsys, "index.json")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	var idx indexFile
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%s/index.json: %w", source, err)
	}
	s := &Set{Source: source, fsys: fsys}
	seen := map[string]bool{}
	for i, e := range idx.Patches {
		where := fmt.Sprintf("%s/index.json: patch %d", source, i+1)
		if e.ID == "" || e.File == "" || e.Versions == "" || e.Series == "" {
			return nil, fmt.Errorf("%s: id, file, series and versions are required", where)
		}
		if seen[e.ID] {
			return nil, fmt.Errorf("%s: id %q appears twice", where, e.ID)
		}
		seen[e.ID] = true
		c, err := version.NewConstraint(e.Versions)
		if err != nil {
			return nil, fmt.Errorf("%s (%s): versions %q: %v", where, e.ID, e.Versions, err)
		}
		e.constraint, e.set = c, s
		s.Entries = append(s.Entries, e)
	}
	for _, e := range s.Entries {
		if e.SupersededBy != "" && s.ByID(e.SupersededBy) == nil {
			return nil, fmt.Errorf("%s/index.json: %s is superseded by unknown patch %q", source, e.ID, e.SupersededBy)
		}
	}
	return s, nil
}

// ByID returns the entry with that id, or nil.
func (s *Set) ByID(id string) *Entry {
	for _, e := range s.Entries {
		if e.ID == id {
			return e
		}
	}
	return nil
}

// Target is the one file a multi-Zope patch changes, relative to ZENHOME.
// Each instance's Zope config is derived from etc/zope.conf at every start,
// so no patch needs to change anything else; a patch that does is refused
// whole rather than applied in part.
const Target = "bin/zopectl"

// ScopeError says a patch changes a file other than Target.
type ScopeError struct {
	Where string // patch file and line
	Path  string // the other file
}

// Error implements error.
func (e *ScopeError) Error() string {
	return fmt.Sprintf("%s: it changes %s: a zenpatch patch changes %s only", e.Where, e.Path, Target)
}

// Hint is the next step.
func (e *ScopeError) Hint() string {
	return "make that change in " + e.Path + " yourself (each instance's config is derived from etc/zope.conf at every start)"
}

// FileError is a patch file the index names that cannot be read.
type FileError struct {
	Index string // the index.json it is named in
	ID    string
	File  string
	Err   error
}

// Error implements error.
func (e *FileError) Error() string {
	return fmt.Sprintf("%s: patch %s: file %q: %v", e.Index, e.ID, e.File, e.Err)
}

// Unwrap returns the cause.
func (e *FileError) Unwrap() error { return e.Err }

// Hint is the next step.
func (e *FileError) Hint() string {
	return "each entry's \"file\" must name a .patch file beside index.json (no '..', no directories)"
}

// read reads the entry's file, confined to the set's directory.
func (e *Entry) read() ([]byte, error) {
	if !fs.ValidPath(e.File) {
		return nil, &FileError{Index: e.set.Source + "/index.json", ID: e.ID, File: e.File, Err: errors.New("not a path inside the patch set")}
	}
	data, err := fs.ReadFile(e.set.fsys, e.File)
	if err != nil {
		return nil, &FileError{Index: e.set.Source + "/index.json", ID: e.ID, File: e.File, Err: err}
	}
	return data, nil
}

// Patch reads and parses the entry's patch file.
func (e *Entry) Patch() (*apply.Patch, error) {
	data, err := e.read()
	if err != nil {
		return nil, err
	}
	p, err := apply.Parse(e.set.Source+"/"+e.File, data)
	if err != nil {
		return nil, err
	}
	for _, f := range p.Files {
		if err := txn.CheckPath(f.Path); err != nil {
			return nil, fmt.Errorf("%s/%s: %w", e.set.Source, e.File, err)
		}
		if f.Path != Target {
			return nil, &ScopeError{Where: fmt.Sprintf("%s/%s:%d", e.set.Source, e.File, f.Hunks[0].PatchLine), Path: f.Path}
		}
	}
	return p, nil
}

// Matches reports whether the entry claims Zenoss version v.
func (e *Entry) Matches(v *version.Version) bool { return e.constraint.Check(v) }

// Older returns the superseded editions of e, newest first.
func (s *Set) Older(e *Entry) []*Entry {
	var out []*Entry
	for i := len(s.Entries) - 1; i >= 0; i-- {
		if s.Entries[i].SupersededBy == e.ID {
			out = append(out, s.Entries[i])
			out = append(out, s.Older(s.Entries[i])...)
		}
	}
	return out
}

// Selection is the patch chosen for a version and why.
type Selection struct {
	Entry *Entry
	Exact bool   // the entry claims the version; false: nearest older series
	Note  string // a sentence for the operator; "" for a plain exact match
}

// ErrUnsupported is returned (wrapped) for versions no patch can serve.
var ErrUnsupported = errors.New("unsupported Zenoss version")

// releaseRe splits a version into its release numbers and what follows
// them: "4.2.5-beta" → "4.2.5", "-beta"; "3.2.1-rc1" → "3.2.1", "-rc1".
var releaseRe = regexp.MustCompile(`^([0-9]+(?:\.[0-9]+)*)(.*)$`)

// release reads the release a version string names: its first three
// numbers (a fourth, as in 4.2.5.1, is a build of 4.2.5), ignoring any
// suffix (-beta, -rc1). ignored says what was left out, for the note.
func release(v string) (rel *version.Version, ignored string, err error) {
	m := releaseRe.FindStringSubmatch(strings.TrimSpace(v))
	if m == nil {
		return nil, "", fmt.Errorf("%w: %q is not a version number", ErrUnsupported, v)
	}
	nums, suffix := strings.Split(m[1], "."), m[2]
	if len(nums) > 3 {
		suffix = "." + strings.Join(nums[3:], ".") + suffix
		nums = nums[:3]
	}
	rel, err = version.NewVersion(strings.Join(nums, "."))
	if err != nil {
		return nil, "", fmt.Errorf("%w: %q is not a version number", ErrUnsupported, v)
	}
	return rel, suffix, nil
}

// Select picks the current (not superseded) patch for Zenoss version v: one
// that claims it, else, for a release newer than any patch claims, the
// nearest series below it (with a Note saying so). A suffix such as -beta
// or -rc1, or a fourth number, is ignored (and the Note says so): the
// series is that of the release numbers. Zenoss 5 and later are refused:
// Control Center runs Zope as services and scales them itself.
func (s *Set) Select(v string) (Selection, error) {
	ver, ignored, err := release(v)
	if err != nil {
		return Selection{}, err
	}
	sel, err := s.selectRelease(ver)
	if err == nil && ignored != "" {
		note := fmt.Sprintf("%q of Zenoss %s is ignored: it is treated as release %s", ignored, v, ver)
		if sel.Note != "" {
			note += "; " + sel.Note
		}
		sel.Note = note
	}
	return sel, err
}

func (s *Set) selectRelease(ver *version.Version) (Selection, error) {
	var current []*Entry
	for _, e := range s.Entries {
		if e.SupersededBy == "" {
			current = append(current, e)
		}
	}
	for _, e := range current {
		if e.Matches(ver) {
			return Selection{Entry: e, Exact: true}, nil
		}
	}
	if seg := ver.Segments(); len(seg) > 0 && seg[0] >= 5 {
		return Selection{}, fmt.Errorf("%w: Zenoss %s runs Zope under Control Center, which scales Zope instances as services (serviced service scale); zenpatch serves Zenoss 2.x-4.x", ErrUnsupported, ver)
	}
	// The nearest series below: the entry whose highest claimed version is
	// the greatest one not above v.
	type cand struct {
		e   *Entry
		top *version.Version
	}
	var cands []cand
	for _, e := range current {
		if top := highestClaimed(e); top != nil && top.LessThan(ver) {
			cands = append(cands, cand{e, top})
		}
	}
	if len(cands) == 0 {
		return Selection{}, fmt.Errorf("%w: no patch in %s fits Zenoss %s (older than every series)", ErrUnsupported, s.Source, ver)
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].top.GreaterThan(cands[j].top) })
	c := cands[0]
	return Selection{Entry: c.e, Note: fmt.Sprintf("Zenoss %s is newer than any release %s was checked against (up to %s); trying it as the nearest series (%s)", ver, c.e.ID, c.top, c.e.Series)}, nil
}

// highestClaimed finds the upper bound of an entry's constraint ("<= x" or
// "< x"), or nil when it has none.
func highestClaimed(e *Entry) *version.Version {
	var top *version.Version
	for _, c := range e.constraint {
		op := strings.TrimSpace(c.String())
		var raw string
		switch {
		case len(op) > 2 && op[:2] == "<=":
			raw = op[2:]
		case len(op) > 1 && op[0] == '<':
			raw = op[1:]
		default:
			continue
		}
		v, err := version.NewVersion(strings.TrimSpace(raw))
		if err == nil && (top == nil || v.GreaterThan(top)) {
			top = v
		}
	}
	return top
}

// Text returns the entry's patch file as written.
func (e *Entry) Text() ([]byte, error) {
	return e.read()
}
