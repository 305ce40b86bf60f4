package install

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
)

// zopesRe matches a ZOPES= assignment line as the patch writes it and as
// an operator may have edited it: indentation, "export ", the value bare
// or in single or double quotes (possibly empty or not a number), then an
// optional comment.
var zopesRe = regexp.MustCompile(`(?m)^([ \t]*(?:export[ \t]+)?ZOPES=)(?:"([^"\n]*)"|'([^'\n]*)'|([^ \t#\r\n"';]*))([ \t]*(?:#[^\r\n]*)?)(\r?)$`)

// ZopesLine is the ZOPES= line of a patched zopectl, however it is spelled.
type ZopesLine struct {
	Line  int    // 1-based
	Value string // as written, without quotes: "3", "abc", ""
	N     int    // the value as a number ≥ 1; 0 when it is not one

	loc            []int  // submatch offsets in the file
	prefix, suffix string // what surrounds the value: indentation, export, ZOPES=, quotes, comment
}

// FindZopes finds the first ZOPES= line of a zopectl.
func FindZopes(zopectl []byte) (ZopesLine, bool) {
	loc := zopesRe.FindSubmatchIndex(zopectl)
	if loc == nil {
		return ZopesLine{}, false
	}
	z := ZopesLine{Line: bytes.Count(zopectl[:loc[0]], []byte("\n")) + 1, loc: loc}
	quote := ""
	for g, q := range map[int]string{2: `"`, 3: "'", 4: ""} {
		if loc[2*g] >= 0 {
			z.Value, quote = string(zopectl[loc[2*g]:loc[2*g+1]]), q
		}
	}
	z.prefix = string(zopectl[loc[2]:loc[3]]) + quote
	z.suffix = quote + string(zopectl[loc[10]:loc[11]])
	if n, err := strconv.Atoi(z.Value); err == nil && n >= 1 {
		z.N = n
	}
	return z, true
}

// Zopes returns the ZOPES value of a zopectl: 0 when there is no ZOPES
// line or its value is not a number ≥ 1 (the patched script then runs as
// shipped: one Zope).
func Zopes(zopectl []byte) int {
	z, _ := FindZopes(zopectl)
	return z.N
}

// canonical is the ZOPES line as every edition of the patch writes it.
const canonical = "ZOPES=1"

// Canonical returns zopectl with its ZOPES line written as the patch
// writes it (ZOPES=1, no quotes, export or comment), so that the patch can
// be recognised whatever the operator made of that line.
func (z ZopesLine) Canonical(zopectl []byte) []byte {
	var b bytes.Buffer
	b.Write(zopectl[:z.loc[0]])
	b.WriteString(canonical)
	b.Write(zopectl[z.loc[12]:]) // the \r, if any, and the rest
	return b.Bytes()
}

// SetZopes rewrites the value of the first ZOPES= line to n. With like
// (the line as found before, from FindZopes), the line keeps that line's
// spelling: indentation, export, quotes and comment.
func SetZopes(zopectl []byte, n int, like *ZopesLine) []byte {
	loc := zopesRe.FindSubmatchIndex(zopectl)
	if loc == nil {
		return zopectl
	}
	var b bytes.Buffer
	b.Write(zopectl[:loc[0]])
	if like != nil {
		b.WriteString(like.render(n))
	} else {
		b.Write(zopectl[loc[2]:loc[3]])
		b.WriteString(strconv.Itoa(n))
		b.Write(zopectl[loc[10]:loc[11]])
	}
	b.Write(zopectl[loc[12]:])
	return b.Bytes()
}

// render writes the line with value n in this line's spelling (the
// spelling was recorded from the file it was found in).
func (z ZopesLine) render(n int) string { return z.prefix + strconv.Itoa(n) + z.suffix }

// ZopesValueError says the ZOPES line holds something other than a whole
// number ≥ 1 (an operator's edit): zenpatch will not guess the count.
type ZopesValueError struct {
	Line  int
	Value string
}

// Error implements error.
func (e *ZopesValueError) Error() string {
	return fmt.Sprintf("%s:%d: ZOPES=%q is not a number of instances (the script runs one Zope with it)", ZopectlPath, e.Line, e.Value)
}

// Hint is the next step.
func (e *ZopesValueError) Hint() string {
	return fmt.Sprintf("give the number with 'zenpatch apply --zopes N' (or write ZOPES=N on line %d of %s)", e.Line, ZopectlPath)
}
