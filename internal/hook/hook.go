// Package hook writes the yum and dnf post-transaction action files that
// run 'zenpatch upgrade' when the Zenoss package is installed or updated.
//
// Format (yum-plugin-post-transaction-actions, and dnf's plugin of the same
// name): files ending in .action, one rule a line, '#' comments, three
// colon-separated fields package_filter:transaction_state:command. yum's
// states are install, update, remove, any; dnf's are in, out, any.
package hook

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/zenpatch/zenpatch/internal/txn"
)

// Action file paths, relative to the root (normally /).
const (
	YumPath = "etc/yum/post-actions/zenpatch.action"
	DnfPath = "etc/dnf/plugins/post-transaction-actions.d/zenpatch.action"
)

// Marker starts every file zenpatch writes; uninstall removes only those.
const Marker = "# Written by 'zenpatch hook install'"

// Packages are the Zenoss Core package names the rules match.
var Packages = []string{"zenoss", "zenoss-core"}

// Options for the action files.
type Options struct {
	Zenpatch string // absolute path of the zenpatch binary
	Zenhome  string // absolute ZENHOME
	User     string // run as this user (the install's owner); "" = as root
}

// Command is the command line the rules run.
func Command(o Options) string {
	c := fmt.Sprintf("env ZENPATCH=%s %s upgrade --zenhome %s", o.Zenpatch, o.Zenpatch, o.Zenhome)
	if o.User != "" && o.User != "root" {
		c = fmt.Sprintf("runuser -u %s -- %s", o.User, c)
	}
	return c
}

// Files returns the two action files' contents.
func Files(o Options) map[string][]byte {
	out := map[string][]byte{}
	for p, states := range map[string][]string{YumPath: {"install", "update"}, DnfPath: {"in"}} {
		var b bytes.Buffer
		fmt.Fprintf(&b, "%s: re-apply the multi-Zope patch after Zenoss upgrades.\n", Marker)
		fmt.Fprintf(&b, "# Remove with 'zenpatch hook uninstall'. Log: %s/log/zenpatch.log\n", o.Zenhome)
		for _, pkg := range Packages {
			for _, st := range states {
				fmt.Fprintf(&b, "%s:%s:%s\n", pkg, st, Command(o))
			}
		}
		out[p] = b.Bytes()
	}
	return out
}

// Result says what install or uninstall did to each file.
type Result struct {
	Path   string
	Action string // "written", "unchanged", "removed", "absent", "foreign (left alone)"
}

// Install writes both files under root (atomically); unchanged files are
// not touched.
func Install(root *os.Root, o Options) ([]Result, error) {
	var res []Result
	files := Files(o)
	for _, p := range []string{YumPath, DnfPath} {
		old, err := root.ReadFile(p)
		if err == nil && bytes.Equal(old, files[p]) {
			res = append(res, Result{p, "unchanged"})
			continue
		}
		if err == nil && !bytes.HasPrefix(old, []byte(Marker)) {
			return res, fmt.Errorf("%s exists and was not written by zenpatch; move it aside first", p)
		}
		if err := txn.WriteFile(root, p, files[p], 0o644); err != nil {
			return res, err
		}
		res = append(res, Result{p, "written"})
	}
	return res, nil
}

// Uninstall removes the files zenpatch wrote (and only those).
func Uninstall(root *os.Root) ([]Result, error) {
	var res []Result
	for _, p := range []string{YumPath, DnfPath} {
		old, err := root.ReadFile(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			res = append(res, Result{p, "absent"})
			continue
		case err != nil:
			return res, err
		case !bytes.HasPrefix(old, []byte(Marker)):
			res = append(res, Result{p, "foreign (left alone)"})
			continue
		}
		if err := root.Remove(p); err != nil {
			return res, err
		}
		res = append(res, Result{p, "removed"})
	}
	return res, nil
}

// Installed reports which action files exist with zenpatch's rules for
// zenhome.
func Installed(root *os.Root, zenhome string) (yum, dnf bool) {
	check := func(p string) bool {
		b, err := root.ReadFile(p)
		return err == nil && bytes.HasPrefix(b, []byte(Marker)) && strings.Contains(string(b), "--zenhome "+zenhome+"\n")
	}
	return check(YumPath), check(DnfPath)
}

// ParseRules reads an action file's rules (for tests and verify): each
// non-comment line split into its three fields.
func ParseRules(data []byte) ([][3]string, error) {
	var out [][3]string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.SplitN(line, ":", 3)
		if len(f) != 3 || f[0] == "" || f[1] == "" || f[2] == "" {
			return nil, fmt.Errorf("line %d: want package_filter:state:command", i+1)
		}
		if path.Clean(f[0]) != f[0] && !strings.ContainsAny(f[0], "*?[") {
			return nil, fmt.Errorf("line %d: bad filter %q", i+1, f[0])
		}
		out = append(out, [3]string{f[0], f[1], f[2]})
	}
	return out, nil
}
