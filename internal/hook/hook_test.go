package hook

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInstallUninstall(t *testing.T) {
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	o := Options{Zenpatch: "/usr/local/bin/zenpatch", Zenhome: "/opt/zenoss", User: "zenoss"}
	res, err := Install(root, o)
	require.NoError(t, err)
	assert.Equal(t, []Result{{YumPath, "written"}, {DnfPath, "written"}}, res)
	res, err = Install(root, o)
	require.NoError(t, err)
	assert.Equal(t, []Result{{YumPath, "unchanged"}, {DnfPath, "unchanged"}}, res, "idempotent")
	y, d := Installed(root, "/opt/zenoss")
	assert.True(t, y && d)

	yum, err := os.ReadFile(filepath.Join(dir, YumPath))
	require.NoError(t, err)
	rules, err := ParseRules(yum)
	require.NoError(t, err)
	assert.Contains(t, rules, [3]string{"zenoss", "update", "runuser -u zenoss -- env ZENPATCH=/usr/local/bin/zenpatch /usr/local/bin/zenpatch upgrade --zenhome /opt/zenoss"})
	assert.Contains(t, rules, [3]string{"zenoss-core", "install", rules[0][2]})
	dnf, err := os.ReadFile(filepath.Join(dir, DnfPath))
	require.NoError(t, err)
	rules, err = ParseRules(dnf)
	require.NoError(t, err)
	assert.Len(t, rules, 2)
	assert.Equal(t, "in", rules[0][1])

	res, err = Uninstall(root)
	require.NoError(t, err)
	assert.Equal(t, []Result{{YumPath, "removed"}, {DnfPath, "removed"}}, res)
	res, err = Uninstall(root)
	require.NoError(t, err)
	assert.Equal(t, []Result{{YumPath, "absent"}, {DnfPath, "absent"}}, res)
}

func TestForeignFilesLeftAlone(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(dir, filepath.Dir(YumPath)), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, YumPath), []byte("zenoss:any:/root/mine.sh\n"), 0o644))
	root, err := os.OpenRoot(dir)
	require.NoError(t, err)
	defer root.Close()
	_, err = Install(root, Options{Zenpatch: "/z", Zenhome: "/opt/zenoss"})
	assert.ErrorContains(t, err, "not written by zenpatch")
	res, err := Uninstall(root)
	require.NoError(t, err)
	assert.Equal(t, "foreign (left alone)", res[0].Action)
	b, _ := os.ReadFile(filepath.Join(dir, YumPath))
	assert.Equal(t, "zenoss:any:/root/mine.sh\n", string(b))
}
