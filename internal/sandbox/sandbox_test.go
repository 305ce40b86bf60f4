package sandbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateRunsStandin(t *testing.T) {
	if _, err := Python(); err != nil {
		t.Skip(err)
	}
	for _, v := range Shapes {
		t.Run(v, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "zenoss")
			require.NoError(t, Create(home, Options{Version: v, Port: 18999}))
			zc, err := os.ReadFile(filepath.Join(home, "bin/zopectl"))
			require.NoError(t, err)
			assert.Contains(t, string(zc), home)
			assert.NotContains(t, string(zc), "/opt/zenoss")
			// zopectl status goes through the vendor path to the stand-in.
			out, err := exec.Command(filepath.Join(home, "bin/zopectl"), "status").CombinedOutput()
			assert.Contains(t, string(out), "daemon manager not running", "%v", err)
		})
	}
	require.Error(t, Create(t.TempDir()+"/x", Options{Version: "9.9.9"}))
}
