package install

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zenpatch/zenpatch/internal/fixture"
	"github.com/zenpatch/zenpatch/internal/zconfig"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestDeriveGolden: instance 2's config for each fixture, against
// testdata/golden/<fixture>/zope-2.conf (go test ./internal/install
// -update rewrites). The fixture's directory, which the config names as
// ZENHOME for the files zenpatch writes, is written /ZENHOME there.
func TestDeriveGolden(t *testing.T) {
	for _, fx := range []string{"zenoss-2.5.2", "zenoss-3.2.1", "zenoss-4.2.5"} {
		t.Run(fx, func(t *testing.T) {
			zc, err := open(t, fx).ReadZopeConf()
			require.NoError(t, err)
			inst, data := DeriveInstance(zc, 2, 18080)
			data = bytes.ReplaceAll(data, []byte(zc.Home), []byte("/ZENHOME"))
			golden := filepath.Join(fixture.Root(), "testdata", "golden", fx, "zope-2.conf")
			if *update {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, data, 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err)
			assert.Equal(t, string(want), string(data))
			assert.Equal(t, 18081, inst.Port)
			assert.Equal(t, "127.0.0.1:18081", inst.Addr())
			assert.True(t, strings.HasSuffix(inst.PidFile, "/var/Z2-2.pid"), inst.PidFile)
			assert.True(t, strings.HasSuffix(inst.LockFile, "/var/Z2-2.lock"))
			assert.True(t, strings.HasSuffix(inst.EventLog, "/log/event-2.log"))
			assert.True(t, strings.HasSuffix(inst.AccessLog, "/log/Z2-2.log"))
			// The derived config parses, and shared settings are unchanged.
			d, err := zconfig.ParseBytes("derived", data, nil)
			require.NoError(t, err)
			assert.Equal(t, zc.Config.Root.Value("zserver-threads", ""), d.Root.Value("zserver-threads", ""))
		})
	}
}

func TestDeriveDetails(t *testing.T) {
	conf := "%define INSTANCE /z\ninstancehome $INSTANCE\nport-base 100\nzeo-client-name zc\n" +
		"<http-server>\n address 127.0.0.1:8080\n</http-server>\n<ftp-server>\n address 8021\n</ftp-server>\n" +
		"<zodb_db main>\n <zeoclient>\n  server localhost:8100\n  client zope1\n </zeoclient>\n</zodb_db>\n"
	cfg, err := zconfig.ParseBytes(ZopeConfPath, []byte(conf), nil)
	require.NoError(t, err)
	zc, err := (&Install{Home: "/z"}).zopeConf(cfg)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:8180", zc.HTTPAddress(), "port-base is added")

	_, one := DeriveInstance(zc, 1, 9000)
	_, three := DeriveInstance(zc, 3, 9000)
	assert.Contains(t, string(one), "<ftp-server>", "instance 1 keeps the FTP server")
	assert.NotContains(t, string(three), "<ftp-server>", "other instances cannot share its port")
	assert.Contains(t, string(three), "address 127.0.0.1:9002")
	assert.NotContains(t, string(three), "port-base")
	assert.Contains(t, string(three), "client zope1-3")
	assert.Contains(t, string(three), "zeo-client-name zc-3")
	assert.Contains(t, string(three), "pid-filename /z/var/Z2-3.pid")
	// The original is untouched.
	assert.Equal(t, "zope1", zc.ZEOClients[0])
}

func TestReadSettings(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, copyDir(fixture.Dir("zenoss-4.2.5"), dir))
	inst, err := Open(dir)
	require.NoError(t, err)
	defer inst.Close()
	zc, err := inst.ReadZopeConf()
	require.NoError(t, err)
	s, err := inst.ReadSettings(zc)
	require.NoError(t, err)
	assert.Equal(t, 18080, s.BasePort, "default: zope.conf's port + 10000")
	assert.Empty(t, s.BasePortPos, "defaulted")
	assert.Regexp(t, `^etc/zope.conf:[0-9]+$`, zc.HTTP[0].Pos)
	s, err = readSettingsText(t, "base-port 9100\n<balancer>\n  slow-start 5\n  cookie-affinity on\n  procs 1\n</balancer>\n")
	require.NoError(t, err)
	assert.Equal(t, 9100, s.BasePort)
	assert.Equal(t, "etc/zenpatch.conf:1", s.BasePortPos)
	assert.True(t, s.Balancer.Affinity)
	assert.Equal(t, "5s", s.Balancer.SlowStart.String())
	assert.Equal(t, 1, s.Balancer.Procs)
	_, err = readSettingsText(t, "\nbase-port 99999\n")
	assert.ErrorContains(t, err, "etc/zenpatch.conf:2: base-port \"99999\"")
	_, err = readSettingsText(t, "<balancer>\n  procs 0\n</balancer>\n")
	assert.ErrorContains(t, err, "etc/zenpatch.conf:2: procs \"0\"")
}

func copyDir(src, dst string) error {
	return filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if fi.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, fi.Mode())
	})
}

// An HTTP port past 65535 (address plus port-base) is refused where it is
// set: Zope could not bind it, nor could the balancer.
func TestPortBasePast65535(t *testing.T) {
	for name, c := range map[string]struct {
		conf string
		err  string
		hint string
	}{
		"port-base past the end": {
			conf: "port-base 40000\n<http-server>\n address 35600\n</http-server>\n",
			err:  `etc/zope.conf:3: address "35600" plus port-base 40000 (etc/zope.conf:1) is port 75600, past 65535`,
			hint: "lower port-base (at most 29935 for this address) or the address in etc/zope.conf",
		},
		"the second server": {
			conf: "port-base 100\n<http-server>\n address 8080\n</http-server>\n<http-server>\n address 127.0.0.1:65500\n</http-server>\n",
			err:  `etc/zope.conf:6: address "127.0.0.1:65500" plus port-base 100 (etc/zope.conf:1) is port 65600, past 65535`,
		},
		"port-base itself": {
			conf: "port-base 70000\n<http-server>\n address 8080\n</http-server>\n",
			err:  `etc/zope.conf:1: port-base "70000": want a whole number from 0 to 65535`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			cfg, err := zconfig.ParseBytes(ZopeConfPath, []byte(c.conf), nil)
			require.NoError(t, err)
			zc, err := (&Install{Home: "/z"}).zopeConf(cfg)
			assert.Nil(t, zc)
			require.EqualError(t, err, c.err)
			if c.hint != "" {
				var pe *PortRangeError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, c.hint, pe.Hint())
			}
		})
	}
	cfg, err := zconfig.ParseBytes(ZopeConfPath, []byte("port-base 30000\n<http-server>\n address 35535\n</http-server>\n"), nil)
	require.NoError(t, err)
	zc, err := (&Install{Home: "/z"}).zopeConf(cfg)
	require.NoError(t, err)
	assert.Equal(t, 65535, zc.HTTPPort, "the last port is a port")
}

// Each instance gets its own daemon manager socket and a runzope that
// reads its own config: zopectl's defaults ($INSTANCE/bin/runzope, which
// reads etc/zope.conf, and $CLIENTHOME/zopectlsock) would be shared.
func TestDeriveRunner(t *testing.T) {
	conf := "%define INSTANCE /z\ninstancehome $INSTANCE\n<http-server>\n address 8080\n</http-server>\n"
	zc := parse(t, conf)
	inst, data := DeriveInstance(zc, 3, 9000)
	assert.Equal(t, "var/zenpatch/instances/runzope-3", inst.RunzopePath)
	assert.Equal(t, "/z/var/zopectlsock-3", inst.Socket)
	assert.Contains(t, string(data), "<runner>\n  socket-name /z/var/zopectlsock-3\n  program /z/var/zenpatch/instances/runzope-3\n</runner>")
	// an operator's own <runner> keeps its keys; its socket gets the suffix,
	// its program is replaced
	zc = parse(t, conf+"clienthome /c\n<runner>\n  socket-name /s/sock\n  program /x/runzope\n  program -X\n  daemon on\n</runner>\n")
	inst, data = DeriveInstance(zc, 2, 9000)
	assert.Equal(t, "/s/sock-2", inst.Socket)
	assert.Contains(t, string(data), "daemon on")
	assert.Equal(t, 1, strings.Count(string(data), "program "))
	zc = parse(t, conf+"clienthome /c\n")
	inst, _ = DeriveInstance(zc, 2, 9000)
	assert.Equal(t, "/c/zopectlsock-2", inst.Socket, "the default socket is in clienthome")
}

func TestDeriveRunzope(t *testing.T) {
	for _, fx := range []string{"zenoss-2.5.2", "zenoss-3.2.1", "zenoss-4.2.5"} {
		rz, err := os.ReadFile(filepath.Join(fixture.Dir(fx), RunzopePath))
		require.NoError(t, err)
		out, err := DeriveRunzope(rz, 2, "/z/var/zenpatch/instances/zope-2.conf")
		require.NoError(t, err, fx)
		assert.True(t, strings.HasPrefix(string(out), "#! /bin/sh\n# Zope instance 2's runzope"), fx)
		assert.Contains(t, string(out), "\nCONFIG_FILE=\"/z/var/zenpatch/instances/zope-2.conf\"\n", fx)
		assert.NotContains(t, string(out), "etc/zope.conf", fx)
		assert.Equal(t, strings.Count(string(rz), "\n")+1, strings.Count(string(out), "\n"), fx)
	}
	_, err := DeriveRunzope([]byte("#!/bin/sh\nexec run.py\n"), 2, "/z/c.conf")
	assert.ErrorContains(t, err, "sets no CONFIG_FILE")
	_, err = DeriveRunzope([]byte("CONFIG_FILE=x\n"), 2, "/z/$(x).conf")
	assert.ErrorContains(t, err, "cannot carry")
}

func parse(t *testing.T, conf string) *ZopeConf {
	cfg, err := zconfig.ParseBytes(ZopeConfPath, []byte(conf), nil)
	require.NoError(t, err)
	zc, err := (&Install{Home: "/z"}).zopeConf(cfg)
	require.NoError(t, err)
	return zc
}
