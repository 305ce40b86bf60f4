package install

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zenpatch/zenpatch/internal/balancer"
	"github.com/zenpatch/zenpatch/internal/fixture"
	"github.com/zenpatch/zenpatch/internal/zconfig"
)

// readSettingsText writes text as etc/zenpatch.conf of a Zenoss 4.2.5
// fixture install and reads the settings.
func readSettingsText(t *testing.T, text string) (*Settings, error) {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, copyDir(fixture.Dir("zenoss-4.2.5"), dir))
	inst, err := Open(dir)
	require.NoError(t, err)
	defer inst.Close()
	zc, err := inst.ReadZopeConf()
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, SettingsPath), []byte(text), 0o644))
	return inst.ReadSettings(zc)
}

func TestReadSettingsAffinity(t *testing.T) {
	s, err := readSettingsText(t, "<balancer>\n  slow-start 5\n</balancer>\n")
	require.NoError(t, err)
	assert.Equal(t, AffinitySettings{}, s.Balancer.ObjectAffinity, "none given: the balancer's defaults")
	assert.Equal(t, balancer.KeyAffinity{}, s.Balancer.ObjectAffinity.Config())

	s, err = readSettingsText(t, `<balancer>
  <affinity>
    enabled on
    balance-factor 1.5
    spill-below 2
    max-wait 0.02
  </affinity>
</balancer>
`)
	require.NoError(t, err)
	a := s.Balancer.ObjectAffinity
	assert.Equal(t, AffinitySettings{Factor: 1.5, SpillBelow: 2, MaxWait: 20 * time.Millisecond}, a)
	assert.Nil(t, a.Rules, "no rule keys: the built-in rules")

	s, err = readSettingsText(t, "<balancer>\n<affinity>\nenabled off\n</affinity>\n</balancer>\n")
	require.NoError(t, err)
	assert.True(t, s.Balancer.ObjectAffinity.Off)
	assert.True(t, s.Balancer.ObjectAffinity.Config().Off)
}

// Rules for another Zope application replace the built-in ones, kind by
// kind; ZConfig's $$ is a literal $.
func TestReadSettingsAffinityRules(t *testing.T) {
	s, err := readSettingsText(t, `<balancer>
  <affinity>
    key-path ^/site/(?:en|fr)/([a-z0-9-]+)(?:/|$$)
    key-path /ticket/(\d+)
    key-body-field path
    body-limit 1024
  </affinity>
</balancer>
`)
	require.NoError(t, err)
	r := s.Balancer.ObjectAffinity.Rules
	require.NotNil(t, r)
	spec := r.Spec()
	assert.Equal(t, []string{`^/site/(?:en|fr)/([a-z0-9-]+)(?:/|$)`, `/ticket/(\d+)`}, spec.Paths)
	assert.Equal(t, []string{"path"}, spec.BodyFields)
	assert.Equal(t, balancer.DefaultKeySpec().BodyPaths, spec.BodyPaths, "not given: the built-in body paths")
	assert.Equal(t, 1024, spec.BodyLimit)
	for path, want := range map[string]string{"/site/fr/news": "news", "/x/ticket/42": "42", "/zport/dmd/Devices/Server/devices/d1/devicedetail": ""} {
		k, _ := r.Key("GET", []byte(path), nil, nil)
		assert.Equal(t, want, k, path)
	}
	k, ok := r.Key("POST", []byte("/api/x_router"), nil, []byte(`{"path":"/site/en/faq"}`))
	assert.True(t, ok)
	assert.Equal(t, "faq", k)
	assert.Same(t, r, s.Balancer.ObjectAffinity.Config().Rules)

	// body-limit 0: bodies are not read; the path rules stay.
	s, err = readSettingsText(t, "<balancer>\n<affinity>\nbody-limit 0\n</affinity>\n</balancer>\n")
	require.NoError(t, err)
	r = s.Balancer.ObjectAffinity.Rules
	require.NotNil(t, r)
	_, ok = r.Key("POST", []byte("/zport/dmd/device_router"), nil, []byte(`{"data":[{"uid":"/zport/dmd/Devices/devices/d1"}]}`))
	assert.False(t, ok)
	k, _ = r.Key("GET", []byte("/zport/dmd/Devices/devices/d1"), nil, nil)
	assert.Equal(t, "d1", k)
}

// Bad settings are refused with the file and line that is wrong.
func TestReadSettingsAffinityRefused(t *testing.T) {
	for _, tc := range []struct {
		name, body, want string
	}{
		{"bad regexp", "key-path /devices/([^/]+)\n    key-path /x/(", `etc/zenpatch.conf:4: key-path "/x/(": error parsing regexp: missing closing )`},
		{"no group", "key-path /devices/[^/]+", `etc/zenpatch.conf:3: key-path "/devices/[^/]+": want exactly one capture group`},
		{"two groups", "enabled on\n    key-path /(a)/(b)", `etc/zenpatch.conf:4: key-path "/(a)/(b)": want exactly one capture group (the key), found 2`},
		{"bad body path", "key-body-path _router[", `etc/zenpatch.conf:3: key-body-path "_router["`},
		{"bad field", "key-body-field uid\n    key-body-field u\"id", `etc/zenpatch.conf:4: key-body-field "u\"id": want a JSON member name`},
		{"a lone $", "key-path /devices/([^/]+)$", `etc/zenpatch.conf:3: '$' at end of value; write $$ for a literal dollar`},
		{"unknown key", "key-paths /x/(y)", `etc/zenpatch.conf:3: key-paths: not a key of <affinity>`},
		{"enabled", "enabled maybe", `etc/zenpatch.conf:3: enabled "maybe": want on or off`},
		{"factor", "balance-factor 0.9", `etc/zenpatch.conf:3: balance-factor "0.9": want a number from 1 to 100`},
		{"factor word", "balance-factor high", `etc/zenpatch.conf:3: balance-factor "high"`},
		{"spill", "spill-below 0", `etc/zenpatch.conf:3: spill-below "0": want a whole number from 1`},
		{"max-wait", "max-wait 0", `etc/zenpatch.conf:3: max-wait "0": want seconds from 0.001 to 3600`},
		{"max-wait NaN", "max-wait NaN", `etc/zenpatch.conf:3: max-wait "NaN": want seconds from 0.001 to 3600`},
		{"max-wait below a millisecond", "max-wait 1e-12", `etc/zenpatch.conf:3: max-wait "1e-12"`},
		{"factor NaN", "balance-factor nan", `etc/zenpatch.conf:3: balance-factor "nan": want a number from 1 to 100`},
		{"body-limit", "body-limit -1", `etc/zenpatch.conf:3: body-limit "-1": want bytes`},
		{"too many", strings.Repeat("key-body-field f\n    ", 70), `etc/zenpatch.conf:2: <affinity>: key rules: 73 lines, at most 64`},
		{"nested", "<rules>\n    </rules>", `etc/zenpatch.conf:3: <rules> inside <affinity>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readSettingsText(t, "<balancer>\n  <affinity>\n    "+tc.body+"\n  </affinity>\n</balancer>\n")
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
	_, err := readSettingsText(t, "\n<affinity>\n</affinity>\n")
	assert.ErrorContains(t, err, "etc/zenpatch.conf:2: <affinity> belongs inside <balancer>")
	_, err = readSettingsText(t, "<balancer>\n<affinity>\n</affinity>\n<affinity>\n</affinity>\n</balancer>\n")
	assert.ErrorContains(t, err, "etc/zenpatch.conf:4: a second <affinity> (the first is at line 2)")
}

// FuzzReadAffinity: any <affinity> body is read or refused with a
// position; never a panic; accepted rules compile.
func FuzzReadAffinity(f *testing.F) {
	for _, seed := range []string{
		"enabled on\nbalance-factor 1.25\nspill-below 1\nmax-wait 0.05",
		"key-path /devices/([^/?#]+)\nkey-body-path _router\nkey-body-field uid\nkey-body-field uids\nbody-limit 65536",
		"key-path ^/site/([a-z]+)(?:/|$$)",
		"key-path (",
		"<x>\n</x>",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		cfg, err := zconfig.ParseBytes("etc/zenpatch.conf", []byte("<affinity>\n"+body+"\n</affinity>\n"), nil)
		if err != nil {
			return
		}
		secs := cfg.Root.Children("affinity")
		if len(secs) != 1 {
			return
		}
		a, err := readAffinity(secs[0])
		if err != nil {
			require.True(t, strings.HasPrefix(err.Error(), "etc/zenpatch.conf:"), "error without a position: %v", err)
			return
		}
		if a.Rules != nil {
			a.Rules.Key("GET", []byte("/zport/dmd/Devices/devices/x"), nil, nil)
		}
	})
}
