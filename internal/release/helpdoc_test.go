package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const sampleTop = `zenpatch: run several Zope instances behind a balancer so the Zenoss UI uses every CPU.

Usage: zenpatch COMMAND [flags]

Commands:
  demo      the whole flow on a sandbox install it creates (needs python3)
  hook      install|uninstall: yum/dnf actions
  help      list commands, or 'help COMMAND'

Every command takes --help. Exit codes: 0 ok, 1 error, 64 usage.
`

func TestParseTop(t *testing.T) {
	h, err := parseTop(sampleTop)
	require.NoError(t, err)
	assert.Equal(t, "run several Zope instances behind a balancer so the Zenoss UI uses every CPU", h.Summary)
	assert.Equal(t, []Command{
		{Name: "demo", Summary: "the whole flow on a sandbox install it creates (needs python3)"},
		{Name: "hook", Summary: "install|uninstall: yum/dnf actions"},
		{Name: "help", Summary: "list commands, or 'help COMMAND'"},
	}, h.Commands)
	assert.Equal(t, "Every command takes --help. Exit codes: 0 ok, 1 error, 64 usage.", h.Notes)
}

func TestParseTopRefusesOtherFormats(t *testing.T) {
	tests := []struct{ name, text, err string }{
		{"no command list", "zenpatch: x\n\nUsage: zenpatch COMMAND\n", `no "Commands:" line`},
		{"empty command list", "zenpatch: x\n\nCommands:\n\nnotes\n", "no commands"},
		{"odd line", "zenpatch: x\n\nCommands:\n  demo\n", `"  demo" is not`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseTop(tt.text)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
}

const sampleApply = `Usage: zenpatch apply [flags]

Apply the multi-Zope patch.
  indented line

Examples:
  zenpatch apply --zopes 4

Flags:
      --zenhome string             Zenoss install root (default $ZENHOME, else /opt/zenoss)
      --patches DIR                use the patch set in DIR
  -n, --dry-run[=true|false]       print the diff and change nothing
      --long-usage int             first line
                                   second line
      --json[=true|false]          print JSON
`

func TestParseCommand(t *testing.T) {
	c := Command{Name: "apply"}
	require.NoError(t, parseCommand(&c, sampleApply))
	assert.Equal(t, "apply [flags]", c.Usage)
	assert.Empty(t, c.Actions)
	assert.Equal(t, "Apply the multi-Zope patch.\n  indented line\n\nExamples:\n  zenpatch apply --zopes 4", c.Text)
	assert.Equal(t, []Flag{
		{Long: "zenhome", Value: "string", Usage: "Zenoss install root (default $ZENHOME, else /opt/zenoss)"},
		{Long: "patches", Value: "DIR", Usage: "use the patch set in DIR"},
		{Short: "n", Long: "dry-run", Usage: "print the diff and change nothing"},
		{Long: "long-usage", Value: "int", Usage: "first line\nsecond line"},
		{Long: "json", Usage: "print JSON"},
	}, c.Flags)
}

func TestParseCommandActions(t *testing.T) {
	tests := []struct {
		usage string
		want  []string
	}{
		{"hook install|uninstall [flags]", []string{"install", "uninstall"}},
		{"zope start|stop|restart|status [N] [flags]", []string{"start", "stop", "restart", "status"}},
		{"verify [--patch-set] [--live] [flags]", nil},
		{"version", nil},
		{"frontend [a|b]", nil},
	}
	for _, tt := range tests {
		t.Run(tt.usage, func(t *testing.T) {
			c := Command{Name: strings.Fields(tt.usage)[0]}
			require.NoError(t, parseCommand(&c, "Usage: zenpatch "+tt.usage+"\n\nText.\n\nFlags:\n"))
			assert.Equal(t, tt.want, c.Actions)
			assert.Empty(t, c.Flags)
		})
	}
}

func TestParseCommandRefusesOtherFormats(t *testing.T) {
	tests := []struct{ name, text, err string }{
		{"another command's usage", "Usage: zenpatch diff\n\nx\n\nFlags:\n", `is not "Usage: zenpatch apply`},
		{"a prefix of the name", "Usage: zenpatch applyx\n\nx\n\nFlags:\n", `is not "Usage: zenpatch apply`},
		{"no usage line", "apply things\n", "is not"},
		{"no flags header", "Usage: zenpatch apply\n\nx\n", `no "Flags:" line`},
		{"odd flag line", "Usage: zenpatch apply\n\nx\n\nFlags:\n  --zenhome\n", "not in pflag's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Command{Name: "apply"}
			err := parseCommand(&c, tt.text)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
}

// TestReadHelpFromBinary parses the real binary's help: when the help
// format changes, this fails before a release does.
func TestReadHelpFromBinary(t *testing.T) {
	h, err := ReadHelp(t.Context(), testBinary(t))
	require.NoError(t, err)
	assert.NotEmpty(t, h.Summary)
	assert.Contains(t, h.Notes, "Exit codes:")
	byName := map[string]Command{}
	var names []string
	for _, c := range h.Commands {
		byName[c.Name] = c
		names = append(names, c.Name)
		assert.NotEmpty(t, c.Usage, c.Name)
		assert.NotEmpty(t, c.Text, c.Name)
	}
	for _, n := range []string{"status", "diff", "apply", "revert", "upgrade", "verify", "hook", "zope", "balance", "frontend", "version", "help"} {
		assert.Contains(t, byName, n)
	}
	assert.Equal(t, []string{"install", "uninstall"}, byName["hook"].Actions)
	assert.Equal(t, []string{"apache", "haproxy", "nginx"}, byName["frontend"].Actions)
	assert.Subset(t, byName["zope"].Actions, []string{"start", "stop", "restart", "status"})
	assert.Equal(t, names, byName["help"].Actions)
	assert.Contains(t, byName["apply"].Flags, Flag{Short: "n", Long: "dry-run", Usage: "print the diff and change nothing (same as 'zenpatch diff')"})
	assert.Contains(t, byName["version"].Flags, Flag{Long: "json", Usage: "print the stable JSON form"})
	var user Flag
	for _, f := range byName["hook"].Flags {
		if f.Long == "user" {
			user = f
		}
	}
	assert.Equal(t, "USER", user.Value)
}
