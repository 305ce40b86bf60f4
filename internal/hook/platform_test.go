package hook

import (
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeRoot builds a root from path → content; content "->X" is a symlink
// to X.
func fakeRoot(t *testing.T, files map[string]string) *os.Root {
	t.Helper()
	dir := t.TempDir()
	for p, c := range files {
		full := filepath.Join(dir, p)
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		if target, ok := strings.CutPrefix(c, "->"); ok {
			require.NoError(t, os.Symlink(target, full))
			continue
		}
		require.NoError(t, os.WriteFile(full, []byte(c), 0o644))
	}
	r, err := os.OpenRoot(dir)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close() })
	return r
}

const (
	yumOK    = "[main]\ncachedir=/var/cache/yum\nplugins=1\n"
	yumPlug  = "[main]\nenabled = 1\nactiondir = /etc/yum/post-actions/\n"
	dnfPlug  = "[main]\nenabled=1\nactiondir=/etc/dnf/plugins/post-transaction-actions.d/\n"
	dnfConf  = "[main]\ngpgcheck=1\n"
	yumBin   = "#!/usr/bin/python\n"
	dnfBin   = "#!/usr/bin/python3\n"
	dnfPyMod = "import dnf\n"
)

func TestInspect(t *testing.T) {
	for _, tc := range []struct {
		name     string
		files    map[string]string
		yum, dnf bool
		warn     []string // substrings, one per expected warning, in order
	}{
		{"EL6 ready", map[string]string{"usr/bin/yum": yumBin, "etc/yum.conf": yumOK, YumPluginConf: yumPlug}, true, false, nil},
		{"EL6 no plugin", map[string]string{"usr/bin/yum": yumBin, "etc/yum.conf": yumOK}, true, false,
			[]string{"yum is here but its post-transaction-actions plugin is not"}},
		{"EL6 plugin disabled", map[string]string{"usr/bin/yum": yumBin, "etc/yum.conf": yumOK, YumPluginConf: "[main]\nenabled=0\n"}, true, false,
			[]string{"not enabled"}},
		{"EL6 plugin conf without enabled", map[string]string{"usr/bin/yum": yumBin, "etc/yum.conf": yumOK, YumPluginConf: "[main]\n"}, true, false,
			[]string{"not enabled"}},
		{"EL6 plugins off", map[string]string{"usr/bin/yum": yumBin, "etc/yum.conf": "[main]\nplugins=0\n", YumPluginConf: yumPlug}, true, false,
			[]string{"yum plugins are off"}},
		{"EL6 actiondir moved", map[string]string{"usr/bin/yum": yumBin, "etc/yum.conf": yumOK, YumPluginConf: "[main]\nenabled=1\nactiondir=/srv/actions/\n"}, true, false,
			[]string{"actiondir=/srv/actions/"}},
		{"EL6 actiondir without slash", map[string]string{"usr/bin/yum": yumBin, "etc/yum.conf": yumOK, YumPluginConf: "[main]\nenabled=1\nactiondir=/etc/yum/post-actions\n"}, true, false,
			[]string{"without a final '/'"}},
		{"EL8 ready", map[string]string{"usr/bin/yum": "->dnf-3", "usr/bin/dnf": "->dnf-3", "usr/bin/dnf-3": dnfBin, "etc/dnf/dnf.conf": dnfConf, DnfPluginConf: dnfPlug}, false, true, nil},
		{"EL8 no plugin", map[string]string{"usr/bin/yum": "->dnf-3", "usr/bin/dnf": "->dnf-3", "usr/bin/dnf-3": dnfBin, "etc/dnf/dnf.conf": dnfConf}, false, true,
			[]string{"dnf is here but its post-transaction-actions plugin is not"}},
		{"EL8 module without conf", map[string]string{"usr/bin/dnf": dnfBin, "usr/lib/python3.6/site-packages/dnf-plugins/post-transaction-actions.py": dnfPyMod}, false, true, nil},
		{"EL8 plugin disabled", map[string]string{"usr/bin/dnf": dnfBin, DnfPluginConf: "[main]\nenabled=False\n"}, false, true,
			[]string{"disabled in"}},
		{"EL8 plugins off", map[string]string{"usr/bin/dnf": dnfBin, DnfPluginConf: dnfPlug, "etc/dnf/dnf.conf": "[main]\nplugins=0\n"}, false, true,
			[]string{"dnf plugins are off"}},
		{"dnf5", map[string]string{"usr/bin/dnf": "->dnf5", "usr/bin/dnf5": "x", DnfPluginConf: dnfPlug}, false, true,
			[]string{"dnf5"}},
		{"EL7 with both", map[string]string{"usr/bin/yum": yumBin, "usr/bin/dnf": dnfBin, "etc/yum.conf": yumOK, YumPluginConf: yumPlug}, true, true,
			[]string{"dnf is here but"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Inspect(fakeRoot(t, tc.files))
			require.NoError(t, err)
			assert.Equal(t, tc.yum, p.Yum, "yum")
			assert.Equal(t, tc.dnf, p.Dnf, "dnf")
			require.Len(t, p.Warnings, len(tc.warn), "%+v", p.Warnings)
			for i, w := range tc.warn {
				assert.Contains(t, p.Warnings[i].Msg, w)
				assert.NotEmpty(t, p.Warnings[i].Hint)
			}
		})
	}
	t.Run("hints name the packages", func(t *testing.T) {
		p, err := Inspect(fakeRoot(t, map[string]string{"usr/bin/yum": yumBin, "usr/bin/dnf": dnfBin, "etc/yum.conf": yumOK}))
		require.NoError(t, err)
		require.Len(t, p.Warnings, 2)
		assert.Contains(t, p.Warnings[0].Hint, "yum install yum-plugin-post-transaction-actions")
		assert.Contains(t, p.Warnings[1].Hint, "dnf install python3-dnf-plugin-post-transaction-actions")
	})
	t.Run("neither", func(t *testing.T) {
		_, err := Inspect(fakeRoot(t, map[string]string{"etc/yum.conf": yumOK}))
		var ne *NoManagerError
		require.ErrorAs(t, err, &ne)
		assert.Contains(t, err.Error(), "neither yum nor dnf")
	})
}

func TestIniValue(t *testing.T) {
	conf := "# comment\n[other]\nenabled=0\n[main]\n; note\nEnabled : yes\nactiondir = /a/\n  /continued\nplugins=1\r\n[x]\nplugins=0\n"
	for _, tc := range []struct {
		section, key, want string
		ok                 bool
	}{
		{"main", "enabled", "yes", true},
		{"main", "actiondir", "/a/\n/continued", true},
		{"main", "plugins", "1", true},
		{"other", "enabled", "0", true},
		{"main", "missing", "", false},
		{"nosuch", "enabled", "", false},
	} {
		v, ok := IniValue([]byte(conf), tc.section, tc.key)
		assert.Equal(t, tc.ok, ok, "%s.%s", tc.section, tc.key)
		assert.Equal(t, tc.want, v, "%s.%s", tc.section, tc.key)
	}
}

// FuzzIniValue: whatever precedes it, a section and key appended at the end
// is found with its value (the last assignment wins), and nothing panics.
func FuzzIniValue(f *testing.F) {
	f.Add([]byte(yumOK), "v")
	f.Add([]byte(yumPlug+"  cont\n[main\n=x\n"), "1")
	f.Add([]byte("[zz]\nkey=old\n\tmore\n"), "new value")
	f.Fuzz(func(t *testing.T, data []byte, value string) {
		value = strings.TrimSpace(value)
		if strings.ContainsAny(value, "\r\n") {
			return
		}
		_, _ = IniValue(data, "main", "enabled")
		all := append(append([]byte{}, data...), []byte("\n[zz]\nkey = "+value+"\n")...)
		v, ok := IniValue(all, "zz", "key")
		require.True(t, ok)
		require.Equal(t, value, v)
	})
}

func TestLookupUser(t *testing.T) {
	image := fakeRoot(t, map[string]string{"etc/passwd": "root:x:0:0:root:/root:/bin/bash\nzenoss:x:1337:1337::/home/zenoss:/bin/bash\n"})
	require.NoError(t, LookupUser(image, "zenoss"))
	err := LookupUser(image, "nobody-here")
	var ue *UnknownUserError
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), filepath.Join(image.Name(), "etc/passwd"))

	bare := fakeRoot(t, nil) // no etc/passwd: this host's users
	require.NoError(t, LookupUser(bare, "root"))
	err = LookupUser(bare, "no-such-user-zenpatch")
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), "this host")
}

func TestOwner(t *testing.T) {
	dir := t.TempDir()
	name, err := Owner(dir)
	require.NoError(t, err)
	me, err := user.Current()
	require.NoError(t, err)
	assert.Equal(t, me.Username, name)
	_, err = Owner(filepath.Join(dir, "missing"))
	assert.Error(t, err)
}
