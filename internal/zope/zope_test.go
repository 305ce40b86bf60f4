package zope

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestPortOwnerFindsThisProcess(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	assert.Contains(t, PortOwner(port), "pid "+strconv.Itoa(os.Getpid())+" (")
	err = checkFree(2, "127.0.0.1", port)
	var pe *PortError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 2, pe.Instance)
	l.Close()
	assert.NoError(t, checkFree(2, "127.0.0.1", port))
	assert.Equal(t, "", PortOwner(port))
}

func TestPIDFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "x.pid")
	_, ok := PID(p)
	assert.False(t, ok, "missing file")
	require.NoError(t, os.WriteFile(p, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644))
	pid, ok := PID(p)
	assert.True(t, ok)
	assert.Equal(t, os.Getpid(), pid)
	require.NoError(t, os.WriteFile(p, []byte("999999999\n"), 0o644))
	_, ok = PID(p)
	assert.False(t, ok, "no such process")
	require.NoError(t, os.WriteFile(p, []byte("garbage"), 0o644))
	_, ok = PID(p)
	assert.False(t, ok)
}

func TestWithoutVars(t *testing.T) {
	got := withoutVars([]string{"A=1", "ZENPATCH_INSTANCE=2", "ZENPATCH_INSTANCEX=3", "ZENPATCH_CONFIG_FILE=/x"}, "ZENPATCH_INSTANCE", "ZENPATCH_CONFIG_FILE")
	assert.Equal(t, []string{"A=1", "ZENPATCH_INSTANCEX=3"}, got)
}

func TestTail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "event.log")
	require.NoError(t, os.WriteFile(p, []byte("1\n2\n3\n4\n"), 0o644))
	assert.Equal(t, "  3\n  4", tail(p, 0, 2))
	assert.Equal(t, "", tail(p+"x", 0, 2))
	assert.Equal(t, "  4", tail(p, 6, 2), "only what was written from byte 6")
	assert.Equal(t, "", tail(p, 8, 2), "nothing new")
	require.NoError(t, os.WriteFile(p, nil, 0o644))
	assert.Equal(t, "", tail(p, 0, 2), "an empty log has no tail")
}

func TestJoinStartErrors(t *testing.T) {
	assert.NoError(t, joinStartErrors([]int{1, 2}, []error{nil, nil}))
	one := &StartError{What: "Zope instance 2", Reason: "the process exited", Log: "log/event-2.log", Tail: "  boom"}
	assert.Same(t, one, joinStartErrors([]int{1, 2}, []error{nil, one}))

	port := &PortError{Instance: 3, Addr: ":8082"}
	err := joinStartErrors([]int{1, 2, 3}, []error{
		&StartError{What: "Zope instance 1", Reason: "the process exited", Log: "log/event-1.log", Tail: "  ERROR one\n  ERROR two"},
		one, port,
	})
	var ie *InstancesError
	require.ErrorAs(t, err, &ie)
	assert.Equal(t, "Zope instances 1, 2 and 3 did not start; instance 1: the process exited", err.Error())
	assert.NotContains(t, err.Error(), "\n", "one line")
	assert.Equal(t, "instance 1: the process exited\nlast lines of log/event-1.log:\n  ERROR one\n  ERROR two\n"+
		"instance 2: the process exited\nlast lines of log/event-2.log:\n  boom\n"+
		"instance 3: "+port.Error(), ie.Detail())
	assert.Equal(t, "read the log lines above; nothing of this start was left running", ie.Hint())
	var pe *PortError
	assert.ErrorAs(t, err, &pe, "each instance's error is reachable")
	assert.Equal(t, "1 and 2", andList([]int{1, 2}))
}

func TestZopectlError(t *testing.T) {
	run := exec.Command("sh", "-c", "echo starting; echo 'exec: /opt/zenoss/zopehome/zopectl: not found' >&2; exit 127")
	out, err := run.CombinedOutput()
	ze := &ZopectlError{Args: []string{"start"}, Home: "/opt/zenoss", Config: "/opt/zenoss/etc/zope.conf", Err: err, Output: string(out)}
	assert.Equal(t, "bin/zopectl start: exit status 127: exec: /opt/zenoss/zopehome/zopectl: not found", ze.Error())
	assert.Equal(t, "bin/zopectl said:\n  starting\n  exec: /opt/zenoss/zopehome/zopectl: not found", ze.Detail())
	assert.Equal(t, "run '/opt/zenoss/bin/zopectl start' by hand to see why; exit status 127: a program it runs was not found (check PYTHON and ZDCTL in bin/zopectl)", ze.Hint())
	ze.Instance, ze.Config = 2, "/opt/zenoss/var/zenpatch/instances/zope-2.conf"
	assert.Contains(t, ze.Hint(), "run 'ZENPATCH_INSTANCE=2 ZENPATCH_CONFIG_FILE=/opt/zenoss/var/zenpatch/instances/zope-2.conf /opt/zenoss/bin/zopectl start' by hand")

	// inside a StartError without a log tail, zopectl's hint is the next step
	se := &StartError{What: "Zope instance 2", Reason: ze.Error(), Err: ze, Log: "log/event-2.log"}
	assert.Equal(t, ze.Hint(), se.Hint())
	assert.Equal(t, ze.Detail(), se.Detail())
	se.Tail = "  ERROR"
	assert.Equal(t, "read the log lines above; nothing of this start was left running", se.Hint())
}

func TestPrefixWriter(t *testing.T) {
	var b strings.Builder
	w := &prefixWriter{w: &b, prefix: "zenpatch: "}
	for _, s := range []string{"balancer stopped\n", "instance 1 ", "stopped\n. daemon process started\n", "\n", "no newline"} {
		n, err := w.Write([]byte(s))
		require.NoError(t, err)
		assert.Equal(t, len(s), n)
	}
	assert.Equal(t, "zenpatch: balancer stopped\nzenpatch: instance 1 stopped\nzenpatch: . daemon process started\nzenpatch: \nzenpatch: no newline", b.String())
}
