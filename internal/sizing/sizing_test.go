package sizing

import (
	"runtime"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func TestRecommend(t *testing.T) {
	gib := uint64(1 << 30)
	meminfo := func(gb int) *fstest.MapFile {
		return file("MemTotal: 99999999 kB\nMemAvailable: " + itoa(gb*1024*1024) + " kB\n")
	}
	cases := []struct {
		name     string
		fs       fstest.MapFS
		affinity int
		perCPU   float64
		want     int
		term     string
	}{
		{"plain 4 cpus", fstest.MapFS{"sys/devices/system/cpu/online": file("0-3\n"), "proc/meminfo": meminfo(64)}, 4, 1, 4, "online CPUs 4"},
		{"affinity 2 of 8", fstest.MapFS{"sys/devices/system/cpu/online": file("0-7\n"), "proc/meminfo": meminfo(64)}, 2, 1, 2, "affinity mask 2"},
		{"cgroup v2 quota 1.5 rounds up", fstest.MapFS{
			"sys/devices/system/cpu/online":                     file("0-7\n"),
			"proc/self/cgroup":                                  file("0::/system.slice/zenoss.service\n"),
			"sys/fs/cgroup/system.slice/zenoss.service/cpu.max": file("150000 100000\n"),
			"proc/meminfo":                                      meminfo(64),
		}, 8, 1, 2, "cgroup CPU quota 1.50"},
		{"cgroup v2 parent limit wins", fstest.MapFS{
			"sys/devices/system/cpu/online": file("0-7\n"),
			"proc/self/cgroup":              file("0::/a/b\n"),
			"sys/fs/cgroup/a/b/cpu.max":     file("max 100000\n"),
			"sys/fs/cgroup/a/cpu.max":       file("300000 100000\n"),
			"proc/meminfo":                  meminfo(64),
		}, 8, 1, 3, "/sys/fs/cgroup/a/cpu.max"},
		{"cgroup v1 quota", fstest.MapFS{
			"sys/devices/system/cpu/online":                          file("0-15\n"),
			"proc/self/cgroup":                                       file("4:cpu,cpuacct:/docker/abc\n3:memory:/docker/abc\n"),
			"sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us":  file("200000\n"),
			"sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us": file("100000\n"),
			"proc/meminfo": meminfo(64),
		}, 16, 1, 2, "cpu.cfs_quota_us"},
		{"v1 unlimited quota", fstest.MapFS{
			"sys/devices/system/cpu/online":               file("0-3\n"),
			"proc/self/cgroup":                            file("4:cpu,cpuacct:/\n"),
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":  file("-1\n"),
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": file("100000\n"),
			"proc/meminfo":                                meminfo(64),
		}, 4, 1, 4, "quota none"},
		{"SMT factor", fstest.MapFS{"sys/devices/system/cpu/online": file("0-3\n"), "proc/meminfo": meminfo(64)}, 4, 1.5, 6, "per-cpu 1.5"},
		{"memory caps", fstest.MapFS{"sys/devices/system/cpu/online": file("0-15\n"), "proc/meminfo": meminfo(3)}, 16, 1, 3, "→ 3"},
		{"memory below one still gives 1", fstest.MapFS{"sys/devices/system/cpu/online": file("0-3\n"), "proc/meminfo": file("MemAvailable: 1024 kB\n")}, 4, 1, 1, "ZOPES=1"},
		{"cgroup memory limit", fstest.MapFS{
			"sys/devices/system/cpu/online":    file("0-7\n"),
			"proc/self/cgroup":                 file("0::/zen\n"),
			"sys/fs/cgroup/zen/memory.max":     file(itoa(5*int(gib)) + "\n"),
			"sys/fs/cgroup/zen/memory.current": file(itoa(int(gib)) + "\n"),
			"proc/meminfo":                     meminfo(64),
		}, 8, 1, 4, "memory.max"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			aff := c.affinity
			r := Recommend(System{FS: c.fs, Affinity: func() (int, error) { return aff, nil }}, c.perCPU, gib)
			assert.Equal(t, c.want, r.Zopes, "%v", r.Terms)
			assert.Contains(t, joined(r.Terms), c.term)
		})
	}
}

func TestParseCPUList(t *testing.T) {
	for in, want := range map[string]int{"0": 1, "0-3": 4, "0-3,6,8-9": 7} {
		n, ok := ParseCPUList(in)
		assert.True(t, ok, in)
		assert.Equal(t, want, n, in)
	}
	for _, bad := range []string{"", "x", "3-1", "-1"} {
		_, ok := ParseCPUList(bad)
		assert.False(t, ok, bad)
	}
}

// On this machine, the host's reading agrees with what Go itself sees: the
// affinity mask has runtime.NumCPU CPUs, memory comes from /proc/meminfo
// (or a cgroup limit), and the answer is the smaller of CPUs and memory.
func TestHostReadsThisMachine(t *testing.T) {
	r := Recommend(Host(), 1, 0)
	assert.Equal(t, runtime.NumCPU(), r.Affinity)
	assert.GreaterOrEqual(t, r.Online, r.Affinity)
	require.NotZero(t, r.MemAvail)
	assert.NotEmpty(t, r.MemFrom)
	assert.Equal(t, min(r.Usable, r.MemCap), r.Zopes)
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]uint64{
		"": DefaultZopeMemory, "1GiB": 1 << 30, "1.5G": 3 << 29, "768MiB": 768 << 20, "800M": 800 << 20,
		"2GB": 2e9, "100MB": 1e8, "67108864": 64 << 20, "65536K": 64 << 20,
	} {
		got, err := ParseSize(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"x", "-1GiB", "0", "NaN", "NaNGiB", "Inf", "+InfMiB", "1KiB", "63MiB", "2e9GiB"} {
		_, err := ParseSize(bad)
		assert.Error(t, err, bad)
	}
}

func joined(s []string) string {
	out := ""
	for _, x := range s {
		out += x + "\n"
	}
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for n > 0 {
		s = string(rune('0'+n%10)) + s
		n /= 10
	}
	return s
}
