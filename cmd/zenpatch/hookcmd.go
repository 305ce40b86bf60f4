package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/zenpatch/zenpatch/internal/hook"
	"github.com/zenpatch/zenpatch/internal/install"
)

// hookRecord is var/zenpatch/hook.json: where the hook was installed.
type hookRecord = hook.Record

func cmdHook(e *env, args []string) error {
	var c common
	var root, runAs, self string
	fs := newFlags(e, "hook", "hook install|uninstall [flags]", `
Install (or remove) yum and dnf post-transaction actions that run
'zenpatch upgrade' whenever the zenoss or zenoss-core package is installed
or updated:
  /etc/yum/post-actions/zenpatch.action                        (`+hook.YumPluginPackage+`)
  /etc/dnf/plugins/post-transaction-actions.d/zenpatch.action  (`+hook.DnfPluginPackage+`)
The command runs as the install's owner through 'runuser -s /bin/sh USER -c',
which EL5/EL6 (coreutils) and EL7+ (util-linux) runuser both understand;
every value in it is shell-quoted, and a ZENHOME, user or path holding a
character the plugins would mangle (':', '$', '\', control characters,
non-ASCII) is refused. Warns when yum or dnf lacks the plugin or has it
disabled. Both files and the record (var/zenpatch/hook.json) are written
together or not at all, only under --root; installing twice changes
nothing; uninstall removes only files zenpatch wrote.

Examples:
  sudo zenpatch hook install --zenhome /opt/zenoss
  sudo zenpatch hook install --root /mnt/image --user zenoss   # a system image (its yum or dnf, its etc/passwd)`)
	c.installFlags(fs)
	fs.StringVar(&root, "root", "/", "write the action files under `DIR` (tests, image builds)")
	fs.StringVar(&runAs, "user", "", "run 'zenpatch upgrade' as `USER` (default: the owner of ZENHOME)")
	fs.StringVar(&self, "zenpatch", "", "absolute `PATH` of the zenpatch binary the rule runs (default: this one)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 || (fs.Arg(0) != "install" && fs.Arg(0) != "uninstall") {
		return usageErr("hook needs install or uninstall")
	}
	inst, err := c.open(e)
	if err != nil {
		return err
	}
	defer inst.Close()
	absRoot, err := filepath.Abs(root)
	if err != nil {
		return err
	}
	r, err := os.OpenRoot(absRoot)
	if err != nil {
		return withCode(exitError, fmt.Errorf("--root %s: %w", root, err), "give the directory the system's / is in (default /)")
	}
	defer r.Close()
	show := func(res []hook.Result) {
		for _, x := range res {
			fmt.Fprintf(e.stdout, "%s: %s\n", filepath.Join(absRoot, x.Path), x.Action)
		}
	}
	if fs.Arg(0) == "uninstall" {
		res, err := hook.Uninstall(r, inst.Root)
		show(res)
		return hookErr(err)
	}

	if self == "" {
		if self, err = os.Executable(); err != nil {
			return err
		}
	}
	if !filepath.IsAbs(self) {
		return usageErr("--zenpatch %q: want an absolute path", self)
	}
	if runAs == "" {
		if runAs, err = hook.Owner(inst.Home); err != nil {
			return withCode(exitError, err, "name the user with --user (the account Zenoss runs as, usually zenoss)")
		}
	}
	o := hook.Options{Zenpatch: self, Zenhome: inst.Home, User: runAs}
	if _, err := hook.Command(o); err != nil {
		return hookErr(err)
	}
	if runAs != "root" {
		if err := hook.LookupUser(r, runAs); err != nil {
			return withCode(exitUsage, fmt.Errorf("--user: %w", err), "name an existing account (the one that owns ZENHOME, usually zenoss), or create it first")
		}
	}
	plat, err := hook.Inspect(r)
	if err != nil {
		return withCode(exitError, err, "run 'hook install' on the Zenoss host itself, or give --root the top of a system image that has yum or dnf")
	}
	res, err := hook.Install(r, inst.Root, o)
	show(res)
	if err != nil {
		return hookErr(err)
	}
	for _, w := range plat.Warnings {
		fmt.Fprintf(e.stderr, "zenpatch: warning: %s\nzenpatch: hint: %s\n", w.Msg, w.Hint)
	}
	return nil
}

// hookErr gives hook errors their exit code and hint.
func hookErr(err error) error {
	var ue *hook.UnsafeError
	var fe *hook.ForeignError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ue) && ue.What == "ZENHOME":
		return withCode(exitError, err, "give --zenhome a path without it: a symlink to the install will do (ln -s DIR /opt/zenoss, then --zenhome /opt/zenoss)")
	case errors.As(err, &ue) && ue.What == "--zenpatch":
		return withCode(exitUsage, err, "copy zenpatch to a path without it (e.g. /usr/local/bin/zenpatch) and give that with --zenpatch")
	case errors.As(err, &ue):
		return withCode(exitUsage, err, "run it as an account whose name has only letters, digits, '.', '_' and '-'")
	case errors.As(err, &fe):
		return withCode(exitError, err, "zenpatch never overwrites an action file it did not write")
	case errors.Is(err, fs.ErrPermission):
		return withCode(exitError, err, "the action files live under /etc: run it as root (sudo zenpatch hook …)")
	}
	return explain(err)
}

// readHookRecord returns the hook record and whether its files are in
// place (checked under the recorded root; nil when not installed).
func readHookRecord(inst *install.Install) (*hookRecord, bool, error) {
	rec, err := hook.ReadRecord(inst.Root)
	if err != nil || rec == nil {
		return nil, false, err
	}
	return rec, rec.InPlace(), nil
}
