package apply

import (
	"bytes"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/sourcegraph/go-diff/diff"
)

// Change is one file's old and new bytes, and where the patch's hunks went.
type Change struct {
	Path   string // slash-separated, relative to the tree the diff is for
	Old    []byte
	New    []byte
	Places []Placement
}

// Plan is the set of changes one operation makes. apply writes it, diff
// prints it, verify checks it: one plan, several writers.
type Plan struct {
	Changes []Change
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool {
	for _, c := range p.Changes {
		if !bytes.Equal(c.Old, c.New) {
			return false
		}
	}
	return true
}

// Diff returns the plan as a unified diff with "a/" and "b/" prefixes (so
// "patch -p1" inside the tree applies it), three lines of context. It is
// empty when the plan changes nothing.
func (p *Plan) Diff() ([]byte, error) {
	var fds []*diff.FileDiff
	for _, c := range p.Changes {
		if bytes.Equal(c.Old, c.New) {
			continue
		}
		fds = append(fds, FileDiff(c.Path, c.Old, c.New, 3))
	}
	if len(fds) == 0 {
		return nil, nil
	}
	return diff.PrintMultiFileDiff(fds)
}

// FileDiff computes the unified diff of old → new for path. Lines are
// compared with their endings, so a CRLF or final-newline change shows.
func FileDiff(path string, old, new []byte, context int) *diff.FileDiff {
	a, b := lines(old), lines(new)
	m := difflib.NewMatcher(a, b)
	fd := &diff.FileDiff{OrigName: "a/" + path, NewName: "b/" + path}
	for _, group := range m.GetGroupedOpCodes(context) {
		first, last := group[0], group[len(group)-1]
		h := &diff.Hunk{
			OrigStartLine: int32(first.I1) + 1, OrigLines: int32(last.I2 - first.I1),
			NewStartLine: int32(first.J1) + 1, NewLines: int32(last.J2 - first.J1),
		}
		if h.OrigLines == 0 {
			h.OrigStartLine--
		}
		if h.NewLines == 0 {
			h.NewStartLine--
		}
		var body bytes.Buffer
		add := func(prefix byte, line string) {
			body.WriteByte(prefix)
			body.WriteString(line)
			if !strings.HasSuffix(line, "\n") {
				body.WriteByte('\n')
				if prefix == '-' {
					h.OrigNoNewlineAt = int32(body.Len())
				} else {
					// go-diff marks a missing newline on the new side (or
					// on both, for context) by a body without a final one.
					body.Truncate(body.Len() - 1)
				}
			}
		}
		for _, op := range group {
			switch op.Tag {
			case 'e':
				for _, l := range a[op.I1:op.I2] {
					add(' ', l)
				}
			case 'd', 'r', 'i':
				for _, l := range a[op.I1:op.I2] {
					add('-', l)
				}
				for _, l := range b[op.J1:op.J2] {
					add('+', l)
				}
			}
		}
		h.Body = body.Bytes()
		fd.Hunks = append(fd.Hunks, h)
	}
	return fd
}

func lines(data []byte) []string {
	if len(data) == 0 {
		return nil
	}
	out := strings.SplitAfter(string(data), "\n")
	if out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}
