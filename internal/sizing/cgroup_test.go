package sizing

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseProcCgroup(t *testing.T) {
	got := parseProcCgroup([]byte("12:cpuacct,cpu:/system.slice/zenoss.service\n" +
		"1:name=systemd:/user.slice/a:b\n" + // a colon inside the path is kept
		"0::/\n" +
		"junk\n" + // not ID:controllers:path
		"x:cpu:/a\n" + // ID not a number
		"3:memory:relative\n" + // path not absolute
		"\n"))
	assert.Equal(t, []procCgroup{
		{ID: "12", Controllers: []string{"cpuacct", "cpu"}, Path: "/system.slice/zenoss.service"},
		{ID: "1", Controllers: []string{"name=systemd"}, Path: "/user.slice/a:b"},
		{ID: "0", Path: "/"},
	}, got)
	assert.Empty(t, parseProcCgroup(nil))
}

func TestWithin(t *testing.T) {
	cases := []struct {
		root, cg, rel string
		ok            bool
	}{
		{"/", "/zenoss", "/zenoss", true},
		{"/", "/", "/", true},
		{"/docker/abc", "/docker/abc", "/", true},          // v1 container without a cgroup namespace
		{"/docker/abc", "/docker/abc/sub", "/sub", true},   // a child of the container's cgroup
		{"/docker/abc", "/docker/abcdef", "", false},       // a sibling with a longer name is not inside
		{"/docker/abc", "/other", "", false},               // outside the mount
		{"/", "/../../system.slice/x.service", "", false},  // outside this cgroup namespace
		{"/", "relative", "", false},                       // never written by the kernel
		{"/system.slice/", "/system.slice/a", "/a", true},  // cleaned
		{"/system.slice", "/system.slice//a/", "/a", true}, // cleaned
		{"/..", "/x", "", false},                           // a root outside the namespace
		{"/sys.slice", "/system.slice/zenoss.service", "", false},
	}
	for _, c := range cases {
		rel, ok := within(c.root, c.cg)
		assert.Equal(t, c.ok, ok, "%s in %s", c.cg, c.root)
		assert.Equal(t, c.rel, rel, "%s in %s", c.cg, c.root)
	}
}

func TestHierarchies(t *testing.T) {
	cases := []struct {
		name, mountinfo, cgroup, controller string
		want                                []hierarchy
		note                                string
	}{
		{
			name: "EL6 cgconfig",
			mountinfo: "26 20 0:19 / /cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n" +
				"27 20 0:20 / /cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n",
			cgroup:     "3:cpuacct:/zenoss\n2:cpu:/zenoss\n",
			controller: "cpu",
			want:       []hierarchy{{version: 1, mount: "/cgroup/cpu", dir: "/cgroup/cpu/zenoss"}},
		},
		{
			name:       "v1 container without a cgroup namespace: the mount starts at the container's cgroup",
			mountinfo:  "701 695 0:31 /docker/0f3c9a /sys/fs/cgroup/cpu,cpuacct ro,nosuid,nodev,noexec,relatime master:11 - cgroup cgroup rw,cpu,cpuacct\n",
			cgroup:     "4:cpu,cpuacct:/docker/0f3c9a\n",
			controller: "cpu",
			want:       []hierarchy{{version: 1, mount: "/sys/fs/cgroup/cpu,cpuacct", dir: "/sys/fs/cgroup/cpu,cpuacct"}},
		},
		{
			name:       "cgroup outside the mount",
			mountinfo:  "701 695 0:31 /docker/0f3c9a /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n",
			cgroup:     "5:memory:/docker/other\n",
			controller: "memory",
			note:       "this process's cgroup /docker/other is outside /sys/fs/cgroup/memory (mount root /docker/0f3c9a)",
		},
		{
			name: "two mounts of one hierarchy: the one showing more ancestors",
			mountinfo: "40 20 0:19 /zenoss /srv/cpu rw - cgroup cgroup rw,cpu\n" +
				"26 20 0:19 / /cgroup/cpu rw - cgroup cgroup rw,cpu\n",
			cgroup:     "2:cpu:/zenoss/web\n",
			controller: "cpu",
			want:       []hierarchy{{version: 1, mount: "/cgroup/cpu", dir: "/cgroup/cpu/zenoss/web"}},
		},
		{
			name: "hybrid: v1 controllers, an empty v2 hierarchy at unified",
			mountinfo: "28 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw shared:11 - cgroup cgroup rw,cpu,cpuacct\n" +
				"25 24 0:21 / /sys/fs/cgroup/unified rw shared:5 - cgroup2 cgroup2 rw,nsdelegate\n",
			cgroup:     "4:cpu,cpuacct:/system.slice/z.service\n0::/system.slice/z.service\n",
			controller: "cpu",
			want: []hierarchy{
				{version: 1, mount: "/sys/fs/cgroup/cpu,cpuacct", dir: "/sys/fs/cgroup/cpu,cpuacct/system.slice/z.service"},
				{version: 2, mount: "/sys/fs/cgroup/unified", dir: "/sys/fs/cgroup/unified/system.slice/z.service"},
			},
		},
		{
			name:       "an escaped space in the mount point",
			mountinfo:  `26 20 0:19 / /cgroup/my\040cpu rw - cgroup cgroup rw,cpu` + "\n",
			cgroup:     "2:cpu:/zenoss\n",
			controller: "cpu",
			want:       []hierarchy{{version: 1, mount: "/cgroup/my cpu", dir: "/cgroup/my cpu/zenoss"}},
		},
		{
			name:       "controller not mounted (a v2 line without a cgroup2 mount is not a hierarchy either)",
			mountinfo:  "27 20 0:20 / /cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n",
			cgroup:     "3:cpuacct:/zenoss\n0::/\n",
			controller: "cpu",
		},
		{
			name:       "named hierarchies are not controllers",
			mountinfo:  "25 24 0:21 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n",
			cgroup:     "1:name=systemd:/system.slice/z.service\n",
			controller: "cpu",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cg := readCgroups(fstest.MapFS{"proc/self/mountinfo": file(c.mountinfo), "proc/self/cgroup": file(c.cgroup)})
			require.NoError(t, cg.err)
			hs, notes := cg.hierarchies(c.controller)
			assert.Equal(t, c.want, hs)
			if c.note == "" {
				assert.Empty(t, notes)
			} else {
				assert.Equal(t, []string{c.note}, notes)
			}
		})
	}
}

func TestReadCgroupsErrors(t *testing.T) {
	assert.EqualError(t, readCgroups(nil).err, "no file system")
	assert.EqualError(t, readCgroups(fstest.MapFS{}).err, "/proc/self/mountinfo: file does not exist")
	assert.ErrorContains(t, readCgroups(fstest.MapFS{"proc/self/mountinfo": file("1 2 3\n")}).err, "/proc/self/mountinfo: parsing '1 2 3' failed")
	assert.EqualError(t, readCgroups(fstest.MapFS{"proc/self/mountinfo": file("")}).err, "/proc/self/cgroup: file does not exist")
}

func TestDirs(t *testing.T) {
	assert.Equal(t, []string{"/cgroup/cpu/a/b", "/cgroup/cpu/a", "/cgroup/cpu"}, hierarchy{mount: "/cgroup/cpu", dir: "/cgroup/cpu/a/b"}.dirs())
	assert.Equal(t, []string{"/sys/fs/cgroup"}, hierarchy{mount: "/sys/fs/cgroup", dir: "/sys/fs/cgroup"}.dirs())
}

// TestTightestMemoryV1 covers what only v1 has: the unlimited values and
// memory.use_hierarchy.
func TestTightestMemoryV1(t *testing.T) {
	h := []hierarchy{{version: 1, mount: "/m", dir: "/m/a/b"}}
	limits := func(kv ...string) fstest.MapFS {
		fsys := fstest.MapFS{}
		for i := 0; i < len(kv); i += 2 {
			fsys[kv[i]] = file(kv[i+1] + "\n")
		}
		return fsys
	}
	cases := []struct {
		name  string
		fs    fstest.MapFS
		file  string // "" = no limit
		avail uint64
	}{
		{"unlimited, EL6/EL7 (LLONG_MAX)", limits("m/a/b/memory.limit_in_bytes", "9223372036854775807", "m/a/b/memory.usage_in_bytes", "1000"), "", 0},
		{"unlimited, 3.19 and later (page-rounded)", limits("m/a/b/memory.limit_in_bytes", "9223372036854771712", "m/a/b/memory.usage_in_bytes", "1000"), "", 0},
		{"own limit", limits("m/a/b/memory.limit_in_bytes", "3000", "m/a/b/memory.usage_in_bytes", "1000"), "/m/a/b/memory.limit_in_bytes", 2000},
		{"ancestor with use_hierarchy 1 counts", limits(
			"m/a/b/memory.limit_in_bytes", "3000", "m/a/b/memory.usage_in_bytes", "1000",
			"m/a/memory.limit_in_bytes", "2500", "m/a/memory.usage_in_bytes", "1500", "m/a/memory.use_hierarchy", "1"),
			"/m/a/memory.limit_in_bytes", 1000},
		{"ancestor with use_hierarchy 0 (EL6 default) does not cover its children", limits(
			"m/a/b/memory.limit_in_bytes", "3000", "m/a/b/memory.usage_in_bytes", "1000", "m/a/b/memory.use_hierarchy", "0",
			"m/a/memory.limit_in_bytes", "2500", "m/a/memory.usage_in_bytes", "1500", "m/a/memory.use_hierarchy", "0"),
			"/m/a/b/memory.limit_in_bytes", 2000},
		{"a limit without its usage is skipped", limits("m/a/b/memory.limit_in_bytes", "3000"), "", 0},
		{"garbage is skipped", limits("m/a/b/memory.limit_in_bytes", "-1", "m/a/b/memory.usage_in_bytes", "1"), "", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, ok := tightestMemory(c.fs, h)
			assert.Equal(t, c.file != "", ok)
			assert.Equal(t, c.file, m.file)
			assert.Equal(t, c.avail, m.available())
		})
	}
}

func TestTightestQuota(t *testing.T) {
	v1 := []hierarchy{{version: 1, mount: "/c", dir: "/c/z"}}
	v2 := []hierarchy{{version: 2, mount: "/u", dir: "/u/z"}}
	cases := []struct {
		name string
		hs   []hierarchy
		fs   fstest.MapFS
		cpus float64
		file string
	}{
		{"v1", v1, fstest.MapFS{"c/z/cpu.cfs_quota_us": file("50000\n"), "c/z/cpu.cfs_period_us": file("100000\n")}, 0.5, "/c/z/cpu.cfs_quota_us"},
		{"v1 -1 is none", v1, fstest.MapFS{"c/z/cpu.cfs_quota_us": file("-1\n"), "c/z/cpu.cfs_period_us": file("100000\n")}, 0, ""},
		{"v1 without period", v1, fstest.MapFS{"c/z/cpu.cfs_quota_us": file("50000\n")}, 0, ""},
		{"v2 max is none", v2, fstest.MapFS{"u/z/cpu.max": file("max 100000\n")}, 0, ""},
		{"v2 zero period", v2, fstest.MapFS{"u/z/cpu.max": file("5 0\n")}, 0, ""},
		{"v2 NaN", v2, fstest.MapFS{"u/z/cpu.max": file("NaN 100000\n")}, 0, ""},
		{"v2 Inf", v2, fstest.MapFS{"u/z/cpu.max": file("Inf 100000\n")}, 0, ""},
		{"tightest of both", append(v1, v2...), fstest.MapFS{
			"c/z/cpu.cfs_quota_us": file("250000\n"), "c/z/cpu.cfs_period_us": file("100000\n"),
			"u/cpu.max": file("120000 100000\n"),
		}, 1.2, "/u/cpu.max"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, ok := tightestQuota(c.fs, c.hs)
			assert.Equal(t, c.file != "", ok)
			assert.InDelta(t, c.cpus, q.cpus, 1e-9)
			assert.Equal(t, c.file, q.file)
		})
	}
}

// FuzzParse feeds arbitrary mountinfo and /proc/self/cgroup files, and one
// value written to every limit file of every cgroup they name, through the
// whole recommendation: it never panics, every cgroup found lies under its
// mount point, every /proc/self/cgroup entry prints back as a line of its
// input, and the answer is at least 1.
func FuzzParse(f *testing.F) {
	for _, root := range []string{"el6-cgconfig", "el6-nocgroups", "el7-systemd", "v2-host", "v2-nolimits", "v2-container"} {
		mi, err := os.ReadFile(filepath.Join("testdata", root, "proc/self/mountinfo"))
		require.NoError(f, err)
		cg, err := os.ReadFile(filepath.Join("testdata", root, "proc/self/cgroup"))
		require.NoError(f, err)
		f.Add(string(mi), string(cg), "150000 100000")
		f.Add(string(mi), string(cg), "3221225472")
	}
	f.Add("1 1 0:1 /a /b rw - cgroup cgroup rw,cpu\n", "1:cpu:/a/../../x\n", "max")
	f.Add(`1 1 0:1 / /\040x rw - cgroup2 c rw`+"\n", "0::/..\n", "-1")
	f.Add("1 1 0:1 / /u rw - cgroup2 c rw\n", "0::/a\r\n0::/b", "1\r")
	f.Fuzz(func(t *testing.T, mountinfo, cgroup, value string) {
		fsys := fstest.MapFS{
			"proc/self/mountinfo":           file(mountinfo),
			"proc/self/cgroup":              file(cgroup),
			"proc/meminfo":                  file("MemAvailable: " + value + " kB\n"),
			"sys/devices/system/cpu/online": file(value),
		}
		lines := strings.Split(cgroup, "\n")
		for _, p := range parseProcCgroup([]byte(cgroup)) {
			line := p.ID + ":" + strings.Join(p.Controllers, ",") + ":" + p.Path
			assert.Contains(t, lines, line)
		}
		cg := readCgroups(fsys)
		for _, c := range []string{"cpu", "memory"} {
			hs, _ := cg.hierarchies(c)
			for _, h := range hs {
				assert.True(t, h.dir == h.mount || h.mount == "/" || strings.HasPrefix(h.dir, h.mount+"/"), "%s outside %s", h.dir, h.mount)
				dirs := h.dirs()
				assert.Equal(t, h.mount, dirs[len(dirs)-1])
				for _, d := range dirs {
					for _, name := range []string{"cpu.max", "cpu.cfs_quota_us", "cpu.cfs_period_us", "memory.max", "memory.current", "memory.limit_in_bytes", "memory.usage_in_bytes"} {
						fsys[fsPath(path.Join(d, name))] = file(value)
					}
				}
			}
		}
		r := Recommend(System{FS: fsys}, 1, 0)
		assert.GreaterOrEqual(t, r.Zopes, 1)
		assert.GreaterOrEqual(t, r.Usable, 1)
		if r.Quota > 0 {
			assert.True(t, strings.HasPrefix(r.QuotaFrom, "/"), r.QuotaFrom)
		}
	})
}
