package zconfig

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/zenpatch/zenpatch/internal/fixture"
)

func reader(files map[string]string) ReadFunc {
	return func(name string) ([]byte, error) {
		if s, ok := files[name]; ok {
			return []byte(s), nil
		}
		return nil, fs.ErrNotExist
	}
}

func TestParseZopeConf(t *testing.T) {
	files := map[string]string{
		"etc/zope.conf": "# comment\r\n%define INSTANCE /opt/zenoss\r\n\r\ninstancehome $INSTANCE\r\n" +
			"Zserver-Threads 6\r\n<http-server>\r\n  # users browse here\r\n  address ${INSTANCE}x:8080\r\n</http-server>\r\n" +
			"<zodb_db main>\r\n  %include zodb.conf\r\n</zodb_db>\r\nprice $$5\r\n",
		"etc/zodb.conf": "<zeoclient>\n  server localhost:8100\n  client zope1\n</zeoclient>\n",
	}
	cfg, err := Parse("etc/zope.conf", reader(files))
	require.NoError(t, err)
	r := cfg.Root
	assert.Equal(t, "/opt/zenoss", r.Value("instancehome", ""))
	assert.Equal(t, "6", r.Value("zserver-threads", ""), "keys are case-insensitive")
	hs := r.Children("HTTP-server")
	require.Len(t, hs, 1)
	assert.Equal(t, "/opt/zenossx:8080", hs[0].Value("address", ""))
	assert.Equal(t, Pos{"etc/zope.conf", 8}, hs[0].Get("address").Pos)
	db := r.Children("zodb_db")[0]
	assert.Equal(t, "main", db.Name)
	zc := db.Children("zeoclient")[0]
	assert.Equal(t, "zope1", zc.Value("client", ""))
	assert.Equal(t, Pos{"etc/zodb.conf", 3}, zc.Get("client").Pos)
	assert.Equal(t, "$5", r.Value("price", ""))
	assert.Equal(t, []string{"etc/zope.conf", "etc/zodb.conf"}, cfg.Files)
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	for name, c := range map[string]struct{ text, want string }{
		"undefined":   {"a $NOPE\n", "x.conf:1: $NOPE is not defined"},
		"unclosed":    {"<a>\nk v\n", "x.conf:1: section <a> is never closed"},
		"mismatch":    {"<a>\n</b>\n", "x.conf:2: </b> closes <a> opened at line 1"},
		"stray close": {"</a>\n", "x.conf:1: </a> closes no open section"},
		"bad define":  {"%define 9-x y\n", "x.conf:1: %define needs a name"},
		"directive":   {"%frob x\n", "x.conf:1: unknown directive %frob"},
		"include":     {"\n%include missing.conf\n", "x.conf:2: %include missing.conf"},
		"redefine":    {"%define A 1\n%define A 2\n", "x.conf:2: %define A again"},
		"dollar end":  {"k v$\n", "x.conf:1: '$' at end"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseBytes("x.conf", []byte(c.text), reader(nil))
			var ze *Error
			require.True(t, errors.As(err, &ze), "%v", err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

func TestIncludeCycleStops(t *testing.T) {
	_, err := Parse("a.conf", reader(map[string]string{"a.conf": "%include b.conf\n", "b.conf": "%include a.conf\n"}))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nested too deeply")
}

func TestPrintRoundTrip(t *testing.T) {
	for _, dir := range fixtureConfs(t) {
		t.Run(dir, func(t *testing.T) {
			cfg, err := Parse("etc/zope.conf", func(n string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, n)) })
			require.NoError(t, err)
			out := Print(cfg)
			again, err := ParseBytes("printed.conf", out, nil)
			require.NoError(t, err, string(out))
			assert.Equal(t, string(out), string(Print(again)))
		})
	}
}

func fixtureConfs(t *testing.T) []string {
	dirs := fixture.All()
	require.NotEmpty(t, dirs)
	return dirs
}
