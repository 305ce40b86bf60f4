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
	f.addHome(fs)
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
	r, err := openRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	absRoot := r.Name()
	var res []hook.Result
	var warnings []hook.Warning
	if fs.Arg(0) == "uninstall" {
		res, err = hook.Uninstall(r, inst.Root)
	} else {
		res, warnings, err = hook.Setup(r, inst.Root, inst.Home, hook.Options{Zenpatch: self, User: runAs})
	}
	for _, x := range res {
		fmt.Fprintf(inv.stdout, "%s: %s\n", filepath.Join(absRoot, x.Path), x.Action)
	}
	for _, w := range warnings {
		fmt.Fprintf(inv.stderr, "zenpatch: warning: %s\nzenpatch: hint: %s\n", w.Msg, w.Hint)
	}
	// name the file as the administrator sees it (the error has it under --root)
	var fe *hook.ForeignError
	var ae *hook.AddedLineError
	switch {
	case errors.As(err, &fe):
		fe.Path = filepath.Join(absRoot, fe.Path)
	case errors.As(err, &ae):
		ae.Path = filepath.Join(absRoot, ae.Path)
	}
	if errors.Is(err, os.ErrPermission) {
		return withHint(err, "the action files live under /etc: run it as root (sudo zenpatch hook …)")
	}
	return err
}

// openRoot opens --root.
func openRoot(root string) (*os.Root, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, withHint(fmt.Errorf("--root %s: %w", root, err), "give the directory the system's / is in (default /)")
	}
	return r, nil
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
