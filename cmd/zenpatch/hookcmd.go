package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/zenpatch/zenpatch/internal/hook"
	"github.com/zenpatch/zenpatch/internal/install"
)

func cmdHook(inv *invocation, args []string) error {
	var f installFlags
	var root, runAs, self string
	fs := newFlags(inv, "hook", "hook install|uninstall [flags]", `
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
	f.add(fs)
	fs.StringVar(&root, "root", "/", "write the action files under `DIR` (tests, image builds)")
	fs.StringVar(&runAs, "user", "", "run 'zenpatch upgrade' as `USER` (default: the owner of ZENHOME)")
	fs.StringVar(&self, "zenpatch", "", "absolute `PATH` of the zenpatch binary the rule runs (default: this one)")
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	if fs.NArg() != 1 || (fs.Arg(0) != "install" && fs.Arg(0) != "uninstall") {
		return usageErr("", "hook needs install or uninstall")
	}
	inst, err := f.open(inv)
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
		return withHint(fmt.Errorf("--root %s: %w", root, err), "give the directory the system's / is in (default /)")
	}
	defer r.Close()
	var res []hook.Result
	if fs.Arg(0) == "uninstall" {
		res, err = hook.Uninstall(r, inst.Root)
	} else {
		var warnings []hook.Warning
		res, warnings, err = installHook(inst, r, hook.Options{Zenpatch: self, Zenhome: inst.Home, User: runAs})
		defer func() {
			for _, w := range warnings {
				fmt.Fprintf(inv.stderr, "zenpatch: warning: %s\nzenpatch: hint: %s\n", w.Msg, w.Hint)
			}
		}()
	}
	for _, x := range res {
		fmt.Fprintf(inv.stdout, "%s: %s\n", filepath.Join(absRoot, x.Path), x.Action)
	}
	if errors.Is(err, os.ErrPermission) {
		return withHint(err, "the action files live under /etc: run it as root (sudo zenpatch hook …)")
	}
	return err
}

// installHook checks the options (the binary, the user, the platform under
// root) and installs the actions; warnings say what would keep yum or dnf
// from running them.
func installHook(inst *install.Install, root *os.Root, o hook.Options) ([]hook.Result, []hook.Warning, error) {
	var err error
	if o.Zenpatch == "" {
		if o.Zenpatch, err = os.Executable(); err != nil {
			return nil, nil, err
		}
	}
	if !filepath.IsAbs(o.Zenpatch) {
		return nil, nil, usageErr("", "--zenpatch %q: want an absolute path", o.Zenpatch)
	}
	if o.User == "" {
		if o.User, err = hook.Owner(inst.Home); err != nil {
			return nil, nil, withHint(err, "name the user with --user (the account Zenoss runs as, usually zenoss)")
		}
	}
	var ue *hook.UnsafeError
	if _, err := hook.Command(o); errors.As(err, &ue) && ue.What != "ZENHOME" {
		return nil, nil, &usageError{msg: err.Error(), hint: ue.Hint()}
	} else if err != nil {
		return nil, nil, err
	}
	if o.User != "root" {
		if err := hook.LookupUser(root, o.User); err != nil {
			return nil, nil, &usageError{msg: "--user: " + err.Error(), hint: "name an existing account (the one that owns ZENHOME, usually zenoss), or create it first"}
		}
	}
	plat, err := hook.Inspect(root)
	if err != nil {
		return nil, nil, withHint(err, "run 'hook install' on the Zenoss host itself, or give --root the top of a system image that has yum or dnf")
	}
	res, err := hook.Install(root, inst.Root, o)
	return res, plat.Warnings, err
}

// readHookRecord returns the hook record and whether its files are in
// place (checked under the recorded root; nil when not installed).
func readHookRecord(inst *install.Install) (*hook.Record, bool, error) {
	rec, err := hook.ReadRecord(inst.Root)
	if err != nil || rec == nil {
		return nil, false, err
	}
	return rec, rec.InPlace(), nil
}
