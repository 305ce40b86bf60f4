package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		f    Flag
		want valueKind
	}{
		{Flag{Long: "zenhome", Value: "string"}, valueDir},
		{Flag{Long: "patches", Value: "DIR"}, valueDir},
		{Flag{Long: "root", Value: "DIR"}, valueDir},
		{Flag{Long: "junit", Value: "FILE"}, valueFile},
		{Flag{Long: "zenpatch", Value: "PATH"}, valueFile},
		{Flag{Long: "user", Value: "USER"}, valueUser},
		{Flag{Long: "zopes", Value: "N"}, valueNone},
		{Flag{Long: "listen", Value: "ADDR"}, valueNone},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, kindOf(tt.f), tt.f.Long)
	}
}

// complete runs the script's _zenpatch in bash for the command line line
// (the cursor at its end; a trailing space starts a new word) in dir, and
// returns what it offers, sorted.
func complete(t *testing.T, script, dir, line string) []string {
	t.Helper()
	words := strings.Fields(line)
	if strings.HasSuffix(line, " ") {
		words = append(words, "")
	}
	// bash splits at '=' (COMP_WORDBREAKS); so does this.
	var split []string
	for _, w := range words {
		if before, after, ok := strings.Cut(w, "="); ok {
			split = append(split, before, "=")
			if after != "" {
				split = append(split, after)
			}
			continue
		}
		split = append(split, w)
	}
	var quoted []string
	for _, w := range split {
		quoted = append(quoted, shellQuote(w))
	}
	prog := "source " + shellQuote(script) + "\n" +
		"COMP_WORDS=(" + strings.Join(quoted, " ") + ")\n" +
		"COMP_CWORD=$((${#COMP_WORDS[@]} - 1))\n" +
		"_zenpatch\n" +
		`[ ${#COMPREPLY[@]} -eq 0 ] || printf '%s\n' "${COMPREPLY[@]}" | LC_ALL=C sort` + "\n"
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", prog)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	if len(out) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
}

func TestCompletionFromBinary(t *testing.T) {
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not installed")
	}
	h, err := ReadHelp(t.Context(), testBinary(t))
	require.NoError(t, err)
	script := filepath.Join(t.TempDir(), "zenpatch")
	require.NoError(t, os.WriteFile(script, Completion(h, "9.8.7"), 0o644))

	dir := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(dir, "opt"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "out.xml"), nil, 0o644))

	var commands []string
	for _, c := range h.Commands {
		commands = append(commands, c.Name)
	}
	slices.Sort(commands)
	tests := []struct {
		line string
		want []string
	}{
		{"zenpatch ho", []string{"hook"}},
		{"zenpatch --v", []string{"--version"}},
		{"zenpatch hook ", []string{"install", "uninstall"}},
		{"zenpatch hook in", []string{"install"}},
		{"zenpatch hook install ", nil}, // one action only
		{"zenpatch hook install --us", []string{"--user"}},
		{"zenpatch hook --root /tmp ", []string{"install", "uninstall"}}, // /tmp is --root's value
		{"zenpatch hook --root=/tmp un", []string{"uninstall"}},
		{"zenpatch hook --user r", []string{"root"}}, // users
		{"zenpatch zope st", []string{"start", "status", "stop"}},
		{"zenpatch zope --zenhome o", []string{"opt"}}, // directories only
		{"zenpatch apply --zenhome=o", []string{"opt"}},
		{"zenpatch apply --zenhome=", []string{"opt"}},
		{"zenpatch verify --junit ou", []string{"out.xml"}},
		{"zenpatch frontend ", []string{"apache", "haproxy", "nginx"}},
		{"zenpatch frontend --zenhome /opt n", []string{"nginx"}},
		{"zenpatch apply --zopes ", nil}, // a number: nothing to offer
		{"zenpatch apply -", []string{"--dry-run", "--help", "--patches", "--per-cpu", "--reject", "--version-override", "--zenhome", "--zope-memory", "--zopes", "-n"}},
		{"zenpatch apply --dry-run ", nil},
		{"zenpatch version --", []string{"--help", "--json"}},
		{"zenpatch help z", []string{"zope"}},
		{"zenpatch help ", commands},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			assert.Equal(t, tt.want, complete(t, script, dir, tt.line))
		})
	}

	out, err := exec.Command("bash", "--norc", "--noprofile", "-c", "source "+shellQuote(script)+" && complete -p zenpatch").Output()
	require.NoError(t, err)
	assert.Equal(t, "complete -F _zenpatch zenpatch\n", string(out))

	if _, err := exec.LookPath("shellcheck"); err == nil {
		out, err := exec.Command("shellcheck", "-s", "bash", script).CombinedOutput()
		assert.NoError(t, err, string(out))
	}
}
