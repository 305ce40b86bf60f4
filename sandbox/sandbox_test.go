package sandbox

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The sandbox's install files are the fixtures' bytes: a sandbox is shaped
// exactly like the installs the patch engine is tested on.
func TestTemplatesMatchFixtures(t *testing.T) {
	for _, v := range append(Shapes, "2.5.2") {
		err := fs.WalkDir(files, "files/zenoss-"+v, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, _ := filepath.Rel("files/zenoss-"+v, p)
			want, err := os.ReadFile(filepath.Join("..", "testdata", "installs", "zenoss-"+v, rel))
			require.NoError(t, err, rel)
			got, _ := files.ReadFile(p)
			assert.Equal(t, string(want), string(got), "sandbox/%s differs from testdata", p)
			return nil
		})
		require.NoError(t, err)
	}
}

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

func TestFixtures(t *testing.T) {
	fx, err := Fixtures()
	require.NoError(t, err)
	require.Len(t, fx, 3)
	for _, f := range fx {
		assert.Contains(t, string(f.Files["bin/zopectl"]), "#! /bin/sh", f.Name)
	}
}
