package install

import (
	"bytes"
	"regexp"
	"strconv"
)

// zopesRe matches the ZOPES line the patch adds: value, then any comment.
var zopesRe = regexp.MustCompile(`(?m)^([ \t]*ZOPES=)([0-9]+)([ \t]*(?:#.*)?\r?)$`)

// Zopes returns the ZOPES value in a zopectl, 0 when there is none.
func Zopes(zopectl []byte) int {
	m := zopesRe.FindSubmatch(zopectl)
	if m == nil {
		return 0
	}
	n, _ := strconv.Atoi(string(m[2]))
	return n
}

// SetZopes rewrites the value of the first ZOPES= line, keeping its
// indentation and comment.
func SetZopes(zopectl []byte, n int) []byte {
	loc := zopesRe.FindSubmatchIndex(zopectl)
	if loc == nil {
		return zopectl
	}
	var b bytes.Buffer
	b.Write(zopectl[:loc[4]])
	b.WriteString(strconv.Itoa(n))
	b.Write(zopectl[loc[5]:])
	return b.Bytes()
}
