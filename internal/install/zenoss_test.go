package install

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zenpatch/zenpatch/internal/fixture"
)

func open(t *testing.T, name string) *Install {
	inst, err := Open(fixture.Dir(name))
	require.NoError(t, err)
	t.Cleanup(func() { inst.Close() })
	return inst
}

func TestParseZVersion(t *testing.T) {
	cases := map[string]Version{
		"VERSION = \"4.2.5\"\nBUILD_NUMBER = \"2108\"\n":     {Version: "4.2.5", Build: "2108", Source: VersionPath + ":1"},
		"# x\nBUILD_NUMBER='954'\nVERSION='3.1.0'\n":         {Version: "3.1.0", Build: "954", Source: VersionPath + ":3"},
		"\r\n  VERSION=\"2.5.2\"  # from ZVersion.py.in\r\n": {Version: "2.5.2", Source: VersionPath + ":2"},
	}
	for in, want := range cases {
		got, ok := ParseZVersion([]byte(in))
		assert.True(t, ok, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "VERSION = 4.2\n", "version = \"1\"\n", "VERSION = \"\"\n"} {
		_, ok := ParseZVersion([]byte(bad))
		assert.False(t, ok, bad)
	}
}

func TestDetectVersionFallbacks(t *testing.T) {
	inst := open(t, "zenoss-4.2.5")
	v, err := inst.DetectVersion(VersionOptions{})
	require.NoError(t, err)
	assert.Equal(t, "Products/ZenModel/ZVersion.py:6", v.Source)

	v, err = inst.DetectVersion(VersionOptions{Override: "4.1.1"})
	require.NoError(t, err)
	assert.Equal(t, Version{Version: "4.1.1", Source: "--version-override"}, v)

	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "bin"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "bin/zopectl"), []byte("#! /bin/sh\n"), 0o755))
	bare, err := Open(dir)
	require.NoError(t, err)
	defer bare.Close()
	rpm := func(pkg string) (string, error) {
		if pkg == "zenoss-core" {
			return "4.2.4", nil
		}
		return "", errors.New("package zenoss is not installed")
	}
	v, err = bare.DetectVersion(VersionOptions{RPM: rpm})
	require.NoError(t, err)
	assert.Equal(t, Version{Version: "4.2.4", Source: "rpm -q zenoss-core"}, v)
	_, err = bare.DetectVersion(VersionOptions{})
	assert.ErrorIs(t, err, ErrNoVersion)
}

func TestZopesLine(t *testing.T) {
	in := []byte("a\n  ZOPES=1   # instances\r\nb\n")
	assert.Equal(t, 1, Zopes(in))
	out := SetZopes(in, 12, nil)
	assert.Equal(t, "a\n  ZOPES=12   # instances\r\nb\n", string(out))
	assert.Equal(t, 0, Zopes([]byte("MYZOPES=3\n")))
	assert.Equal(t, "x\n", string(SetZopes([]byte("x\n"), 3, nil)))
}

// However an operator spelled the ZOPES line, it is found, its value read
// (a number or not), it can be put back as the patch wrote it, and a new
// value keeps the operator's spelling.
func TestZopesLineSpellings(t *testing.T) {
	for _, c := range []struct {
		line, value string
		n           int
		set4        string
	}{
		{"ZOPES=3", "3", 3, "ZOPES=4"},
		{`ZOPES="3"`, "3", 3, `ZOPES="4"`},
		{"ZOPES='3'", "3", 3, "ZOPES='4'"},
		{"export ZOPES=3", "3", 3, "export ZOPES=4"},
		{"  export  ZOPES=3 # mine", "3", 3, "  export  ZOPES=4 # mine"},
		{"ZOPES=abc", "abc", 0, "ZOPES=4"},
		{"ZOPES=", "", 0, "ZOPES=4"},
		{`ZOPES=""`, "", 0, `ZOPES="4"`},
		{"ZOPES=0", "0", 0, "ZOPES=4"},
		{"ZOPES=-2", "-2", 0, "ZOPES=4"},
	} {
		file := []byte("#! /bin/sh\n\n" + c.line + "\r\nexec x\n")
		z, ok := FindZopes(file)
		require.True(t, ok, c.line)
		assert.Equal(t, 3, z.Line, c.line)
		assert.Equal(t, c.value, z.Value, c.line)
		assert.Equal(t, c.n, z.N, c.line)
		assert.Equal(t, "#! /bin/sh\n\nZOPES=1\r\nexec x\n", string(z.Canonical(file)), c.line)
		assert.Equal(t, "#! /bin/sh\n\n"+c.set4+"\r\nexec x\n", string(SetZopes(z.Canonical(file), 4, &z)), c.line)
	}
	for _, no := range []string{"MYZOPES=3", "ZOPES=3; echo", "# ZOPES=3", "ZOPES = 3"} {
		_, ok := FindZopes([]byte(no + "\n"))
		assert.False(t, ok, no)
	}
}

func TestReadZopeConfFixtures(t *testing.T) {
	cases := []struct {
		fixture, storage string
		clients          []string
		pid              string
	}{
		{"zenoss-2.5.2", "zeo", nil, "/usr/local/zenoss/var/Z2.pid"},
		{"zenoss-3.2.1", "zeo", []string{"zope1"}, "/opt/zenoss/var/Z2.pid"},
		{"zenoss-4.2.5", "relstorage", nil, "/opt/zenoss/var/Z2.pid"},
	}
	for _, c := range cases {
		t.Run(c.fixture, func(t *testing.T) {
			zc, err := open(t, c.fixture).ReadZopeConf()
			require.NoError(t, err)
			assert.Equal(t, ":8080", zc.HTTPAddress())
			assert.Equal(t, 4, zc.Threads)
			assert.Equal(t, c.storage, zc.Storage)
			assert.Equal(t, c.clients, zc.ZEOClients)
			assert.Equal(t, c.pid, zc.PidFile)
		})
	}
}

func TestParseAddress(t *testing.T) {
	for in, want := range map[string]struct {
		host string
		port int
	}{"8080": {"", 8080}, ":9080": {"", 9080}, "127.0.0.1:8080": {"127.0.0.1", 8080}, "[::1]:80": {"::1", 80}} {
		h, p, err := ParseAddress(in)
		require.NoError(t, err, in)
		assert.Equal(t, want.host, h, in)
		assert.Equal(t, want.port, p, in)
	}
	for _, bad := range []string{"", "x", "0", "70000", "host:"} {
		_, _, err := ParseAddress(bad)
		assert.Error(t, err, bad)
	}
}
