package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/sizing"
	"github.com/zenpatch/zenpatch/patches"
)

// installFlags are the flags of every command that reads an install.
type installFlags struct {
	zenhome         string
	patchesDir      string
	versionOverride string
}

func (f *installFlags) add(fs *pflag.FlagSet) {
	f.addHome(fs)
	fs.StringVar(&f.patchesDir, "patches", "", "use the patch set in `DIR` (index.json + .patch files) instead of the bundled one")
	fs.StringVar(&f.versionOverride, "version-override", "", "treat the install as Zenoss `VERSION` (when ZVersion.py and rpm cannot tell)")
}

// addHome adds --zenhome only: for the commands that run an install but
// do not patch it (zope, balance, frontend, hook).
func (f *installFlags) addHome(fs *pflag.FlagSet) {
	fs.StringVar(&f.zenhome, "zenhome", "", "Zenoss install root (default $ZENHOME, else /opt/zenoss)")
}

// sizingFlags steer ZOPES.
type sizingFlags struct {
	zopes      string
	perCPU     float64
	zopeMemory string
}

func (s *sizingFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&s.zopes, "zopes", "", "pin ZOPES to `N` instances, or 'auto' to follow the recommendation again")
	fs.Float64Var(&s.perCPU, "per-cpu", 1, "Zope instances per usable CPU (1.25–1.5 with hyperthreading)")
	fs.StringVar(&s.zopeMemory, "zope-memory", "1GiB", "memory one Zope instance needs (`SIZE`: 512MiB, 1.5GiB, …), caps ZOPES")
}

// newFlags makes a command's flag set; --help prints the usage line, the
// description with its examples, and the flags.
func newFlags(inv *invocation, name, usage, description string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(inv.stdout, "Usage: zenpatch %s\n\n%s\n\nFlags:\n%s", usage, strings.TrimSpace(description), fs.FlagUsages())
	}
	return fs
}

// parse parses args; --help prints the usage (once, by pflag) and returns
// errHelp; maxArgs >= 0 refuses more positional arguments than that.
func parse(fs *pflag.FlagSet, args []string, maxArgs int) error {
	err := fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) {
		return errHelp
	}
	if err != nil {
		return usageErr(fs.Name(), "%s: %v", fs.Name(), err)
	}
	var empty []string
	fs.Visit(func(f *pflag.Flag) { // given, but empty: never what was meant
		if f.Value.Type() == "string" && f.Value.String() == "" {
			empty = append(empty, "--"+f.Name)
		}
	})
	if len(empty) > 0 {
		return usageErr(fs.Name(), "%s: an empty value (leave the flag out for its default)", strings.Join(empty, ", "))
	}
	if maxArgs >= 0 && fs.NArg() > maxArgs {
		if maxArgs == 0 {
			return usageErr(fs.Name(), "%s takes no arguments (got %q)", fs.Name(), fs.Args())
		}
		return usageErr(fs.Name(), "%s takes at most %d arguments (got %q)", fs.Name(), maxArgs, fs.Args())
	}
	return nil
}

// open opens the install named by --zenhome, $ZENHOME or the default.
func (f *installFlags) open(inv *invocation) (*install.Install, error) {
	return install.Open(install.Home(f.zenhome, inv.getenv))
}

// patchSet is the bundled patch set, or --patches DIR.
func (f *installFlags) patchSet() (*patches.Set, error) {
	if f.patchesDir == "" {
		return patches.Embedded(), nil
	}
	s, err := patches.Load(f.patchesDir)
	return s, withHint(err, "--patches wants a directory with index.json and the .patch files it names (see patches/ in zenpatch's source)")
}

// options turns the flags into the install model's options; s is nil for
// a command without sizing flags.
func (f *installFlags) options(inv *invocation, s *sizingFlags) (install.Options, error) {
	set, err := f.patchSet()
	if err != nil {
		return install.Options{}, err
	}
	opt := install.Options{Patches: set, Version: install.VersionOptions{Override: f.versionOverride, RPM: install.HostRPM()}}
	if inv.getenv("ZENPATCH_NO_RPM") != "" {
		opt.Version.RPM = nil
	}
	if s == nil {
		s = &sizingFlags{perCPU: 1}
	}
	switch s.zopes {
	case "":
	case "auto":
		opt.Auto = true
	default:
		n, err := strconv.Atoi(s.zopes)
		if err != nil || n < 1 || n > 256 {
			return opt, usageErr("", "--zopes %q: want a whole number from 1 to 256, or auto", s.zopes)
		}
		opt.Zopes = n
	}
	mem, err := sizing.ParseSize(s.zopeMemory)
	if err != nil {
		return opt, usageErr("", "--zope-memory %q: %v", s.zopeMemory, err)
	}
	if !(s.perCPU > 0 && s.perCPU <= 8) { // also refuses NaN
		return opt, usageErr("", "--per-cpu %g: want a factor above 0 and at most 8", s.perCPU)
	}
	perCPU := s.perCPU
	sys := sizing.HostAt(inv.getenv("ZENPATCH_SYSROOT")) // a fake machine, for tests only (README: Development)
	opt.Recommend = func() sizing.Recommendation { return sizing.Recommend(sys, perCPU, mem) }
	return opt, nil
}

// openWith reads the options and opens the install; the caller closes it.
func (f *installFlags) openWith(inv *invocation, s *sizingFlags) (*install.Install, install.Options, error) {
	opt, err := f.options(inv, s)
	if err != nil {
		return nil, opt, err
	}
	inst, err := f.open(inv)
	return inst, opt, err
}

// colorOn reports whether to colour output: a terminal, and no NO_COLOR.
func colorOn(inv *invocation, w io.Writer) bool {
	return inv.getenv("NO_COLOR") == "" && isTerminal(w)
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
