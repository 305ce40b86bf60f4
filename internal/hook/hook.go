// Package hook writes the yum and dnf post-transaction action files that
// run 'zenpatch upgrade' when the Zenoss package is installed or updated,
// and records what it wrote in ZENHOME.
//
// Format (yum-plugin-post-transaction-actions, and dnf's plugin of the same
// name): files ending in .action, one rule a line, '#' comments, three
// colon-separated fields package_filter:transaction_state:command. yum's
// states are install, update, remove, any; dnf's are in, out, any.
//
// How the plugins run the command decides what it may hold (read from their
// sources: yum-utils plugins/post-transaction-actions, dnf-plugins-core
// plugins/post-transaction-actions.py):
//   - yum splits each line at every ':' (line.split(':') into exactly three
//     fields), so the command holds no ':'; dnf splits at the first two only.
//   - both substitute $name, $ver, $arch… (yum case-insensitively; dnf also
//     ${name}, ${name:-word}) before the shell sees the command, and newer
//     dnf (libdnf's ConfigParser::substitute) drops every '\' as an escape,
//     so the command holds no '$' and no '\'.
//   - both hand the result to /bin/sh (os.system, Popen(shell=True)).
//
// So the command is built from sh single quotes only (a quote inside a
// value is written '"'"'), and a value holding ':', '$', '\', a control
// character or a non-ASCII byte is refused with an UnsafeError naming it.
package hook

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/zenpatch/zenpatch/internal/txn"
)

// Action file paths, relative to the root (normally /).
const (
	YumPath = "etc/yum/post-actions/zenpatch.action"
	DnfPath = "etc/dnf/plugins/post-transaction-actions.d/zenpatch.action"
)

// JournalPath is the journal of the two-file commit, relative to the root;
// it exists only while a commit runs (or after a crash, until the next
// 'hook install' or 'hook uninstall' finishes it).
const JournalPath = "etc/.zenpatch-hook.journal"

// Marker starts every file zenpatch writes; uninstall removes only those.
const Marker = "# Written by 'zenpatch hook install'"

// Packages are the Zenoss Core package names the rules match.
var Packages = []string{"zenoss", "zenoss-core"}

// Options for the action files.
type Options struct {
	Zenpatch string // absolute path of the zenpatch binary
	Zenhome  string // absolute ZENHOME
	User     string // run as this user (the install's owner); "" or "root" = as root
}

// asRoot reports whether the command runs as root without changing user.
func (o Options) asRoot() bool { return o.User == "" || o.User == "root" }

// UnsafeError says a value cannot be carried by an action line.
type UnsafeError struct {
	What  string // "ZENHOME", "--user", "--zenpatch"
	Value string
	Char  rune   // the first character that cannot be carried
	At    int    // its byte offset in Value
	Why   string // why the plugins or the shell would mangle it
}

// Error implements error.
func (e *UnsafeError) Error() string {
	return fmt.Sprintf("%s %q holds %s at byte %d, which an action line cannot carry: %s", e.What, e.Value, charName(e.Char), e.At, e.Why)
}

// Hint is the next step.
func (e *UnsafeError) Hint() string {
	switch e.What {
	case "ZENHOME":
		return "give --zenhome a path without it: a symlink to the install will do (ln -s DIR /opt/zenoss, then --zenhome /opt/zenoss)"
	case "--zenpatch":
		return "copy zenpatch to a path without it (e.g. /usr/local/bin/zenpatch) and give that with --zenpatch"
	}
	return "run it as an account whose name has only letters, digits, '.', '_' and '-'"
}

func charName(r rune) string {
	if r < 0x20 || r == 0x7f || r == utf8.RuneError || r > 0x7e {
		return fmt.Sprintf("%U", r)
	}
	return fmt.Sprintf("'%c'", r)
}

// Check returns an UnsafeError when s cannot be carried by an action line
// (see the package comment), else nil.
func Check(what, s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		why := ""
		switch {
		case c == ':':
			why = "yum's plugin splits every action line at each ':'"
		case c == '$':
			why = "yum and dnf replace $name, $ver… in the command before the shell runs it"
		case c == '\\':
			why = "dnf drops each '\\' from the command (its variable substitution treats it as an escape)"
		case c < 0x20 || c == 0x7f:
			why = "a rule is one line of printable text"
		case c > 0x7e:
			why = "dnf reads action files in the locale's encoding, so only ASCII is safe"
		}
		if why != "" {
			r := rune(c)
			if c > 0x7e {
				r, _ = utf8.DecodeRuneInString(s[i:])
			}
			return &UnsafeError{What: what, Value: s, Char: r, At: i, Why: why}
		}
	}
	return nil
}

// Quote returns s as one sh word: unchanged when it holds only characters
// that sh never treats specially, else in single quotes, with each quote
// inside written '"'"' (no backslash, which dnf would drop).
func Quote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+,./-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// Command is the command line the rules run, or an UnsafeError. As root it
// is
//
//	ZENPATCH=BIN BIN upgrade --zenhome ZENHOME
//
// and as another user
//
//	runuser -s /bin/sh USER -c 'ZENPATCH=BIN BIN upgrade --zenhome ZENHOME'
//
// runuser's su-style form is the one every Zenoss platform has: coreutils'
// runuser on EL5/EL6 (where the form is all there is; EL6's initscripts
// call it so) and util-linux's on EL7 and later, which keeps the su form
// beside its own -u. -s /bin/sh makes the account's login shell (often
// /sbin/nologin) irrelevant; not using '-' keeps the environment and needs
// no login profile. runuser is looked up on PATH, which for root has /sbin.
func Command(o Options) (string, error) {
	if err := Check("--zenpatch", o.Zenpatch); err != nil {
		return "", err
	}
	if err := Check("ZENHOME", o.Zenhome); err != nil {
		return "", err
	}
	if !path.IsAbs(o.Zenpatch) {
		return "", fmt.Errorf("--zenpatch %q: want an absolute path", o.Zenpatch)
	}
	if !path.IsAbs(o.Zenhome) {
		return "", fmt.Errorf("ZENHOME %q: want an absolute path", o.Zenhome)
	}
	// Assignment prefix, not env(1): env would take a binary path holding
	// '=' for one more assignment.
	c := "ZENPATCH=" + Quote(o.Zenpatch) + " " + Quote(o.Zenpatch) + " upgrade --zenhome " + Quote(o.Zenhome)
	if o.asRoot() {
		return c, nil
	}
	if err := Check("--user", o.User); err != nil {
		return "", err
	}
	if strings.HasPrefix(o.User, "-") {
		return "", &UnsafeError{What: "--user", Value: o.User, Char: '-', At: 0, Why: "runuser would read a name starting with '-' as an option"}
	}
	return "runuser -s /bin/sh " + Quote(o.User) + " -c " + Quote(c), nil
}

// Files returns the two action files' contents for the command.
func Files(o Options) (map[string][]byte, error) {
	cmd, err := Command(o)
	if err != nil {
		return nil, err
	}
	who := "root"
	if !o.asRoot() {
		who = o.User
	}
	out := map[string][]byte{}
	for p, states := range map[string][]string{YumPath: {"install", "update"}, DnfPath: {"in"}} {
		var b bytes.Buffer
		fmt.Fprintf(&b, "%s: re-apply the multi-Zope patch after Zenoss upgrades.\n", Marker)
		fmt.Fprintf(&b, "# Runs as %s. Log: %s/log/zenpatch.log. Remove with 'zenpatch hook uninstall'.\n", who, o.Zenhome)
		for _, pkg := range Packages {
			for _, st := range states {
				fmt.Fprintf(&b, "%s:%s:%s\n", pkg, st, cmd)
			}
		}
		out[p] = b.Bytes()
	}
	return out, nil
}

// Result says what install or uninstall did to each file.
type Result struct {
	Path   string
	Action string // "written", "unchanged", "removed", "absent", "foreign (left alone)"
}

// ForeignError says an action file exists that zenpatch did not write.
type ForeignError struct{ Path string }

// Error implements error.
func (e *ForeignError) Error() string {
	return e.Path + " exists and was not written by zenpatch; move it aside first"
}

// Hint is the next step.
func (e *ForeignError) Hint() string {
	return "zenpatch never overwrites an action file it did not write"
}

// AddedLineError says an action file zenpatch wrote holds a line it did
// not write (an administrator's rule or note): install would lose it by
// rewriting the file, uninstall by removing it.
type AddedLineError struct {
	Path string
	Line int    // 1-based
	Text string // the line
}

// Error implements error.
func (e *AddedLineError) Error() string {
	return fmt.Sprintf("%s line %d: %q was not written by zenpatch", e.Path, e.Line, e.Text)
}

// Hint is the next step.
func (e *AddedLineError) Hint() string {
	return "move that line to an action file of its own in the same directory (the plugins read every NAME.action there), then run again; zenpatch rewrites and removes only what it wrote. Nothing was changed"
}

// addedLine returns the first line of an action file that zenpatch (any
// version) did not write, or nil. Its own lines are: the marker line first,
// its header comments, and rules for the Zenoss packages that all run one
// command of the forms ownCommand knows. Blank lines mean nothing to yum or
// dnf and are passed over; a carriage return anywhere is not zenpatch's
// (dnf would start a new line there).
func addedLine(p string, data []byte) *AddedLineError {
	lines := strings.Split(string(data), "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	command := ""
	for i, line := range lines {
		own := false
		switch {
		case strings.ContainsRune(line, '\r'):
		case i == 0:
			own = line == markerLine
		case strings.TrimSpace(line) == "" || headerComment.MatchString(line):
			own = true
		default:
			var cmd string
			cmd, own = ownRule(line)
			if own && command != "" && cmd != command {
				own = false // zenpatch writes one command a file
			}
			command = cmd
		}
		if !own {
			return &AddedLineError{Path: p, Line: i + 1, Text: line}
		}
	}
	return nil
}

// markerLine is the first line of every file zenpatch writes.
const markerLine = Marker + ": re-apply the multi-Zope patch after Zenoss upgrades."

// headerComment matches the second line zenpatch writes, and the one its
// first version wrote.
var headerComment = regexp.MustCompile(`^# Runs as [^ ]+\. Log: .*/log/zenpatch\.log\. Remove with 'zenpatch hook uninstall'\.$|^# Remove with 'zenpatch hook uninstall'\. Log: .*/log/zenpatch\.log$`)

// ownRule says whether line is a rule zenpatch writes, and returns its
// command: package_filter zenoss or zenoss-core, a state it uses, and a
// command of ownCommand's forms.
func ownRule(line string) (string, bool) {
	pkg, rest, ok := strings.Cut(line, ":")
	if !ok {
		return "", false
	}
	state, cmd, ok := strings.Cut(rest, ":")
	if !ok || !slices.Contains(Packages, pkg) || !ownCommand(cmd) {
		return "", false
	}
	switch state {
	case "install", "update", "in":
		return cmd, true
	}
	return "", false
}

// ownCommand says whether cmd is one of the commands zenpatch writes
// (Command), or wrote in its first version, to run 'upgrade':
//
//	ZENPATCH=P P upgrade --zenhome H
//	runuser -s /bin/sh U -c 'ZENPATCH=P P upgrade --zenhome H'
//	env ZENPATCH=P P upgrade --zenhome H
//	runuser -u U -- env ZENPATCH=P P upgrade --zenhome H
//
// with values bare or in sh quotes, and nothing else the shell would act
// on: an administrator's "; notify.sh" after it is not zenpatch's.
func ownCommand(cmd string) bool {
	w, ok := shWords(cmd)
	switch {
	case !ok:
		return false
	case len(w) == 6 && w[0] == "runuser" && w[1] == "-s" && w[2] == "/bin/sh" && w[4] == "-c":
		inner, ok := shWords(w[5])
		return ok && upgradeWords(inner)
	case len(w) == 10 && w[0] == "runuser" && w[1] == "-u" && w[3] == "--" && w[4] == "env":
		return upgradeWords(w[5:])
	case len(w) == 6 && w[0] == "env":
		return upgradeWords(w[1:])
	}
	return upgradeWords(w)
}

// upgradeWords matches ZENPATCH=P P upgrade --zenhome H.
func upgradeWords(w []string) bool {
	return len(w) == 5 && w[1] != "" && w[0] == "ZENPATCH="+w[1] && w[2] == "upgrade" && w[3] == "--zenhome" && w[4] != ""
}

// shWords splits s into words as sh would, for the quoting zenpatch uses
// (single quotes, and double quotes around plain text such as the "'" of
// '"'"'). ok is false when s holds anything else sh would act on: an
// operator, an expansion, a comment, a backslash.
func shWords(s string) (words []string, ok bool) {
	var w strings.Builder
	in := false // inside a word
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == ' ' || c == '\t':
			if in {
				words, in = append(words, w.String()), false
				w.Reset()
			}
		case c == '\'' || c == '"':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, false
			}
			q := s[i+1 : i+1+j]
			if c == '"' && strings.ContainsAny(q, "$`\\") {
				return nil, false
			}
			w.WriteString(q)
			in = true
			i += j + 1
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("/._-=+,@%:", c) >= 0:
			w.WriteByte(c)
			in = true
		default:
			return nil, false
		}
	}
	if in {
		words = append(words, w.String())
	}
	return words, true
}

// Install writes both action files under root and the record into home
// (ZENHOME), all or nothing: the action files go in one txn commit, the
// record before them, and a failure at any step puts back what was there
// (the record's old bytes, no new directories). Files already as wanted
// are not touched. The results name the action files only.
func Install(root, home *os.Root, o Options) ([]Result, error) {
	files, err := Files(o)
	if err != nil {
		return nil, err
	}
	cmd, _ := Command(o)
	if err := txn.Recover(root, JournalPath); err != nil {
		return nil, err
	}
	var res []Result
	var writes []txn.Write
	for _, p := range []string{YumPath, DnfPath} {
		old, err := txn.ReadFile(root, p)
		switch {
		case err == nil && bytes.Equal(old, files[p]):
			res = append(res, Result{p, "unchanged"})
			continue
		case err == nil && !bytes.HasPrefix(old, []byte(Marker)):
			return nil, &ForeignError{p}
		case err == nil:
			if e := addedLine(p, old); e != nil {
				return nil, e
			}
		case !errors.Is(err, fs.ErrNotExist):
			return nil, err
		}
		res = append(res, Result{p, "written"})
		writes = append(writes, txn.Write{Path: p, Data: files[p], Mode: 0o644})
	}
	rec := Record{Format: RecordFormat, Root: root.Name(), Files: []string{YumPath, DnfPath}, Rule: cmd, User: o.User}
	undoRecord, err := rec.write(home)
	if err != nil {
		return nil, fmt.Errorf("write %s: %w", RecordPath, err)
	}
	if len(writes) == 0 {
		return res, nil
	}
	created, err := mkdirs(root, writes)
	if err == nil {
		err = txn.Commit(root, writes, txn.Options{Journal: JournalPath})
	}
	if err != nil {
		undoRecord()
		for i := len(created) - 1; i >= 0; i-- {
			_ = root.Remove(created[i]) // only if still empty
		}
		return nil, err
	}
	return res, nil
}

// mkdirs creates the writes' missing directories, returning those it made
// (parents first) so a failed install can remove them again.
func mkdirs(root *os.Root, writes []txn.Write) ([]string, error) {
	var created []string
	for _, w := range writes {
		var missing []string
		for d := path.Dir(w.Path); d != "."; d = path.Dir(d) {
			if _, err := root.Lstat(d); err == nil {
				break
			}
			missing = append(missing, d)
		}
		for i := len(missing) - 1; i >= 0; i-- {
			if err := root.Mkdir(missing[i], 0o755); err != nil {
				return created, fmt.Errorf("create %s: %w", missing[i], err)
			}
			created = append(created, missing[i])
		}
	}
	return created, nil
}

// Uninstall removes the action files zenpatch wrote (and only those) and
// the record. When one of them holds a line zenpatch did not write, it
// removes nothing and returns an AddedLineError.
func Uninstall(root, home *os.Root) ([]Result, error) {
	if err := txn.Recover(root, JournalPath); err != nil {
		return nil, err
	}
	var res []Result
	var remove []int // indexes in res of the files to remove
	for _, p := range []string{YumPath, DnfPath} {
		old, err := txn.ReadFile(root, p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			res = append(res, Result{p, "absent"})
			continue
		case err != nil:
			return nil, err
		case !bytes.HasPrefix(old, []byte(Marker)):
			res = append(res, Result{p, "foreign (left alone)"})
			continue
		}
		if e := addedLine(p, old); e != nil {
			return nil, e
		}
		res = append(res, Result{p, "removed"})
		remove = append(remove, len(res)-1)
	}
	for _, i := range remove {
		if err := root.Remove(res[i].Path); err != nil {
			return res[:i], err
		}
	}
	if err := home.Remove(RecordPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return res, err
	}
	return res, nil
}

// Installed reports which action files exist, written by zenpatch, with a
// rule running command.
func Installed(root *os.Root, command string) (yum, dnf bool) {
	check := func(p string) bool {
		b, err := txn.ReadFile(root, p)
		if err != nil || !bytes.HasPrefix(b, []byte(Marker)) {
			return false
		}
		rules, err := ParseRules(b)
		if err != nil {
			return false
		}
		for _, r := range rules {
			if r[2] == command {
				return true
			}
		}
		return false
	}
	return check(YumPath), check(DnfPath)
}

// ParseRules reads an action file's rules (for tests and status) the way
// yum's plugin does: each non-comment line split at every ':' into exactly
// three fields.
func ParseRules(data []byte) ([][3]string, error) {
	var out [][3]string
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, ":")
		if len(f) != 3 || f[0] == "" || f[1] == "" || f[2] == "" {
			return nil, fmt.Errorf("line %d: want package_filter:state:command with no other ':'", i+1)
		}
		out = append(out, [3]string{f[0], f[1], f[2]})
	}
	return out, nil
}
