package zope

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
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
