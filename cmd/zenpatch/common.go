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

	"github.com/zenpatch/zenpatch/apply"
	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/sizing"
	"github.com/zenpatch/zenpatch/internal/txn"
	"github.com/zenpatch/zenpatch/internal/zconfig"
	"github.com/zenpatch/zenpatch/patches"
)

// common are the flags every install command shares.
type common struct {
	zenhome         string
	patchesDir      string
	versionOverride string
	zopes           string
	perCPU          float64
	zopeMemory      string
	json            bool
}

func (c *common) installFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.zenhome, "zenhome", "", "Zenoss install root (default $ZENHOME, else /opt/zenoss)")
	fs.StringVar(&c.patchesDir, "patches", "", "use the patch set in `DIR` (index.json + .patch files) instead of the bundled one")
	fs.StringVar(&c.versionOverride, "version-override", "", "treat the install as Zenoss `VERSION` (when ZVersion.py and rpm cannot tell)")
}

func (c *common) sizingFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.zopes, "zopes", "", "pin ZOPES to `N` instances, or 'auto' to follow the recommendation again")
	fs.Float64Var(&c.perCPU, "per-cpu", 1, "Zope instances per usable CPU (1.25–1.5 with hyperthreading)")
	fs.StringVar(&c.zopeMemory, "zope-memory", "1GiB", "memory one Zope instance needs (`SIZE`: 512MiB, 1.5GiB, …), caps ZOPES")
}

// newFlags makes a command's flag set; usage prints the summary, an
// example and the flags.
func newFlags(e *env, name, usage, example string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(e.stdout, "Usage: zenpatch %s\n\n%s\n\nFlags:\n%s", usage, strings.TrimSpace(example), fs.FlagUsages())
	}
	return fs
}

// parse parses args; --help prints the usage (once, by pflag) and returns
// errHelp.
func parse(fs *pflag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if errors.Is(err, pflag.ErrHelp) { // pflag has printed the usage
		return errHelp
	}
	if err != nil {
		return &codeError{code: exitUsage, err: fmt.Errorf("%s: %v", fs.Name(), err), hint: "see 'zenpatch " + fs.Name() + " --help'"}
	}
	return nil
}

var errHelp = quietCode(0)

func (c *common) open(e *env) (*install.Install, error) {
	home := install.Home(c.zenhome, e.getenv)
	inst, err := install.Open(home)
	if err != nil {
		var ni *install.NotInstallError
		if errors.As(err, &ni) {
			return nil, withCode(exitError, err, "point zenpatch at the Zenoss install with --zenhome DIR or ZENHOME=DIR (it holds bin/zopectl and etc/zope.conf)")
		}
		return nil, err
	}
	return inst, nil
}

// openWith reads the options and opens the install; the caller closes it.
func (c *common) openWith(e *env) (*install.Install, install.Options, error) {
	opt, err := c.options(e)
	if err != nil {
		return nil, opt, err
	}
	inst, err := c.open(e)
	return inst, opt, err
}

// noArgs refuses positional arguments for a command that takes none.
func noArgs(fs *pflag.FlagSet) error {
	if fs.NArg() > 0 {
		return usageErr("%s takes no arguments (got %q)", fs.Name(), fs.Args())
	}
	return nil
}

func (c *common) patchSet() (*patches.Set, error) {
	if c.patchesDir == "" {
		return patches.Embedded(), nil
	}
	s, err := patches.Load(c.patchesDir)
	if err != nil {
		return nil, withCode(exitError, err, "--patches wants a directory with index.json and the .patch files it names (see patches/ in zenpatch's source)")
	}
	return s, nil
}

func (c *common) options(e *env) (install.Options, error) {
	set, err := c.patchSet()
	if err != nil {
		return install.Options{}, err
	}
	opt := install.Options{Patches: set, Version: install.VersionOptions{Override: c.versionOverride, RPM: install.HostRPM()}}
	if e.getenv("ZENPATCH_NO_RPM") != "" {
		opt.Version.RPM = nil
	}
	switch c.zopes {
	case "", "auto":
	default:
		n, err := strconv.Atoi(c.zopes)
		if err != nil || n < 1 || n > 256 {
			return opt, usageErr("--zopes %q: want a whole number from 1 to 256, or auto", c.zopes)
		}
		opt.Zopes = n
	}
	if c.perCPU == 0 { // a command without sizing flags
		c.perCPU = 1
	}
	mem, err := parseSize(c.zopeMemory)
	if err != nil {
		return opt, usageErr("--zope-memory %q: %v", c.zopeMemory, err)
	}
	if c.perCPU <= 0 || c.perCPU > 8 {
		return opt, usageErr("--per-cpu %g: want a factor above 0 and at most 8", c.perCPU)
	}
	perCPU := c.perCPU
	sys := sizing.HostAt(e.getenv("ZENPATCH_SYSROOT")) // a fake machine, for tests only (README: Development)
	opt.Recommend = func() sizing.Recommendation { return sizing.Recommend(sys, perCPU, mem) }
	return opt, nil
}

// parseSize reads 512MiB, 1GiB, 1.5G, 800M, or plain bytes.
func parseSize(s string) (uint64, error) {
	if s == "" {
		return sizing.DefaultZopeMemory, nil
	}
	units := []struct {
		suffix string
		mult   float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	mult := 1.0
	num := s
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || f <= 0 {
		return 0, errors.New("want a size such as 1GiB or 768MiB")
	}
	v := uint64(f * mult)
	if v < 64<<20 {
		return 0, errors.New("a Zope needs at least 64MiB")
	}
	return v, nil
}

// colorOn reports whether to colour output: a terminal, and no NO_COLOR.
func colorOn(e *env, w io.Writer) bool {
	if e.getenv("NO_COLOR") != "" {
		return false
	}
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// explain turns known errors into coded errors with hints.
func explain(err error) error {
	if err == nil {
		return nil
	}
	var ce *codeError
	if errors.As(err, &ce) {
		return err
	}
	var le *txn.LockedError
	if errors.As(err, &le) {
		return withCode(exitError, err, "wait for it to finish; if no zenpatch runs, the lock is free again (flock is dropped when a process ends)")
	}
	var pe *txn.PathError
	if errors.As(err, &pe) {
		return withCode(exitError, err, "zenpatch reads and writes only inside ZENHOME; fix the path or the symlink")
	}
	var he *apply.HunkError
	if errors.As(err, &he) {
		return withCode(exitConflict, err, "zopectl was edited where the patch goes: compare it with the vendor's, or run 'zenpatch apply --reject' to save the patch's hunks to "+rejectPath+" and merge them by hand")
	}
	var ze *zconfig.Error
	if errors.As(err, &ze) {
		return withCode(exitError, err, "fix that line of zope.conf (ZConfig syntax: 'key value', <section> … </section>, %define NAME value)")
	}
	if errors.Is(err, os.ErrPermission) {
		return withCode(exitError, err, "run as the user that owns the Zenoss install (usually zenoss) or as root")
	}
	var pp *apply.ParseError
	if errors.As(err, &pp) {
		return withCode(exitError, err, "the patch file is not a unified diff zenpatch can use; regenerate it with 'diff -u'")
	}
	return err
}

const rejectPath = install.StateDir + "/reject/zopectl.rej"
