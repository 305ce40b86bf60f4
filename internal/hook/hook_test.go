package hook

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// roots opens a fresh --root and ZENHOME.
func roots(t *testing.T) (rootDir string, root *os.Root, homeDir string, home *os.Root) {
	t.Helper()
	rootDir, homeDir = t.TempDir(), t.TempDir()
	var err error
	root, err = os.OpenRoot(rootDir)
	require.NoError(t, err)
	t.Cleanup(func() { root.Close() })
	home, err = os.OpenRoot(homeDir)
	require.NoError(t, err)
	t.Cleanup(func() { home.Close() })
	return
}

func TestInstallUninstall(t *testing.T) {
	dir, root, homeDir, home := roots(t)
	o := Options{Zenpatch: "/usr/local/bin/zenpatch", Zenhome: "/opt/zenoss", User: "zenoss"}
	res, err := Install(root, home, o)
	require.NoError(t, err)
	assert.Equal(t, []Result{{YumPath, "written"}, {DnfPath, "written"}}, res)
	res, err = Install(root, home, o)
	require.NoError(t, err)
	assert.Equal(t, []Result{{YumPath, "unchanged"}, {DnfPath, "unchanged"}}, res, "idempotent")
	assert.NoFileExists(t, filepath.Join(dir, JournalPath))

	want := "runuser -s /bin/sh zenoss -c 'ZENPATCH=/usr/local/bin/zenpatch /usr/local/bin/zenpatch upgrade --zenhome /opt/zenoss'"
	yum, err := os.ReadFile(filepath.Join(dir, YumPath))
	require.NoError(t, err)
	rules, err := ParseRules(yum)
	require.NoError(t, err)
	assert.Equal(t, [][3]string{{"zenoss", "install", want}, {"zenoss", "update", want}, {"zenoss-core", "install", want}, {"zenoss-core", "update", want}}, rules)
	dnf, err := os.ReadFile(filepath.Join(dir, DnfPath))
	require.NoError(t, err)
	rules, err = ParseRules(dnf)
	require.NoError(t, err)
	assert.Equal(t, [][3]string{{"zenoss", "in", want}, {"zenoss-core", "in", want}}, rules)

	rec, err := ReadRecord(home)
	require.NoError(t, err)
	require.NotNil(t, rec)
	assert.Equal(t, Record{Format: RecordFormat, Root: dir, Files: []string{YumPath, DnfPath}, Rule: want, User: "zenoss"}, *rec)
	assert.True(t, rec.InPlace())
	y, d := Installed(root, "something else")
	assert.False(t, y || d)

	require.NoError(t, os.Remove(filepath.Join(dir, DnfPath)))
	assert.False(t, rec.InPlace(), "one file gone")

	res, err = Uninstall(root, home)
	require.NoError(t, err)
	assert.Equal(t, []Result{{YumPath, "removed"}, {DnfPath, "absent"}}, res)
	assert.NoFileExists(t, filepath.Join(homeDir, RecordPath))
	res, err = Uninstall(root, home)
	require.NoError(t, err)
	assert.Equal(t, []Result{{YumPath, "absent"}, {DnfPath, "absent"}}, res)
}

func TestInstallAsRoot(t *testing.T) {
	dir, root, _, home := roots(t)
	_, err := Install(root, home, Options{Zenpatch: "/z", Zenhome: "/opt/zenoss", User: "root"})
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, YumPath))
	require.NoError(t, err)
	assert.Contains(t, string(b), "\nzenoss:update:ZENPATCH=/z /z upgrade --zenhome /opt/zenoss\n")
	assert.Contains(t, string(b), "# Runs as root.")
}

func TestForeignFilesLeftAlone(t *testing.T) {
	dir, root, homeDir, home := roots(t)
	require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(YumPath)), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, YumPath), []byte("zenoss:any:/root/mine.sh\n"), 0o644))
	_, err := Install(root, home, Options{Zenpatch: "/z", Zenhome: "/opt/zenoss"})
	var fe *ForeignError
	require.ErrorAs(t, err, &fe)
	assert.Equal(t, YumPath, fe.Path)
	assert.NoFileExists(t, filepath.Join(dir, DnfPath), "nothing written")
	assert.NoFileExists(t, filepath.Join(homeDir, RecordPath))
	res, err := Uninstall(root, home)
	require.NoError(t, err)
	assert.Equal(t, "foreign (left alone)", res[0].Action)
	b, _ := os.ReadFile(filepath.Join(dir, YumPath))
	assert.Equal(t, "zenoss:any:/root/mine.sh\n", string(b))
}

// listTree lists every path under dir (for "nothing left behind").
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		rel, _ := filepath.Rel(dir, p)
		out = append(out, rel)
		return err
	}))
	return out
}

// A failed install leaves no file and no directory behind, and puts the
// old record back.
func TestInstallAllOrNothing(t *testing.T) {
	o := Options{Zenpatch: "/z", Zenhome: "/opt/zenoss", User: "zenoss"}
	t.Run("dnf directory blocked", func(t *testing.T) {
		dir, root, homeDir, home := roots(t)
		// The dnf action directory's parent is a file: the second write fails.
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "etc/dnf"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "etc/dnf/plugins"), []byte("x"), 0o644))
		require.NoError(t, os.MkdirAll(filepath.Join(homeDir, "var/zenpatch"), 0o755))
		oldRec := []byte(`{"format":2,"root":"/elsewhere","files":[],"command":"old"}` + "\n")
		require.NoError(t, os.WriteFile(filepath.Join(homeDir, RecordPath), oldRec, 0o644))
		beforeRoot, beforeHome := listTree(t, dir), listTree(t, homeDir)

		_, err := Install(root, home, o)
		require.Error(t, err)
		assert.Equal(t, beforeRoot, listTree(t, dir), "no file or directory left under --root")
		assert.Equal(t, beforeHome, listTree(t, homeDir))
		b, err := os.ReadFile(filepath.Join(homeDir, RecordPath))
		require.NoError(t, err)
		assert.Equal(t, oldRec, b, "old record put back")
	})
	t.Run("record blocked", func(t *testing.T) {
		dir, root, homeDir, home := roots(t)
		require.NoError(t, os.MkdirAll(filepath.Join(homeDir, "var"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(homeDir, "var/zenpatch"), []byte("x"), 0o644))
		beforeRoot := listTree(t, dir)
		_, err := Install(root, home, o)
		require.Error(t, err)
		assert.Contains(t, err.Error(), RecordPath)
		assert.Equal(t, beforeRoot, listTree(t, dir))
	})
	t.Run("update keeps the old files on failure", func(t *testing.T) {
		dir, root, homeDir, home := roots(t)
		_, err := Install(root, home, o)
		require.NoError(t, err)
		oldYum, _ := os.ReadFile(filepath.Join(dir, YumPath))
		oldRec, _ := os.ReadFile(filepath.Join(homeDir, RecordPath))
		// The dnf file's temp name is taken by a directory: its write fails.
		require.NoError(t, os.Mkdir(filepath.Join(dir, filepath.Dir(DnfPath), ".zenpatch.action.zenpatch-tmp"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, filepath.Dir(DnfPath), ".zenpatch.action.zenpatch-tmp", "x"), nil, 0o644))
		_, err = Install(root, home, Options{Zenpatch: "/other", Zenhome: "/opt/zenoss", User: "zenoss"})
		require.Error(t, err)
		b, _ := os.ReadFile(filepath.Join(dir, YumPath))
		assert.Equal(t, oldYum, b)
		b, _ = os.ReadFile(filepath.Join(homeDir, RecordPath))
		assert.Equal(t, oldRec, b)
		assert.NoFileExists(t, filepath.Join(dir, JournalPath))
	})
}

func TestUnsafeValuesRefused(t *testing.T) {
	dir, root, homeDir, home := roots(t)
	for _, tc := range []struct {
		name string
		o    Options
		what string
		char rune
	}{
		{"colon in ZENHOME", Options{Zenpatch: "/z", Zenhome: "/opt/zen:oss"}, "ZENHOME", ':'},
		{"dollar in ZENHOME", Options{Zenpatch: "/z", Zenhome: "/opt/$name"}, "ZENHOME", '$'},
		{"backslash in binary", Options{Zenpatch: `/usr/bin/zen\patch`, Zenhome: "/opt/zenoss"}, "--zenpatch", '\\'},
		{"newline in ZENHOME", Options{Zenpatch: "/z", Zenhome: "/opt/z\nzenoss:any:touch /x"}, "ZENHOME", '\n'},
		{"tab in user", Options{Zenpatch: "/z", Zenhome: "/opt/zenoss", User: "zen\toss"}, "--user", '\t'},
		{"non-ASCII", Options{Zenpatch: "/z", Zenhome: "/opt/zénoss"}, "ZENHOME", 'é'},
		{"user starting with -", Options{Zenpatch: "/z", Zenhome: "/opt/zenoss", User: "-u"}, "--user", '-'},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Install(root, home, tc.o)
			var ue *UnsafeError
			require.ErrorAs(t, err, &ue)
			assert.Equal(t, tc.what, ue.What)
			assert.Equal(t, tc.char, ue.Char)
			assert.Contains(t, err.Error(), "cannot carry")
			assert.Equal(t, []string{"."}, listTree(t, dir))
			assert.Equal(t, []string{"."}, listTree(t, homeDir))
		})
	}
	_, err := Command(Options{Zenpatch: "zenpatch", Zenhome: "/opt/zenoss"})
	assert.ErrorContains(t, err, "absolute")
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/opt/zenoss":  "/opt/zenoss",
		"zenoss":       "zenoss",
		"":             "''",
		"a b":          "'a b'",
		"it's":         `'it'"'"'s'`,
		`"x"`:          `'"x"'`,
		"zh;touch X;#": "'zh;touch X;#'",
		"*":            "'*'",
		"/a=b":         "'/a=b'",
	} {
		assert.Equal(t, want, Quote(in), "Quote(%q)", in)
	}
}

// The record and the directories made for it belong to ZENHOME's owner:
// the action runs as that user and must write var/zenpatch afterwards.
func TestRecordOwnedByZenhomeOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files away")
	}
	_, root, homeDir, home := roots(t)
	require.NoError(t, os.Chown(homeDir, 65534, 65534))
	_, err := Install(root, home, Options{Zenpatch: "/z", Zenhome: homeDir, User: "nobody"})
	require.NoError(t, err)
	for _, p := range []string{"var", "var/zenpatch", RecordPath} {
		fi, err := os.Stat(filepath.Join(homeDir, p))
		require.NoError(t, err)
		st := fi.Sys().(*syscall.Stat_t)
		assert.Equal(t, [2]uint32{65534, 65534}, [2]uint32{st.Uid, st.Gid}, p)
	}
}

// A line an administrator added to zenpatch's own action file is never
// lost: install (which rewrites the file) and uninstall (which removes it)
// both refuse, naming the file and line, and change nothing.
func TestAddedLineKept(t *testing.T) {
	dir, root, homeDir, home := roots(t)
	_, err := Install(root, home, Options{Zenpatch: "/z", Zenhome: "/opt/zenoss", User: "zenoss"})
	require.NoError(t, err)
	yum := filepath.Join(dir, YumPath)
	f, err := os.OpenFile(yum, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("zenoss:update:/root/notify-team.sh\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	before, err := os.ReadFile(yum)
	require.NoError(t, err)
	rec, err := os.ReadFile(filepath.Join(homeDir, RecordPath))
	require.NoError(t, err)

	check := func(err error) {
		t.Helper()
		var ae *AddedLineError
		require.ErrorAs(t, err, &ae)
		assert.Equal(t, &AddedLineError{Path: YumPath, Line: 7, Text: "zenoss:update:/root/notify-team.sh"}, ae)
		assert.Contains(t, err.Error(), YumPath+` line 7: "zenoss:update:/root/notify-team.sh" was not written by zenpatch`)
		assert.Contains(t, ae.Hint(), "action file of its own")
		after, err := os.ReadFile(yum)
		require.NoError(t, err)
		assert.Equal(t, string(before), string(after), "the file is unchanged")
		assert.FileExists(t, filepath.Join(dir, DnfPath), "the other file is not removed either")
		r, err := os.ReadFile(filepath.Join(homeDir, RecordPath))
		require.NoError(t, err)
		assert.Equal(t, string(rec), string(r), "the record is unchanged")
	}
	_, err = Install(root, home, Options{Zenpatch: "/z", Zenhome: "/opt/zenoss", User: "root"}) // a rewrite
	check(err)
	_, err = Uninstall(root, home)
	check(err)

	// Once the line has moved to a file of its own, both go through.
	require.NoError(t, os.WriteFile(yum, before[:len(before)-len("zenoss:update:/root/notify-team.sh\n")], 0o644))
	res, err := Uninstall(root, home)
	require.NoError(t, err)
	assert.Equal(t, []Result{{YumPath, "removed"}, {DnfPath, "removed"}}, res)
}

func TestAddedLine(t *testing.T) {
	const head = Marker + ": re-apply the multi-Zope patch after Zenoss upgrades.\n"
	const rule = "zenoss:in:ZENPATCH=/z /z upgrade --zenhome /opt/zenoss\n"
	for name, tc := range map[string]struct {
		file string
		line int // 0: none added
	}{
		"current, as root":     {head + "# Runs as root. Log: /opt/zenoss/log/zenpatch.log. Remove with 'zenpatch hook uninstall'.\n" + rule + "zenoss-core:in:ZENPATCH=/z /z upgrade --zenhome /opt/zenoss\n", 0},
		"current, as a user":   {head + "zenoss:update:runuser -s /bin/sh zenoss -c 'ZENPATCH=/z /z upgrade --zenhome /opt/zenoss'\n", 0},
		"current, quoted":      {head + `zenoss:update:runuser -s /bin/sh 'o'"'"'brien' -c 'ZENPATCH='"'"'/a b/z'"'"' '"'"'/a b/z'"'"' upgrade --zenhome '"'"'/opt/zen oss'"'"''` + "\n", 0},
		"first version":        {head + "# Remove with 'zenpatch hook uninstall'. Log: /opt/zenoss/log/zenpatch.log\nzenoss-core:update:env ZENPATCH=/z /z upgrade --zenhome /opt/zenoss\n", 0},
		"first version, user":  {head + "zenoss:update:runuser -u zenoss -- env ZENPATCH=/z /z upgrade --zenhome /opt/zenoss\n", 0},
		"no final newline":     {head + "zenoss:install:ZENPATCH=/z /z upgrade --zenhome /opt/zenoss", 0},
		"a blank line":         {head + "\n  \n" + rule, 0},
		"a comment":            {head + "# mine\n", 2},
		"a comment like ours":  {head + "# Runs as root, says the admin\n", 2},
		"another package":      {head + "zenpacks:in:ZENPATCH=/z /z upgrade --zenhome /opt/zenoss\n", 2},
		"another state":        {head + "zenoss:remove:ZENPATCH=/z /z upgrade --zenhome /opt/zenoss\n", 2},
		"another command":      {head + "zenoss:in:/z upgrade\n", 2},
		"a command after ours": {head + "zenoss:in:ZENPATCH=/z /z upgrade --zenhome /opt/zenoss; /root/notify-team.sh\n", 2},
		"and then":             {head + "zenoss:in:ZENPATCH=/z /z upgrade --zenhome /opt/zenoss && /root/x\n", 2},
		"inside runuser -c":    {head + "zenoss:in:runuser -s /bin/sh zenoss -c 'ZENPATCH=/z /z upgrade --zenhome /opt/zenoss; /root/x'\n", 2},
		"a second install":     {head + rule + "zenoss:in:ZENPATCH=/z /z upgrade --zenhome /opt/zenoss2\n", 3},
		"a carriage return":    {Marker + ": re-apply the multi-Zope patch after Zenoss upgrades.\rzenoss:in:/root/notify.sh\n", 1},
		"CRLF line ends":       {strings.ReplaceAll(head+rule, "\n", "\r\n"), 1},
		"marker not first":     {"zenoss:in:x\n" + head, 1},
	} {
		e := addedLine("f.action", []byte(tc.file))
		if tc.line == 0 {
			assert.Nil(t, e, name)
			continue
		}
		if assert.NotNil(t, e, name) {
			assert.Equal(t, tc.line, e.Line, name)
		}
	}
}
