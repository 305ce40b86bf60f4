// Package apply applies unified diffs to file contents the way GNU patch does
// (each hunk at its line, else at the nearest offset, else with fuzz), tells
// an applied patch from a pending or conflicting one, and prints the changes
// it would make as a unified diff.
//
// It knows nothing of Zenoss: it works on bytes and paths. Parsing and
// printing of unified diffs is done by github.com/sourcegraph/go-diff.
package apply

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/sourcegraph/go-diff/diff"
)

// MaxFuzz is the most context lines ignored at each end of a hunk, as GNU
// patch's default --fuzz 2.
const MaxFuzz = 2

// Patch is a parsed unified diff.
type Patch struct {
	ID    string
	Files []*File
}

// File is one file's part of a patch.
type File struct {
	Path  string // target path, "a/"/"b/" prefixes stripped (as patch -p1)
	Hunks []*Hunk
}

// Hunk is one "@@" block.
type Hunk struct {
	N         int // 1-based number within its file
	OrigStart int // 1-based first line in the original, from the header
	OrigLines int
	NewStart  int
	NewLines  int
	Lines     []Line
	PatchLine int // 1-based line of the "@@" header in the patch text
}

// Line is one hunk line: Op is ' ', '-' or '+'; Text has no line ending.
// NoEOL marks a line that had no newline at the end of its file.
type Line struct {
	Op    byte
	Text  string
	NoEOL bool
}

// ParseError is a malformed patch, with the patch's name and, when known,
// its line.
type ParseError struct {
	Patch string
	Line  int
	Msg   string
}

// Error implements error.
func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.Patch, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Patch, e.Msg)
}

// Hint is the next step.
func (e *ParseError) Hint() string {
	return "the patch file is not a unified diff zenpatch can use; regenerate it with 'diff -u'"
}

// Parse parses a unified diff named id (used in errors). Paths are taken
// from the "+++" line with a leading "a/" or "b/" removed; patches that
// create or delete files are refused.
func Parse(id string, data []byte) (*Patch, error) {
	fds, err := diff.ParseMultiFileDiff(data)
	if err != nil {
		return nil, &ParseError{Patch: id, Line: parseErrLine(err), Msg: "not a unified diff: " + err.Error()}
	}
	if len(fds) == 0 {
		return nil, &ParseError{Patch: id, Msg: "no file in the patch"}
	}
	p := &Patch{ID: id}
	headerLines := hunkHeaderLines(data)
	hi := 0
	for _, fd := range fds {
		if fd.OrigName == "/dev/null" || fd.NewName == "/dev/null" {
			return nil, &ParseError{Patch: id, Msg: fmt.Sprintf("%s: creating or deleting files is not supported", fd.NewName)}
		}
		name := stripPrefix(fd.NewName)
		if name == "" {
			return nil, &ParseError{Patch: id, Msg: "a file without a name (missing '+++' line?)"}
		}
		if len(fd.Hunks) == 0 {
			return nil, &ParseError{Patch: id, Msg: fmt.Sprintf("%s: no hunks", name)}
		}
		f := &File{Path: name}
		for n, dh := range fd.Hunks {
			h, err := convertHunk(dh)
			line := 0
			if hi < len(headerLines) {
				line = headerLines[hi]
			}
			hi++
			if err != nil {
				return nil, &ParseError{Patch: id, Line: line, Msg: fmt.Sprintf("%s hunk #%d: %v", name, n+1, err)}
			}
			h.N = n + 1
			h.PatchLine = line
			f.Hunks = append(f.Hunks, h)
		}
		p.Files = append(p.Files, f)
	}
	return p, nil
}

func parseErrLine(err error) int {
	var pe *diff.ParseError
	if errors.As(err, &pe) {
		return pe.Line
	}
	return 0
}

func hunkHeaderLines(data []byte) []int {
	var out []int
	for i, l := range bytes.Split(data, []byte("\n")) {
		if bytes.HasPrefix(l, []byte("@@ ")) {
			out = append(out, i+1)
		}
	}
	return out
}

func stripPrefix(name string) string {
	if i := strings.IndexAny(name, "\t"); i >= 0 {
		name = name[:i]
	}
	if strings.HasPrefix(name, "a/") || strings.HasPrefix(name, "b/") {
		return name[2:]
	}
	return name
}

func convertHunk(dh *diff.Hunk) (*Hunk, error) {
	h := &Hunk{
		OrigStart: int(dh.OrigStartLine), OrigLines: int(dh.OrigLines),
		NewStart: int(dh.NewStartLine), NewLines: int(dh.NewLines),
	}
	body := dh.Body
	origNoEOLEnd := -1
	if dh.OrigNoNewlineAt > 0 {
		origNoEOLEnd = int(dh.OrigNoNewlineAt)
	}
	off := 0
	for off < len(body) {
		end := bytes.IndexByte(body[off:], '\n')
		last := end < 0
		if last {
			end = len(body)
		} else {
			end += off
		}
		raw := body[off:end]
		next := end + 1
		if len(raw) == 0 {
			return nil, errors.New("empty line in hunk body (a context line needs its leading space)")
		}
		l := Line{Op: raw[0], Text: strings.TrimSuffix(string(raw[1:]), "\r")}
		switch l.Op {
		case ' ', '-', '+':
		default:
			return nil, fmt.Errorf("line starts with %q; hunk lines start with ' ', '-' or '+'", raw[0])
		}
		if last {
			l.NoEOL = true
		}
		if l.Op == '-' && origNoEOLEnd == next {
			l.NoEOL = true
		}
		h.Lines = append(h.Lines, l)
		off = next
	}
	var o, n int
	for _, l := range h.Lines {
		if l.Op != '+' {
			o++
		}
		if l.Op != '-' {
			n++
		}
	}
	if o != h.OrigLines || n != h.NewLines {
		return nil, fmt.Errorf("header says -%d +%d lines but the body has -%d +%d", h.OrigLines, h.NewLines, o, n)
	}
	return h, nil
}

// Reverse returns the patch that undoes p.
func (p *Patch) Reverse() *Patch {
	r := &Patch{ID: p.ID + " (reversed)"}
	for _, f := range p.Files {
		rf := &File{Path: f.Path}
		for _, h := range f.Hunks {
			rh := &Hunk{N: h.N, OrigStart: h.NewStart, OrigLines: h.NewLines, NewStart: h.OrigStart, NewLines: h.OrigLines, PatchLine: h.PatchLine}
			for _, l := range h.Lines {
				switch l.Op {
				case '+':
					l.Op = '-'
				case '-':
					l.Op = '+'
				}
				rh.Lines = append(rh.Lines, l)
			}
			rf.Hunks = append(rf.Hunks, rh)
		}
		r.Files = append(r.Files, rf)
	}
	return r
}

// File returns the patch's part for path, or nil.
func (p *Patch) File(path string) *File {
	for _, f := range p.Files {
		if f.Path == path {
			return f
		}
	}
	return nil
}
