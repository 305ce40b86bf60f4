package zope

import (
	"net"
	"os"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zenpatch/zenpatch/internal/install"
)

// What the balancer needs is checked before any instance starts.
func TestCheckFront(t *testing.T) {
	c, _ := testInstall(t, 2)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	c.Conf.HTTP = []install.Listener{{Host: "127.0.0.1", Port: port, Pos: "etc/zope.conf:25"}}

	err = c.checkFront(0)
	var pe *PortError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, 0, pe.Instance)
	assert.Equal(t, "port 127.0.0.1:"+strconv.Itoa(port)+" for the balancer (etc/zope.conf:25, zope.conf's HTTP address) is in use by pid "+strconv.Itoa(os.Getpid())+" ("+procComm(os.Getpid())+")", err.Error())
	assert.Contains(t, pe.Hint(), "listen in the <balancer> section of etc/zenpatch.conf")
	assert.NoError(t, c.checkFront(os.Getpid()), "held by the single Zope, which stops first")

	c.Settings.BalancerOff = true
	assert.NoError(t, c.checkFront(0), "balancer off: the operator's front end holds the port")
	c.Settings.BalancerOff = false
	c.Settings.Balancer.Listen = "127.0.0.1:" + strconv.Itoa(port)
	require.ErrorAs(t, c.checkFront(0), &pe)
	assert.Equal(t, "listen in etc/zenpatch.conf's <balancer>", pe.Source)
	l.Close()
	assert.NoError(t, c.checkFront(0))

	require.NoError(t, os.MkdirAll(c.Inst.Abs(install.StateDir), 0o755))
	require.NoError(t, os.Mkdir(c.Inst.Abs(AdminSocket), 0o755))
	err = c.checkFront(0)
	var fk *FileKindError
	require.ErrorAs(t, err, &fk)
	assert.Equal(t, "var/zenpatch/balancer.sock is a directory, not the balancer's admin socket", err.Error())
	require.NoError(t, os.Remove(c.Inst.Abs(AdminSocket)))

	require.NoError(t, os.MkdirAll(c.Inst.Abs(BalancerLog), 0o755))
	require.ErrorAs(t, c.checkFront(0), &fk)
	assert.Equal(t, BalancerLog, fk.Path)
}
