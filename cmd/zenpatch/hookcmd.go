package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/zenpatch/zenpatch/internal/hook"
	"github.com/zenpatch/zenpatch/internal/install"
)

// hookRecord is var/zenpatch/hook.json: where the hook was installed.
type hookRecord struct {
	Root  string   `json:"root"`
	Files []string `json:"files"`
	Rule  string   `json:"command"`
}

const hookRecordPath = install.StateDir + "/hook.json"

func cmdHook(inv *invocation, args []string) error {
	var f installFlags
	var root, runAs, self string
	fs := newFlags(inv, "hook", "hook install|uninstall [flags]", `
Install (or remove) yum and dnf post-transaction actions that run
'zenpatch upgrade' whenever the zenoss or zenoss-core package is installed
or updated:
  /etc/yum/post-actions/zenpatch.action                    (yum-plugin-post-transaction-actions)
  /etc/dnf/plugins/post-transaction-actions.d/zenpatch.action  (python3-dnf-plugin-post-transaction-actions)
The command runs as the install's owner (runuser -u zenoss). Files are
written only under --root; installing twice changes nothing; uninstall
removes only files zenpatch wrote.

Examples:
  sudo zenpatch hook install --zenhome /opt/zenoss
  zenpatch hook install --root /tmp/fakeroot   # to look before you leap`)
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
	if err := os.MkdirAll(absRoot, 0o755); err != nil {
		return withHint(fmt.Errorf("--root %s: %w", root, err), "give a directory you may write")
	}
	r, err := os.OpenRoot(absRoot)
	if err != nil {
		return err
	}
	defer r.Close()
	if fs.Arg(0) == "uninstall" {
		res, err := hook.Uninstall(r)
		for _, x := range res {
			fmt.Fprintf(inv.stdout, "%s: %s\n", filepath.Join(absRoot, x.Path), x.Action)
		}
		if err != nil {
			return err
		}
		if _, err := inst.Root.Stat(hookRecordPath); err == nil {
			return inst.Root.Remove(hookRecordPath)
		}
		return nil
	}
	if self == "" {
		if self, err = os.Executable(); err != nil {
			return err
		}
	}
	if !filepath.IsAbs(self) {
		return usageErr("", "--zenpatch %q: want an absolute path", self)
	}
	if runAs == "" {
		runAs = owner(inst.Home)
	}
	o := hook.Options{Zenpatch: self, Zenhome: inst.Home, User: runAs}
	res, err := hook.Install(r, o)
	for _, x := range res {
		fmt.Fprintf(inv.stdout, "%s: %s\n", filepath.Join(absRoot, x.Path), x.Action)
	}
	if err != nil {
		return withHint(err, "zenpatch never overwrites an action file it did not write")
	}
	rec, _ := json.MarshalIndent(hookRecord{Root: absRoot, Files: []string{hook.YumPath, hook.DnfPath}, Rule: hook.Command(o)}, "", "  ")
	return inst.WriteFile(hookRecordPath, append(rec, '\n'), 0o644)
}

// owner names the user that owns dir ("" when unknown).
func owner(dir string) string {
	fi, err := os.Stat(dir)
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	u, err := user.LookupId(strconv.Itoa(int(st.Uid)))
	if err != nil {
		return ""
	}
	return u.Username
}

// readHookRecord returns the hook record and whether its files are in
// place (checked under the recorded root; nil when not installed).
func readHookRecord(inst *install.Install) (*hookRecord, bool, error) {
	data, err := inst.ReadFile(hookRecordPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	var rec hookRecord
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, false, fmt.Errorf("%s: %v", hookRecordPath, err)
	}
	r, err := os.OpenRoot(rec.Root)
	if err != nil {
		return &rec, false, nil
	}
	defer r.Close()
	y, d := hook.Installed(r, inst.Home)
	return &rec, y && d, nil
}
