package apply

import "bytes"

// ANSI colours as git uses them for diffs.
const (
	bold  = "\x1b[1m"
	red   = "\x1b[31m"
	green = "\x1b[32m"
	cyan  = "\x1b[36m"
	reset = "\x1b[0m"
)

// Colorize adds terminal colours to a unified diff: headers bold, hunk
// headers cyan, removals red, additions green.
func Colorize(d []byte) []byte {
	var b bytes.Buffer
	for _, line := range bytes.SplitAfter(d, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		body := bytes.TrimRight(line, "\r\n")
		end := line[len(body):]
		var c string
		switch {
		case bytes.HasPrefix(line, []byte("--- ")), bytes.HasPrefix(line, []byte("+++ ")), bytes.HasPrefix(line, []byte("diff ")):
			c = bold
		case bytes.HasPrefix(line, []byte("@@")):
			c = cyan
		case line[0] == '-':
			c = red
		case line[0] == '+':
			c = green
		}
		if c == "" {
			b.Write(line)
			continue
		}
		b.WriteString(c)
		b.Write(body)
		b.WriteString(reset)
		b.Write(end)
	}
	return b.Bytes()
}
