package zope

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zenpatch/zenpatch/internal/fixture"
	"github.com/zenpatch/zenpatch/internal/install"
)

func TestNamesConfig(t *testing.T) {
	const inst = "var/zenpatch/instances/zope-1.conf"
	for name, c := range map[string]struct {
		args   []string
		suffix string
		want   bool
	}{
		"-C path":               {[]string{"python", "runzope", "-C", "/opt/zenoss/" + inst}, inst, true},
		"-Cpath":                {[]string{"python", "runzope", "-C/opt/zenoss/" + inst}, inst, true},
		"--configure=path":      {[]string{"python", "run.py", "--configure=/opt/zenoss/" + inst}, inst, true},
		"relative":              {[]string{"python", "-C", inst}, inst, true},
		"another instance":      {[]string{"python", "-C", "/opt/zenoss/var/zenpatch/instances/zope-11.conf"}, inst, false},
		"not a path boundary":   {[]string{"python", "-C", "/opt/zenoss/xvar/zenpatch/instances/zope-1.conf"}, inst, false},
		"vendor config":         {[]string{"python", "-C", "/opt/zenoss/etc/zope.conf"}, "zope.conf", true},
		"instance is no vendor": {[]string{"python", "-C", "/opt/zenoss/" + inst}, "zope.conf", false},
		"sleep":                 {[]string{"sleep", "300"}, "zope.conf", false},
		"nothing":               {nil, "zope.conf", false},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, c.want, namesConfig(c.args, c.suffix))
		})
	}
}

// testInstall is a copy of the 4.2.5 fixture in a temporary ZENHOME, its
// paths moved there, with ZOPES=zopes; home is the path it was opened by.
func testInstall(t *testing.T, zopes int) (*Controller, string) {
	t.Helper()
	home := filepath.Join(t.TempDir(), "z")
	src := fixture.Dir("zenoss-4.2.5")
	for _, rel := range []string{install.ZopectlPath, install.ZopeConfPath, "etc/zodb_db_main.conf", "etc/zodb_db_session.conf", install.VersionPath} {
		data, err := os.ReadFile(filepath.Join(src, rel))
		require.NoError(t, err)
		data = bytes.ReplaceAll(data, []byte("/opt/zenoss"), []byte(home))
		if rel == install.ZopectlPath {
			data = bytes.Replace(data, []byte("exec "), []byte("ZOPES="+strconv.Itoa(zopes)+"\nexec "), 1)
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(home, rel)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(home, rel), data, 0o755))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(home, "var"), 0o755))
	inst, err := install.Open(home)
	require.NoError(t, err)
	t.Cleanup(func() { inst.Close() })
	c, err := New(inst, io.Discard)
	require.NoError(t, err)
	require.Equal(t, zopes, c.Zopes)
	return c, home
}

// child starts a process with argv and returns its pid; it is killed at
// the test's end.
func child(t *testing.T, argv ...string) int {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	require.NoError(t, cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	return cmd.Process.Pid
}

func writePid(t *testing.T, path string, pid int) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, []byte(strconv.Itoa(pid)+"\n"), 0o644))
}

// A live pid counts as a Zope only if its command line names that Zope's
// config; another process is never signalled, and is reported stale.
func TestZopeProcIdentity(t *testing.T) {
	c, home := testInstall(t, 2)
	zi := c.Instance(1)
	link := filepath.Join(filepath.Dir(home), "zl")
	require.NoError(t, os.Symlink(home, link))

	zope1 := child(t, "sh", "-c", "sleep 60", "sh", "-C", filepath.Join(home, zi.ConfigPath))
	viaLink := child(t, "sh", "-c", "sleep 60", "sh", "-C", filepath.Join(link, zi.ConfigPath))
	zope2 := child(t, "sh", "-c", "sleep 60", "sh", "-C", filepath.Join(home, c.Instance(2).ConfigPath))
	vendor := child(t, "sh", "-c", "sleep 60", "sh", "-C", filepath.Join(home, install.ZopeConfPath))
	sleep := child(t, "sleep", "60")

	for name, tc := range map[string]struct {
		pid         int
		inst, vend  bool
		staleSuffix string
	}{
		"instance 1":                 {zope1, true, false, ""},
		"instance 1 through symlink": {viaLink, true, false, ""},
		"instance 2":                 {zope2, false, false, "which is not this Zope: stale"},
		"the vendor Zope":            {vendor, false, true, "which is not this Zope: stale"},
		"another program":            {sleep, false, false, "(sleep), which is not this Zope: stale"},
	} {
		t.Run(name, func(t *testing.T) {
			writePid(t, zi.PidFile, tc.pid)
			writePid(t, c.Conf.PidFile, tc.pid)
			p := c.InstanceProc(1)
			assert.True(t, p.Alive)
			assert.Equal(t, tc.inst, p.Running())
			assert.Equal(t, tc.vend, c.VendorProc().Running())
			if tc.staleSuffix != "" {
				assert.Contains(t, p.Stale(), "pid file names pid "+strconv.Itoa(tc.pid)+" (")
				assert.Contains(t, p.Stale(), tc.staleSuffix)
			} else {
				assert.Empty(t, p.Stale())
			}
		})
	}

	// a dead pid: not running, not stale either
	dead := exec.Command("true")
	require.NoError(t, dead.Run())
	writePid(t, zi.PidFile, dead.Process.Pid)
	p := c.InstanceProc(1)
	assert.False(t, p.Alive)
	assert.Empty(t, p.Stale())

	// stop leaves a stranger alone, and so does status
	writePid(t, zi.PidFile, sleep)
	writePid(t, c.Conf.PidFile, sleep)
	var out bytes.Buffer
	c.Out = &out
	require.NoError(t, c.StopOne(context.Background(), 1))
	require.NoError(t, c.StopAll(context.Background()))
	assert.True(t, Alive(sleep), "a process the pid file names but that is not this Zope was signalled")
	assert.Contains(t, out.String(), "instance 1: pid file names pid "+strconv.Itoa(sleep)+" (sleep), which is not this Zope: stale; left alone")
	assert.Contains(t, out.String(), "the single Zope: pid file names pid")
	for _, s := range c.StatusAll(context.Background()) {
		if s.N == 1 {
			assert.False(t, s.Running)
			assert.Zero(t, s.PID)
			assert.Contains(t, s.Stale, "(sleep)")
		}
	}
	_, ok := c.VendorStatus()
	assert.False(t, ok)
	assert.False(t, c.Running())
}

// The balancer counts as running only while its pid file is locked (or,
// started by an older zenpatch, while its command line is "… balance
// --zenhome" this install).
func TestBalancerProc(t *testing.T) {
	c, home := testInstall(t, 2)
	pidFile := c.Inst.Abs(BalancerPid)
	writePid(t, pidFile, os.Getpid()) // alive, but holds no lock
	p := c.BalancerProc()
	assert.True(t, p.Alive)
	assert.False(t, p.Running())
	assert.Contains(t, p.Stale(), "which is not the balancer: stale")

	f, err := c.lockPidFile()
	require.NoError(t, err)
	pid, ok := c.BalancerRunning()
	assert.True(t, ok)
	assert.Equal(t, os.Getpid(), pid)
	assert.True(t, Locked(pidFile))
	_, err = c.lockPidFile()
	var are *AlreadyRunningError
	require.ErrorAs(t, err, &are, "a second balancer")
	assert.Equal(t, os.Getpid(), are.PID)
	require.NoError(t, f.Close())
	_, ok = c.BalancerRunning()
	assert.False(t, ok, "the lock went with the file")

	link := filepath.Join(filepath.Dir(home), "zl")
	require.NoError(t, os.Symlink(home, link))
	for name, tc := range map[string]struct {
		args []string
		want bool
	}{
		"as StartBalancer runs it": {[]string{"zenpatch", "balance", "--zenhome", home}, true},
		"through a symlink":        {[]string{"/usr/bin/zenpatch", "balance", "--zenhome", link}, true},
		"--zenhome=":               {[]string{"zenpatch", "balance", "--zenhome=" + home}, true},
		"--zenhome without a dir":  {[]string{"zenpatch", "balance", "--zenhome"}, false},
		"another install":          {[]string{"zenpatch", "balance", "--zenhome", t.TempDir()}, false},
		"another command":          {[]string{"zenpatch", "status", "--zenhome", home}, false},
		"sleep":                    {[]string{"sleep", "300"}, false},
	} {
		t.Run(name, func(t *testing.T) {
			assert.Equal(t, tc.want, c.balanceArgs(tc.args))
		})
	}
}

func TestLocked(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.pid")
	assert.False(t, Locked(p), "missing")
	require.NoError(t, os.WriteFile(p, []byte("1\n"), 0o644))
	assert.False(t, Locked(p), "unlocked")
	f, err := os.Open(p)
	require.NoError(t, err)
	require.NoError(t, syscall.Flock(int(f.Fd()), syscall.LOCK_EX))
	assert.True(t, Locked(p))
	assert.True(t, Locked(p), "the probe leaves the lock alone")
	require.NoError(t, f.Close())
	assert.False(t, Locked(p))
	fifo := filepath.Join(dir, "fifo")
	require.NoError(t, syscall.Mkfifo(fifo, 0o644))
	assert.False(t, Locked(fifo), "a FIFO is no pid file (and must not hang)")
}

// The balancer's pid file must be a file: a FIFO in its place is an error
// that says what is there.
func TestLockPidFileRefusesFIFO(t *testing.T) {
	c, _ := testInstall(t, 2)
	require.NoError(t, os.MkdirAll(c.Inst.Abs(install.StateDir), 0o755))
	require.NoError(t, syscall.Mkfifo(c.Inst.Abs(BalancerPid), 0o644))
	_, err := c.lockPidFile()
	var fk *FileKindError
	require.ErrorAs(t, err, &fk)
	assert.Equal(t, "var/zenpatch/balancer.pid is a FIFO, not the balancer's pid file", err.Error())
}
