package hook

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/zenpatch/zenpatch/internal/txn"
)

// Plugin package names, for the hints.
const (
	YumPluginPackage = "yum-plugin-post-transaction-actions"
	DnfPluginPackage = "python3-dnf-plugin-post-transaction-actions"
)

// Plugin configuration files, relative to the root.
const (
	YumPluginConf = "etc/yum/pluginconf.d/post-transaction-actions.conf"
	DnfPluginConf = "etc/dnf/plugins/post-transaction-actions.conf"
)

// Warning is one reason yum or dnf would not run the action, with the step
// that fixes it.
type Warning struct {
	Msg  string
	Hint string
}

// Platform is what a root has of yum, dnf and their post-transaction-actions
// plugins.
type Platform struct {
	Yum      bool // a yum of its own (EL5–EL7), not EL8's alias for dnf
	Dnf      bool // dnf (EL8 and later; also EL7 add-on)
	Warnings []Warning
}

// NoManagerError says the root has neither yum nor dnf: nothing would
// ever run the action files.
type NoManagerError struct{ Root string }

// Error implements error.
func (e *NoManagerError) Error() string {
	return fmt.Sprintf("neither yum nor dnf is installed under %s (no usr/bin/yum, usr/bin/dnf): nothing would run the action files", e.Root)
}

// Hint is the next step.
func (e *NoManagerError) Hint() string {
	return "run 'hook install' on the Zenoss host itself, or give --root the top of a system image that has yum or dnf"
}

// Inspect looks under root (normally /) for yum and dnf and checks that
// their post-transaction-actions plugin is installed, enabled and reads
// the directory zenpatch writes to. Every finding is a Warning except
// having neither yum nor dnf, which is a NoManagerError.
func Inspect(root *os.Root) (Platform, error) {
	var p Platform
	show := func(rel string) string { return filepath.Join(root.Name(), rel) }
	warn := func(hint, f string, a ...any) { p.Warnings = append(p.Warnings, Warning{fmt.Sprintf(f, a...), hint}) }

	yumLink, yumErr := root.Readlink("usr/bin/yum")
	_, yumStat := root.Lstat("usr/bin/yum")
	p.Yum = yumStat == nil && !(yumErr == nil && strings.HasPrefix(path.Base(yumLink), "dnf"))
	dnfLink, _ := root.Readlink("usr/bin/dnf")
	for _, b := range []string{"usr/bin/dnf", "usr/bin/dnf-3"} {
		if _, err := root.Lstat(b); err == nil {
			p.Dnf = true
		}
	}
	if !p.Yum && !p.Dnf {
		return p, &NoManagerError{root.Name()}
	}

	if p.Yum {
		conf, err := txn.ReadFile(root, YumPluginConf)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			warn("install it: yum install "+YumPluginPackage+" (EL6/EL7; yum-utils before 1.1.20 call it yum-post-transaction-actions)",
				"yum is here but its post-transaction-actions plugin is not (no %s): yum will not run %s", show(YumPluginConf), show(YumPath))
		case err != nil:
			warn("check the file's permissions", "read %s: %v", show(YumPluginConf), err)
		default:
			// yum loads a plugin only when its conf says enabled=1.
			if v, _ := IniValue(conf, "main", "enabled"); !isTrue(v) {
				warn("set enabled=1 in the [main] section of "+show(YumPluginConf),
					"yum's post-transaction-actions plugin is not enabled in %s: yum will not run %s", show(YumPluginConf), show(YumPath))
			}
			checkActionDir(conf, YumPluginConf, YumPath, show, warn)
		}
		// yum's own default for plugins is off; EL's yum.conf turns it on.
		for _, c := range []string{"etc/yum.conf", "etc/yum/yum.conf"} {
			data, err := txn.ReadFile(root, c)
			if err != nil {
				continue
			}
			if v, _ := IniValue(data, "main", "plugins"); !isTrue(v) {
				warn("set plugins=1 in the [main] section of "+show(c), "yum plugins are off in %s: yum will not run %s", show(c), show(YumPath))
			}
			break
		}
	}

	if p.Dnf {
		if strings.HasPrefix(path.Base(dnfLink), "dnf5") {
			warn("dnf5 runs actions through libdnf5-plugin-actions, whose format zenpatch does not write yet; run 'zenpatch upgrade' after each Zenoss upgrade",
				"dnf here is dnf5, which does not read %s", show(DnfPath))
		}
		conf, err := txn.ReadFile(root, DnfPluginConf)
		module := dnfPluginModule(root)
		switch {
		case errors.Is(err, fs.ErrNotExist) && !module:
			warn("install it: dnf install "+DnfPluginPackage,
				"dnf is here but its post-transaction-actions plugin is not (no %s): dnf will not run %s", show(DnfPluginConf), show(DnfPath))
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			warn("check the file's permissions", "read %s: %v", show(DnfPluginConf), err)
		case err == nil:
			// dnf skips a plugin only when its conf says enabled=0.
			if v, ok := IniValue(conf, "main", "enabled"); ok && isFalse(v) {
				warn("set enabled=1 in the [main] section of "+show(DnfPluginConf),
					"dnf's post-transaction-actions plugin is disabled in %s: dnf will not run %s", show(DnfPluginConf), show(DnfPath))
			}
			checkActionDir(conf, DnfPluginConf, DnfPath, show, warn)
		}
		if data, err := txn.ReadFile(root, "etc/dnf/dnf.conf"); err == nil {
			if v, ok := IniValue(data, "main", "plugins"); ok && isFalse(v) {
				warn("set plugins=1 in the [main] section of "+show("etc/dnf/dnf.conf"), "dnf plugins are off in %s: dnf will not run %s", show("etc/dnf/dnf.conf"), show(DnfPath))
			}
		}
	}
	return p, nil
}

// checkActionDir warns when the plugin's conf moves its action directory
// away from the one zenpatch writes to.
func checkActionDir(conf []byte, confPath, action string, show func(string) string, warn func(string, string, ...any)) {
	dir, ok := IniValue(conf, "main", "actiondir")
	if !ok || dir == "" {
		return
	}
	want := "/" + path.Dir(action)
	if path.Clean(dir) != want {
		warn("point actiondir back at "+want+"/ or copy "+show(action)+" into "+dir,
			"%s sets actiondir=%s, so the plugin does not read %s", show(confPath), dir, show(action))
	} else if !strings.HasSuffix(dir, "/") {
		// Both plugins glob actiondir + "*.action".
		warn("write actiondir="+want+"/ (with the final '/') in "+show(confPath),
			"%s sets actiondir=%s without a final '/', so the plugin looks for %s*.action and finds nothing", show(confPath), dir, dir)
	}
}

// dnfPluginModule reports whether dnf's post-transaction-actions module is
// installed in any Python's dnf-plugins directory.
func dnfPluginModule(root *os.Root) bool {
	for _, pat := range []string{"usr/lib/python3*/site-packages/dnf-plugins/post-transaction-actions.py", "usr/lib/python3/dist-packages/dnf-plugins/post-transaction-actions.py"} {
		if m, _ := fs.Glob(root.FS(), pat); len(m) > 0 {
			return true
		}
	}
	return false
}

// isTrue and isFalse read a boolean as Python's ConfigParser and libdnf do.
func isTrue(v string) bool {
	switch strings.ToLower(v) {
	case "1", "yes", "true", "on":
		return true
	}
	return false
}

func isFalse(v string) bool {
	switch strings.ToLower(v) {
	case "0", "no", "false", "off":
		return true
	}
	return false
}

// IniValue returns the value of key in [section] of an ini file read as
// Python's ConfigParser reads yum and dnf configuration: "key = value" or
// "key: value", keys case-insensitive, '#' and ';' comment lines, indented
// lines continuing the value before them; the last assignment wins.
func IniValue(data []byte, section, key string) (string, bool) {
	var val string
	found, in, cont := false, false, false
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimRight(line, "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' || trimmed[0] == ';' {
			cont = false
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if cont {
				val += "\n" + trimmed
			}
			continue
		}
		cont = false
		if trimmed[0] == '[' {
			end := strings.IndexByte(trimmed, ']')
			in = end > 0 && trimmed[1:end] == section
			continue
		}
		if !in {
			continue
		}
		i := strings.IndexAny(trimmed, "=:")
		if i < 0 {
			continue
		}
		if strings.EqualFold(strings.TrimSpace(trimmed[:i]), key) {
			val, found, cont = strings.TrimSpace(trimmed[i+1:]), true, true
		}
	}
	return val, found
}

// Owner names the user that owns dir: the account the action runs as
// unless --user says otherwise.
func Owner(dir string) (string, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return "", err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", fmt.Errorf("%s: cannot tell its owner", dir)
	}
	u, err := user.LookupId(strconv.Itoa(int(st.Uid)))
	if err != nil {
		return "", fmt.Errorf("%s is owned by uid %d, which has no user name here", dir, st.Uid)
	}
	return u.Username, nil
}

// UnknownUserError says the user the command should run as does not exist.
type UnknownUserError struct {
	User  string
	Where string // the passwd file looked in, or "this host"
}

// Error implements error.
func (e *UnknownUserError) Error() string {
	return fmt.Sprintf("user %q does not exist (looked in %s)", e.User, e.Where)
}

// LookupUser checks that name exists where the action will run: in
// ROOT/etc/passwd when the root is not / and has one (an image being
// built), else on this host (which includes NSS sources such as LDAP).
func LookupUser(root *os.Root, name string) error {
	if filepath.Clean(root.Name()) != "/" {
		if data, err := txn.ReadFile(root, "etc/passwd"); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				if n, _, ok := strings.Cut(line, ":"); ok && n == name {
					return nil
				}
			}
			return &UnknownUserError{name, filepath.Join(root.Name(), "etc/passwd")}
		}
	}
	if _, err := user.Lookup(name); err != nil {
		var unknown user.UnknownUserError
		if errors.As(err, &unknown) {
			return &UnknownUserError{name, "this host's user database"}
		}
		return fmt.Errorf("look up user %q: %w", name, err)
	}
	return nil
}

// OptionError is a --zenpatch or --user value 'hook install' cannot use (a
// usage error: the command line has to change).
type OptionError struct {
	Flag string // "--zenpatch", "--user"
	Err  error
	hint string
}

// Error implements error; the cause names the flag.
func (e *OptionError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *OptionError) Unwrap() error { return e.Err }

// Hint is the next step.
func (e *OptionError) Hint() string { return e.hint }

// Setup checks what 'hook install' was given and installs the actions:
// the binary (default: this one) must be an absolute path, the user
// (default: the owner of zenhome) must exist under root, every value must
// be safe in an action line, and root must hold yum or dnf. Warnings say
// what would keep yum or dnf from running the actions (the plugin missing
// or disabled).
func Setup(root, home *os.Root, zenhome string, o Options) ([]Result, []Warning, error) {
	var err error
	o.Zenhome = zenhome
	if o.Zenpatch == "" {
		if o.Zenpatch, err = os.Executable(); err != nil {
			return nil, nil, err
		}
	}
	if !filepath.IsAbs(o.Zenpatch) {
		return nil, nil, &OptionError{Flag: "--zenpatch", Err: fmt.Errorf("--zenpatch %q: want an absolute path", o.Zenpatch), hint: "give the full path of the zenpatch binary the actions should run"}
	}
	if o.User == "" {
		if o.User, err = Owner(zenhome); err != nil {
			return nil, nil, &OptionError{Flag: "--user", Err: fmt.Errorf("--user not given, and %w", err), hint: "name the user with --user (the account Zenoss runs as, usually zenoss)"}
		}
	}
	var ue *UnsafeError
	if _, err := Command(o); errors.As(err, &ue) && ue.What != "ZENHOME" {
		return nil, nil, &OptionError{Flag: ue.What, Err: err, hint: ue.Hint()}
	} else if err != nil {
		return nil, nil, err
	}
	if !o.asRoot() {
		if err := LookupUser(root, o.User); err != nil {
			return nil, nil, &OptionError{Flag: "--user", Err: fmt.Errorf("--user: %w", err), hint: "name an existing account (the one that owns ZENHOME, usually zenoss), or create it first"}
		}
	}
	plat, err := Inspect(root)
	if err != nil {
		return nil, nil, err
	}
	if !executable(root, o.Zenpatch) {
		plat.Warnings = append(plat.Warnings, Warning{
			Msg:  fmt.Sprintf("the actions run %s, which is not an executable file (under %s, nor on this host)", o.Zenpatch, root.Name()),
			Hint: "install zenpatch at that path before the next Zenoss update (the rpm puts it in /usr/bin/zenpatch), or give --zenpatch the path where it is",
		})
	}
	res, err := Install(root, home, o)
	return res, plat.Warnings, err
}

// executable reports whether the absolute path p is an executable file
// under root (a system image the binary will be run in) or on this host
// (where a test or a later copy into the image may take it from).
func executable(root *os.Root, p string) bool {
	ok := func(fi os.FileInfo, err error) bool {
		return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
	}
	return ok(root.Stat(strings.TrimPrefix(p, "/"))) || ok(os.Stat(p))
}
