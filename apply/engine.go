package apply

import (
	"fmt"
	"strings"
)

// Placement says where a hunk applied: Line is the 1-based line of the
// hunk's first (kept) line in the file before the change, Offset the
// distance from the line its header names, Fuzz the context lines ignored
// at each end.
type Placement struct {
	Hunk   int
	Line   int
	Offset int
	Fuzz   int
}

// String implements fmt.Stringer.
func (p Placement) String() string {
	s := fmt.Sprintf("hunk #%d at line %d", p.Hunk, p.Line)
	var notes []string
	if p.Offset != 0 {
		unit := "lines"
		if p.Offset == 1 || p.Offset == -1 {
			unit = "line"
		}
		notes = append(notes, fmt.Sprintf("offset %+d %s", p.Offset, unit))
	}
	if p.Fuzz != 0 {
		notes = append(notes, fmt.Sprintf("fuzz %d", p.Fuzz))
	}
	if len(notes) > 0 {
		s += " (" + strings.Join(notes, ", ") + ")"
	}
	return s
}

// HunkError says why a hunk could not be placed.
type HunkError struct {
	Path      string
	Hunk      int
	PatchLine int    // the hunk's "@@" line in the patch
	Want      int    // the line the header names
	Detail    string // the nearest near-match, in words
}

// Error implements error.
func (e *HunkError) Error() string {
	return fmt.Sprintf("%s: hunk #%d (patch line %d, expected near line %d) does not apply: %s", e.Path, e.Hunk, e.PatchLine, e.Want, e.Detail)
}

// text is a file split into lines; eols[i] is "\n", "\r\n" or "" (last line
// without a newline).
type text struct {
	lines []string
	eols  []string
	eol   string // the file's usual line ending
}

func split(data []byte) *text {
	t := &text{}
	s := string(data)
	crlf, lf := 0, 0
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			t.lines = append(t.lines, s)
			t.eols = append(t.eols, "")
			break
		}
		line, eol := s[:i], "\n"
		if strings.HasSuffix(line, "\r") {
			line, eol = line[:len(line)-1], "\r\n"
			crlf++
		} else {
			lf++
		}
		t.lines = append(t.lines, line)
		t.eols = append(t.eols, eol)
		s = s[i+1:]
	}
	t.eol = "\n"
	if crlf > lf {
		t.eol = "\r\n"
	}
	return t
}

// ApplyFile applies f's hunks to data, placing each with offset and up to
// maxFuzz lines of fuzz. It returns the new bytes and where each hunk went,
// or a *HunkError for the first hunk that fits nowhere.
func ApplyFile(data []byte, f *File, maxFuzz int) ([]byte, []Placement, error) {
	t := split(data)
	var out strings.Builder
	var places []Placement
	pos, offset := 0, 0
	pending := "" // a line written without its newline, needing one if more follows
	emit := func(line, eol string) {
		if pending != "" {
			out.WriteString(pending)
			pending = ""
		}
		out.WriteString(line)
		if eol == "" {
			pending = t.eol
			return
		}
		out.WriteString(eol)
	}
	for _, h := range f.Hunks {
		loc, pre, post, fuzz := -1, 0, 0, 0
		for fz := 0; fz <= maxFuzz && loc < 0; fz++ {
			lead, trail := contextEnds(h)
			pre, post = min(fz, lead), min(fz, trail)
			if fz > 0 && pre == 0 && post == 0 {
				break // nothing more to ignore
			}
			pattern := oldLines(h.Lines[pre : len(h.Lines)-post])
			if fz > 0 && !distinctive(pattern) {
				break // too little left to place the hunk safely
			}
			want := h.OrigStart - 1 + offset + pre
			if h.OrigLines == 0 {
				want = h.OrigStart + offset
			}
			loc = search(t.lines, pattern, want, pos)
			fuzz = fz
		}
		if loc < 0 {
			return nil, nil, &HunkError{Path: f.Path, Hunk: h.N, PatchLine: h.PatchLine, Want: h.OrigStart + offset, Detail: nearMiss(t.lines, oldLines(h.Lines), h.OrigStart-1+offset)}
		}
		start := h.OrigStart
		if h.OrigLines == 0 {
			start++
		}
		places = append(places, Placement{Hunk: h.N, Line: loc - pre + 1, Offset: loc - pre + 1 - start, Fuzz: fuzz})
		for ; pos < loc; pos++ {
			emit(t.lines[pos], t.eols[pos])
		}
		for _, l := range h.Lines[pre : len(h.Lines)-post] {
			switch l.Op {
			case ' ':
				emit(t.lines[pos], t.eols[pos])
				pos++
			case '-':
				pos++
			case '+':
				eol := t.eol
				if l.NoEOL {
					eol = ""
				}
				emit(l.Text, eol)
			}
		}
		offset = loc - pre - (h.OrigStart - 1)
		if h.OrigLines == 0 {
			offset = loc - h.OrigStart
		}
	}
	for ; pos < len(t.lines); pos++ {
		emit(t.lines[pos], t.eols[pos])
	}
	return []byte(out.String()), places, nil
}

// distinctive reports whether a fuzzed pattern still says where it belongs:
// at least two lines, one of them not blank. GNU patch would place a hunk
// on a lone blank line; a production script deserves better.
func distinctive(pattern []string) bool {
	if len(pattern) < 2 {
		return false
	}
	for _, l := range pattern {
		if strings.TrimSpace(l) != "" {
			return true
		}
	}
	return false
}

// contextEnds counts a hunk's leading and trailing context lines.
func contextEnds(h *Hunk) (lead, trail int) {
	for lead < len(h.Lines) && h.Lines[lead].Op == ' ' {
		lead++
	}
	for trail < len(h.Lines)-lead && h.Lines[len(h.Lines)-1-trail].Op == ' ' {
		trail++
	}
	return lead, trail
}

func oldLines(ls []Line) []string {
	var out []string
	for _, l := range ls {
		if l.Op != '+' {
			out = append(out, l.Text)
		}
	}
	return out
}

// search finds pattern in lines at or after minPos, nearest to want.
func search(lines, pattern []string, want, minPos int) int {
	last := len(lines) - len(pattern)
	if last < minPos {
		return -1
	}
	want = max(minPos, min(want, last))
	for d := 0; ; d++ {
		lo, hi := want-d, want+d
		if lo < minPos && hi > last {
			return -1
		}
		if lo >= minPos && matchAt(lines, pattern, lo) {
			return lo
		}
		if d > 0 && hi <= last && matchAt(lines, pattern, hi) {
			return hi
		}
	}
}

func matchAt(lines, pattern []string, at int) bool {
	for i, p := range pattern {
		if lines[at+i] != p {
			return false
		}
	}
	return true
}

// nearMiss describes the position where most of pattern matches, preferring
// the one nearest want, and the first line that differs there.
func nearMiss(lines, pattern []string, want int) string {
	if len(pattern) == 0 {
		return "the hunk has no lines to match"
	}
	best, bestN := -1, 0
	for at := 0; at < len(lines); at++ {
		n := 0
		for i, p := range pattern {
			if at+i < len(lines) && lines[at+i] == p {
				n++
			}
		}
		if n > bestN || n == bestN && best >= 0 && abs(at-want) < abs(best-want) {
			best, bestN = at, n
		}
	}
	if best < 0 || bestN == 0 {
		return fmt.Sprintf("none of its %d lines is found in the file", len(pattern))
	}
	for i, p := range pattern {
		if best+i >= len(lines) {
			return fmt.Sprintf("closest match at line %d (%d of %d lines agree); the file ends where the patch expects %q",
				best+1, bestN, len(pattern), p)
		}
		if lines[best+i] != p {
			return fmt.Sprintf("closest match at line %d (%d of %d lines agree); line %d is %q, the patch expects %q",
				best+1, bestN, len(pattern), best+i+1, lines[best+i], p)
		}
	}
	return "matched lines overlap an earlier hunk"
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// Verdict is how a patch stands against a file.
type Verdict int

// The verdicts of Check.
const (
	Pending  Verdict = iota // the patch applies: not applied yet
	Applied                 // the reverse of one of its editions applies: already applied
	Conflict                // neither applies
)

// String implements fmt.Stringer.
func (v Verdict) String() string {
	return [...]string{"pending", "applied", "conflict"}[v]
}

// Fit is what Check found.
type Fit struct {
	Verdict Verdict
	// Edition is, for Applied, the index in revs of the edition found in
	// place (0: the current one).
	Edition int
	// Out is, for Pending, the patched bytes; for Applied, the file with
	// that edition removed (the original as best known).
	Out    []byte
	Places []Placement // for Pending: where each hunk landed
	Err    error       // for Conflict: why the patch does not apply
}

// Check tells whether the patch f is pending, applied or in conflict in
// data. revs are the reverses of the patch's editions, the current one
// first, then older ones (so a file patched by an older edition is told
// apart from a vendor file). An edition in place matched exactly (no fuzz)
// comes first, so that a fuzzy forward match never stacks a second block on
// one already there; then the patch itself with fuzz; then the editions
// with fuzz.
func Check(data []byte, f *File, revs []*File, maxFuzz int) Fit {
	for i, r := range revs {
		if out, _, err := ApplyFile(data, r, 0); err == nil {
			return Fit{Verdict: Applied, Edition: i, Out: out}
		}
	}
	out, places, ferr := ApplyFile(data, f, maxFuzz)
	if ferr == nil {
		return Fit{Verdict: Pending, Out: out, Places: places}
	}
	for i, r := range revs {
		if out, _, err := ApplyFile(data, r, maxFuzz); err == nil {
			return Fit{Verdict: Applied, Edition: i, Out: out}
		}
	}
	return Fit{Verdict: Conflict, Err: ferr}
}
