package zope_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/sandbox"
	"github.com/zenpatch/zenpatch/internal/zope"
)

// A balancer that fails after every check passed (here: one that exits
// at once) takes down the instances this start started, and only those.
func TestBalancerFailureStopsWhatTheStartStarted(t *testing.T) {
	if _, err := sandbox.Python(); err != nil {
		t.Skip(err)
	}
	falseBin, err := exec.LookPath("false")
	require.NoError(t, err)
	home := filepath.Join(t.TempDir(), "z")
	port, err := sandbox.FreeBlock(1)
	require.NoError(t, err)
	base, err := sandbox.FreeBlock(2)
	require.NoError(t, err)
	require.NoError(t, sandbox.Create(home, sandbox.Options{Port: port}))
	require.NoError(t, os.WriteFile(filepath.Join(home, install.SettingsPath), fmt.Appendf(nil, "base-port %d\nstart-timeout 20\nstop-timeout 10\n", base), 0o644))
	// the multi-Zope patch's effect, by hand: ZOPES=2, and the config from
	// zenpatch
	zopectl := filepath.Join(home, install.ZopectlPath)
	data, err := os.ReadFile(zopectl)
	require.NoError(t, err)
	data = bytes.Replace(data, []byte("exec "), []byte("ZOPES=2\n[ -n \"$ZENPATCH_INSTANCE\" ] && CONFIG_FILE=\"$ZENPATCH_CONFIG_FILE\"\nexec "), 1)
	require.NoError(t, os.WriteFile(zopectl, data, 0o755))

	inst, err := install.Open(home)
	require.NoError(t, err)
	defer inst.Close()
	var out bytes.Buffer
	c, err := zope.New(inst, &out)
	require.NoError(t, err)
	c.Env = append(os.Environ(), "ZOPE_STANDIN_WORK=2000", "ZOPE_STANDIN_COLD_SECONDS=0")
	c.Self = zope.Self{Exe: falseBin, Argv0: "false"}
	ctx := context.Background()
	t.Cleanup(func() { _ = c.Action(context.Background(), "stop", 0) })

	err = c.Action(ctx, "start", 0)
	var be *zope.BalancerError
	require.ErrorAs(t, err, &be, "output:\n%s", out.String())
	assert.Equal(t, []int{1, 2}, be.Stopped)
	assert.False(t, be.Running)
	assert.Contains(t, be.Hint(), "nothing runs")
	for n := 1; n <= 2; n++ {
		assert.False(t, c.InstanceProc(n).Running(), "instance %d left running", n)
	}

	// instance 1 ran before this start: it stays up
	require.NoError(t, c.Action(ctx, "start", 1))
	err = c.Action(ctx, "start", 0)
	require.ErrorAs(t, err, &be)
	assert.Equal(t, []int{2}, be.Stopped)
	assert.True(t, be.Running)
	assert.True(t, c.InstanceProc(1).Running())
	assert.False(t, c.InstanceProc(2).Running())
	assert.Contains(t, be.Hint(), "those that ran before still run")
}
