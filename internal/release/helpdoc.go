package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// Help is everything the binary says about itself: `zenpatch help` and
// `zenpatch COMMAND --help` for each command. The man page and the bash
// completion are made from it, so they cannot drift from the binary.
type Help struct {
	// Summary is the one-line description under `zenpatch help`, without
	// the "zenpatch: " prefix or a final period.
	Summary string
	// Notes is the text after the command list (--help, exit codes).
	Notes string
	// Commands are in the order `zenpatch help` lists them.
	Commands []Command
}

// Command is one command's help.
type Command struct {
	Name    string // "hook"
	Summary string // its line in `zenpatch help`
	// Usage is the usage line without "zenpatch ": "hook install|uninstall [flags]".
	Usage string
	// Actions are the words the usage allows right after the command
	// ("install", "uninstall"), or for help the command names.
	Actions []string
	// Text is the description and examples, as printed.
	Text  string
	Flags []Flag
}

// Flag is one line of a command's "Flags:" list (pflag's format).
type Flag struct {
	Short string // "n" for -n, or ""
	Long  string // "dry-run"
	// Value names the flag's argument ("string", "DIR", "N"), "" for a
	// flag that takes none (a boolean, printed as --name[=true|false]).
	Value string
	Usage string // the description, "(default …)" included
}

// helpTimeout bounds each help command.
const helpTimeout = 30 * time.Second

// ReadHelp runs bin's help commands and parses what they print.
func ReadHelp(ctx context.Context, bin string) (*Help, error) {
	top, err := runHelp(ctx, bin, "help")
	if err != nil {
		return nil, err
	}
	h, err := parseTop(top)
	if err != nil {
		return nil, fmt.Errorf("zenpatch help: %w", err)
	}
	var names []string
	for i := range h.Commands {
		c := &h.Commands[i]
		names = append(names, c.Name)
		if c.Name == "help" { // help --help prints the top-level usage
			continue
		}
		out, err := runHelp(ctx, bin, c.Name, "--help")
		if err != nil {
			return nil, err
		}
		if err := parseCommand(c, out); err != nil {
			return nil, fmt.Errorf("zenpatch %s --help: %w", c.Name, err)
		}
	}
	for i := range h.Commands {
		if c := &h.Commands[i]; c.Name == "help" {
			c.Usage, c.Actions, c.Text = "help [COMMAND]", names, sentence(c.Summary)
		}
	}
	return h, nil
}

func runHelp(ctx context.Context, bin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, helpTimeout)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("zenpatch %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// commandLine is a line of the list under "Commands:".
var commandLine = regexp.MustCompile(`^  ([a-z][a-z0-9-]*) +(\S.*)$`)

// parseTop parses `zenpatch help`: a summary line, a usage paragraph,
// "Commands:" with one indented line per command, then notes.
func parseTop(text string) (*Help, error) {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	h := &Help{Summary: strings.TrimSuffix(strings.TrimPrefix(lines[0], "zenpatch: "), ".")}
	i := indexOf(lines, "Commands:")
	if i < 0 {
		return nil, fmt.Errorf("no \"Commands:\" line (the help format changed: update internal/release/helpdoc.go)")
	}
	for i++; i < len(lines) && lines[i] != ""; i++ {
		m := commandLine.FindStringSubmatch(lines[i])
		if m == nil {
			return nil, fmt.Errorf("command list line %q is not \"  NAME  SUMMARY\"", lines[i])
		}
		h.Commands = append(h.Commands, Command{Name: m[1], Summary: m[2]})
	}
	if len(h.Commands) == 0 {
		return nil, fmt.Errorf("no commands under \"Commands:\"")
	}
	h.Notes = strings.TrimSpace(strings.Join(lines[i:], "\n"))
	return h, nil
}

// flagLine is one flag in pflag's FlagUsages layout:
// "  -n, --dry-run[=true|false]   usage" or "      --zenhome string   usage".
var flagLine = regexp.MustCompile(`^  (?:-([^-\s]), |    )--([^\s\[=]+)(\[=[^\]]*\])?(?: ([^\s]+))?  +(\S.*)$`)

// parseCommand parses `zenpatch NAME --help`: "Usage: zenpatch USAGE", a
// blank line, the text, then "Flags:" and pflag's flag list.
func parseCommand(c *Command, text string) error {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	usage, ok := strings.CutPrefix(lines[0], "Usage: zenpatch ")
	if !ok || !(usage == c.Name || strings.HasPrefix(usage, c.Name+" ")) {
		return fmt.Errorf("first line %q is not \"Usage: zenpatch %s …\" (the help format changed: update internal/release/helpdoc.go)", lines[0], c.Name)
	}
	c.Usage = usage
	if fields := strings.Fields(usage); len(fields) > 1 && strings.Contains(fields[1], "|") && !strings.ContainsAny(fields[1][:1], "[-<") {
		c.Actions = strings.Split(fields[1], "|")
	}
	f := indexOf(lines, "Flags:")
	if f < 0 {
		return fmt.Errorf("no \"Flags:\" line")
	}
	c.Text = strings.TrimSpace(strings.Join(lines[1:f], "\n"))
	for _, l := range lines[f+1:] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if m := flagLine.FindStringSubmatch(l); m != nil {
			fl := Flag{Short: m[1], Long: m[2], Value: m[4], Usage: m[5]}
			if m[3] != "" && fl.Value != "" { // "--x[=v] NAME" cannot happen in pflag
				return fmt.Errorf("flag line %q has both [=…] and a value name", l)
			}
			c.Flags = append(c.Flags, fl)
			continue
		}
		// pflag indents the further lines of a multi-line usage.
		if len(c.Flags) > 0 && strings.HasPrefix(l, "      ") && !strings.HasPrefix(strings.TrimSpace(l), "-") {
			last := &c.Flags[len(c.Flags)-1]
			last.Usage += "\n" + strings.TrimSpace(l)
			continue
		}
		return fmt.Errorf("flag line %q is not in pflag's \"  -x, --name VALUE   usage\" layout", l)
	}
	return nil
}

func indexOf(lines []string, s string) int {
	for i, l := range lines {
		if l == s {
			return i
		}
	}
	return -1
}
