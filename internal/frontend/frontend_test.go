package frontend

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func site() Site {
	return Site{Source: "/opt/zenoss", ListenPort: 18080, SlowStart: 30, Backends: []Backend{
		{Name: "zope1", Addr: "127.0.0.1:28080", Cap: 4}, {Name: "zope2", Addr: "127.0.0.1:28081", Cap: 4},
	}}
}

// need finds a program; CI (CI=true) installs them, so there a missing one
// fails the test instead of skipping it.
func need(t *testing.T, prog string) string {
	p, err := exec.LookPath(prog)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not installed (CI installs haproxy, nginx-light and apache2)", prog)
		}
		t.Skipf("%s not installed", prog)
	}
	return p
}

func TestHAProxyAcceptsIt(t *testing.T) {
	bin := need(t, "haproxy")
	conf, err := Render("haproxy", site())
	require.NoError(t, err)
	assert.Contains(t, string(conf), "server zope2 127.0.0.1:28081 check inter 2s rise 2 fall 3 maxconn 4 slowstart 30s")
	f := filepath.Join(t.TempDir(), "haproxy.cfg")
	require.NoError(t, os.WriteFile(f, conf, 0o644))
	out, err := exec.Command(bin, "-c", "-f", f).CombinedOutput()
	require.NoError(t, err, "%s\n%s", out, conf)
}

func TestNginxAcceptsIt(t *testing.T) {
	bin := need(t, "nginx")
	conf, err := Render("nginx", site())
	require.NoError(t, err)
	dir := t.TempDir()
	snippet := filepath.Join(dir, "zenoss.conf")
	require.NoError(t, os.WriteFile(snippet, conf, 0o644))
	main := "pid " + dir + "/nginx.pid;\nerror_log " + dir + "/error.log;\nevents {}\nhttp {\n  access_log off;\n  client_body_temp_path " + dir + "/body;\n  proxy_temp_path " + dir + "/proxy;\n  include " + snippet + ";\n}\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(main), 0o644))
	out, err := exec.Command(bin, "-t", "-p", dir, "-c", filepath.Join(dir, "nginx.conf")).CombinedOutput()
	require.NoError(t, err, "%s\n%s", out, conf)
	assert.Contains(t, string(out), "syntax is ok")
}

func TestApacheAcceptsIt(t *testing.T) {
	bin := need(t, "apache2")
	conf, err := Render("apache", site())
	require.NoError(t, err)
	dir := t.TempDir()
	snippet := filepath.Join(dir, "zenoss.conf")
	require.NoError(t, os.WriteFile(snippet, conf, 0o644))
	var mods strings.Builder
	for _, m := range []string{"mpm_event", "authz_core", "proxy", "proxy_http", "proxy_balancer", "slotmem_shm", "lbmethod_bybusyness"} {
		mods.WriteString("LoadModule " + m + "_module /usr/lib/apache2/modules/mod_" + m + ".so\n")
	}
	main := "ServerRoot " + dir + "\nPidFile " + dir + "/httpd.pid\nErrorLog " + dir + "/error.log\nServerName localhost\n" + mods.String() + "Include " + snippet + "\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "httpd.conf"), []byte(main), 0o644))
	out, err := exec.Command(bin, "-t", "-f", filepath.Join(dir, "httpd.conf")).CombinedOutput()
	require.NoError(t, err, "%s\n%s", out, conf)
	assert.Contains(t, string(out), "Syntax OK")
}

func TestUnknownKind(t *testing.T) {
	_, err := Render("iis", site())
	assert.ErrorContains(t, err, "unknown front end")
}
