package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRoffEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"--dry-run", `\-\-dry\-run`},
		{`C:\path`, `C:\epath`},
		{"1.25–1.5", `1.25\(en1.5`},
		{"512MiB, 1.5GiB, …", `512MiB, 1.5GiB, ...`},
		{"café", `caf\[u00E9]`},
		{"a\tb", "a        b"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, roffEscape(tt.in), tt.in)
	}
	assert.Equal(t, `\&.patch files`, roffLine(".patch files"))
	assert.Equal(t, `\&'zenpatch upgrade' runs`, roffLine("'zenpatch upgrade' runs"))
	assert.Equal(t, `"say \(dqhi\(dq"`, quoteArg(`say "hi"`))
}

func TestSplitExitCodes(t *testing.T) {
	rest, codes := splitExitCodes("Every command takes --help. Exit codes: 0 ok, 1 error, 2 changes pending or drift, 64 usage.")
	assert.Equal(t, "Every command takes --help.", rest)
	assert.Equal(t, []string{"0 ok", "1 error", "2 changes pending or drift", "64 usage"}, codes)
	rest, codes = splitExitCodes("Nothing about codes.")
	assert.Equal(t, "Nothing about codes.", rest)
	assert.Nil(t, codes)
}

// manRequest is a roff control line the page may use: man(7) macros and
// the few requests groff 1.18 (RHEL/CentOS 6) knows.
var manRequest = regexp.MustCompile(`^\.(\\"|TH|SH|SS|PP|TP|RS|RE|nf|fi|br|B|nh|ad)( |$)`)

func TestManPageFromBinary(t *testing.T) {
	h, err := ReadHelp(t.Context(), testBinary(t))
	require.NoError(t, err)
	page := ManPage(h, "9.8.7-rc.1", time.Date(2026, 9, 21, 0, 0, 0, 0, time.UTC))

	for i, l := range strings.Split(string(page), "\n") {
		for _, r := range l {
			require.Less(t, r, rune(128), "line %d is not ASCII: %q", i+1, l)
		}
		if strings.HasPrefix(l, ".") || strings.HasPrefix(l, "'") {
			assert.Regexp(t, manRequest, l, "line %d", i+1)
		}
	}
	s := string(page)
	assert.Contains(t, s, `.TH ZENPATCH 1 "2026\-09\-21" "zenpatch 9.8.7\-rc.1" "User Commands"`)
	assert.Contains(t, s, ".SH \"EXIT STATUS\"\n.TP\n.B 0\nok\n")
	for _, c := range h.Commands {
		assert.Contains(t, s, ".SS \"zenpatch "+roffEscape(c.Usage)+"\"\n")
		for _, f := range c.Flags {
			assert.Contains(t, s, `\fB\-\-`+roffEscape(f.Long)+`\fR`, "%s --%s", c.Name, f.Long)
		}
	}

	// groff itself: no warnings at the strictest level.
	if _, err := exec.LookPath("groff"); err == nil {
		cmd := exec.Command("groff", "-man", "-Tutf8", "-ww", "-z")
		cmd.Stdin = bytes.NewReader(page)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err)
		assert.Empty(t, string(out), "groff warnings")
	}
	// man, as a reader sees it.
	if _, err := exec.LookPath("man"); err == nil {
		f := filepath.Join(t.TempDir(), "zenpatch.1")
		require.NoError(t, os.WriteFile(f, page, 0o644))
		cmd := exec.Command("man", "-l", f)
		cmd.Env = append(os.Environ(), "MANWIDTH=100", "MANPAGER=cat", "PAGER=cat")
		out, err := cmd.Output()
		require.NoError(t, err)
		text := string(out)
		assert.Contains(t, text, "zenpatch - run several Zope instances")
		assert.Contains(t, text, "zenpatch hook install|uninstall [flags]")
		assert.Contains(t, text, "--zenhome string")
		assert.Contains(t, text, "zenpatch apply --zopes 4")
	}
}
