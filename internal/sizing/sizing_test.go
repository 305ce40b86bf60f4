package sizing

import (
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const gib = uint64(1 << 30)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

// meminfo is a /proc/meminfo with MemAvailable of gb GiB.
func meminfo(gb int) *fstest.MapFile {
	return file("MemTotal: 99999999 kB\nMemAvailable: " + strconv.Itoa(gb*1024*1024) + " kB\n")
}

// TestFixtures sizes each fake machine in testdata (see testdata/README.md)
// through HostAt, as `ZENPATCH_SYSROOT=testdata/NAME zenpatch status` does.
func TestFixtures(t *testing.T) {
	cases := []struct {
		root string
		want Recommendation
	}{
		{"el6-cgconfig", Recommendation{
			Online: 8, Affinity: 8,
			Quota: 1.5, QuotaFrom: "/cgroup/cpu/zenoss/cpu.cfs_quota_us", QuotaVersion: 1,
			Usable: 2, PerCPU: 1,
			MemAvail: 2560 << 20, MemFrom: "/cgroup/memory/zenoss/memory.limit_in_bytes − memory.usage_in_bytes",
			MemInfo:  24326348 << 10,
			MemLimit: 3 * gib, MemUsage: 512 << 20, MemLimitFrom: "/cgroup/memory/zenoss/memory.limit_in_bytes", MemVersion: 1,
			ZopeMemory: gib, MemCap: 2, Zopes: 2,
			Terms: []string{
				"online CPUs 8",
				"affinity mask 8",
				"cgroup CPU quota 1.50 (/cgroup/cpu/zenoss/cpu.cfs_quota_us, cgroup v1) → 2, rounded up",
				"usable CPUs 2 × per-cpu 1 → 2",
				"memory 2.5 GiB available (/cgroup/memory/zenoss/memory.limit_in_bytes 3.0 GiB − memory.usage_in_bytes 512 MiB, cgroup v1; MemAvailable 23.2 GiB) ÷ 1.0 GiB per Zope → 2",
				"→ ZOPES=2",
			},
		}},
		{"el6-nocgroups", Recommendation{
			Online: 4, Affinity: 4, Usable: 4, PerCPU: 1,
			MemAvail: 5767168 << 10, MemFrom: "/proc/meminfo MemFree+Buffers+Cached", MemInfo: 5767168 << 10,
			ZopeMemory: gib, MemCap: 5, Zopes: 4,
			Terms: []string{
				"online CPUs 4",
				"affinity mask 4",
				"cgroup CPU quota none: no cgroup cpu controller mounted",
				"usable CPUs 4 × per-cpu 1 → 4",
				"memory 5.5 GiB available (/proc/meminfo MemFree+Buffers+Cached; no cgroup memory controller mounted) ÷ 1.0 GiB per Zope → 5",
				"→ ZOPES=4",
			},
		}},
		{"el7-systemd", Recommendation{
			Online: 4, Affinity: 4,
			Quota: 2, QuotaFrom: "/sys/fs/cgroup/cpu,cpuacct/system.slice/zenoss.service/cpu.cfs_quota_us", QuotaVersion: 1,
			Usable: 2, PerCPU: 1,
			MemAvail: 5 * gib, MemFrom: "/sys/fs/cgroup/memory/system.slice/zenoss.service/memory.limit_in_bytes − memory.usage_in_bytes",
			MemInfo:  6396313 << 10,
			MemLimit: 6 * gib, MemUsage: gib, MemLimitFrom: "/sys/fs/cgroup/memory/system.slice/zenoss.service/memory.limit_in_bytes", MemVersion: 1,
			ZopeMemory: gib, MemCap: 5, Zopes: 2,
			Terms: []string{
				"online CPUs 4",
				"affinity mask 4",
				"cgroup CPU quota 2.00 (/sys/fs/cgroup/cpu,cpuacct/system.slice/zenoss.service/cpu.cfs_quota_us, cgroup v1) → 2, rounded up",
				"usable CPUs 2 × per-cpu 1 → 2",
				"memory 5.0 GiB available (/sys/fs/cgroup/memory/system.slice/zenoss.service/memory.limit_in_bytes 6.0 GiB − memory.usage_in_bytes 1.0 GiB, cgroup v1; MemAvailable 6.1 GiB) ÷ 1.0 GiB per Zope → 5",
				"→ ZOPES=2",
			},
		}},
		{"v2-host", Recommendation{
			Online: 16, Affinity: 16,
			Quota: 3, QuotaFrom: "/sys/fs/cgroup/system.slice/zenoss.service/cpu.max", QuotaVersion: 2,
			Usable: 3, PerCPU: 1,
			MemAvail: 3 * gib, MemFrom: "/sys/fs/cgroup/system.slice/memory.max − memory.current",
			MemInfo:  60817408 << 10,
			MemLimit: 6 * gib, MemUsage: 3 * gib, MemLimitFrom: "/sys/fs/cgroup/system.slice/memory.max", MemVersion: 2,
			ZopeMemory: gib, MemCap: 3, Zopes: 3,
			Terms: []string{
				"online CPUs 16",
				"affinity mask 16",
				"cgroup CPU quota 3.00 (/sys/fs/cgroup/system.slice/zenoss.service/cpu.max, cgroup v2) → 3, rounded up",
				"usable CPUs 3 × per-cpu 1 → 3",
				"memory 3.0 GiB available (/sys/fs/cgroup/system.slice/memory.max 6.0 GiB − memory.current 3.0 GiB, cgroup v2; MemAvailable 58.0 GiB) ÷ 1.0 GiB per Zope → 3",
				"→ ZOPES=3",
			},
		}},
		{"v2-nolimits", Recommendation{
			Online: 4, Affinity: 4, Usable: 4, PerCPU: 1,
			MemAvail: 3584 << 20, MemFrom: "/proc/meminfo MemAvailable", MemInfo: 3584 << 20,
			ZopeMemory: gib, MemCap: 3, Zopes: 3,
			Terms: []string{
				"online CPUs 4",
				"affinity mask 4",
				"cgroup CPU quota none in /sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope up to /sys/fs/cgroup (cgroup v2)",
				"usable CPUs 4 × per-cpu 1 → 4",
				"memory 3.5 GiB available (/proc/meminfo MemAvailable; no cgroup memory limit in /sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope up to /sys/fs/cgroup (cgroup v2)) ÷ 1.0 GiB per Zope → 3",
				"→ ZOPES=3",
			},
		}},
		{"v2-container", Recommendation{
			Online: 8, Affinity: 8,
			Quota: 2.5, QuotaFrom: "/sys/fs/cgroup/cpu.max", QuotaVersion: 2,
			Usable: 3, PerCPU: 1,
			MemAvail: 3 * gib, MemFrom: "/sys/fs/cgroup/memory.max − memory.current",
			MemInfo:  14 * gib,
			MemLimit: 4 * gib, MemUsage: gib, MemLimitFrom: "/sys/fs/cgroup/memory.max", MemVersion: 2,
			ZopeMemory: gib, MemCap: 3, Zopes: 3,
			Terms: []string{
				"online CPUs 8",
				"affinity mask 8",
				"cgroup CPU quota 2.50 (/sys/fs/cgroup/cpu.max, cgroup v2) → 3, rounded up",
				"usable CPUs 3 × per-cpu 1 → 3",
				"memory 3.0 GiB available (/sys/fs/cgroup/memory.max 4.0 GiB − memory.current 1.0 GiB, cgroup v2; MemAvailable 14.0 GiB) ÷ 1.0 GiB per Zope → 3",
				"→ ZOPES=3",
			},
		}},
	}
	for _, c := range cases {
		t.Run(c.root, func(t *testing.T) {
			r := Recommend(HostAt(filepath.Join("testdata", c.root)), 1, 0)
			assert.Equal(t, c.want, r)
		})
	}
}

// TestRecommend covers the terms one at a time on small in-memory trees.
func TestRecommend(t *testing.T) {
	v2 := file("32 22 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n")
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
		{"no mountinfo: cgroups unknown", fstest.MapFS{"sys/devices/system/cpu/online": file("0-3\n"), "proc/meminfo": meminfo(64)}, 4, 1, 4,
			"cgroup CPU quota unknown: /proc/self/mountinfo: file does not exist"},
		{"no mountinfo: memory says so", fstest.MapFS{"sys/devices/system/cpu/online": file("0-3\n"), "proc/meminfo": meminfo(64)}, 4, 1, 4,
			"(/proc/meminfo MemAvailable; cgroup memory limit unknown: /proc/self/mountinfo: file does not exist)"},
		{"cgroup v2 quota 1.5 rounds up", fstest.MapFS{
			"sys/devices/system/cpu/online":                     file("0-7\n"),
			"proc/self/mountinfo":                               v2,
			"proc/self/cgroup":                                  file("0::/system.slice/zenoss.service\n"),
			"sys/fs/cgroup/system.slice/zenoss.service/cpu.max": file("150000 100000\n"),
			"proc/meminfo":                                      meminfo(64),
		}, 8, 1, 2, "cgroup CPU quota 1.50 (/sys/fs/cgroup/system.slice/zenoss.service/cpu.max, cgroup v2) → 2, rounded up"},
		{"cgroup v2 parent limit wins", fstest.MapFS{
			"sys/devices/system/cpu/online": file("0-7\n"),
			"proc/self/mountinfo":           v2,
			"proc/self/cgroup":              file("0::/a/b\n"),
			"sys/fs/cgroup/a/b/cpu.max":     file("max 100000\n"),
			"sys/fs/cgroup/a/cpu.max":       file("300000 100000\n"),
			"proc/meminfo":                  meminfo(64),
		}, 8, 1, 3, "/sys/fs/cgroup/a/cpu.max"},
		{"v1 unlimited quota", fstest.MapFS{
			"sys/devices/system/cpu/online":               file("0-3\n"),
			"proc/self/mountinfo":                         file("28 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw shared:11 - cgroup cgroup rw,cpu,cpuacct\n"),
			"proc/self/cgroup":                            file("4:cpu,cpuacct:/\n"),
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us":  file("-1\n"),
			"sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us": file("100000\n"),
			"proc/meminfo":                                meminfo(64),
		}, 4, 1, 4, "cgroup CPU quota none in /sys/fs/cgroup/cpu,cpuacct (cgroup v1)"},
		{"cgroup outside the mount", fstest.MapFS{
			"sys/devices/system/cpu/online": file("0-3\n"),
			"proc/self/mountinfo":           file("701 695 0:31 /docker/0f3c9a /sys/fs/cgroup/cpu ro - cgroup cgroup rw,cpu\n"),
			"proc/self/cgroup":              file("2:cpu:/docker/other\n"),
			"proc/meminfo":                  meminfo(64),
		}, 4, 1, 4, "cgroup CPU quota none: this process's cgroup /docker/other is outside /sys/fs/cgroup/cpu (mount root /docker/0f3c9a)"},
		{"SMT factor", fstest.MapFS{"sys/devices/system/cpu/online": file("0-3\n"), "proc/meminfo": meminfo(64)}, 4, 1.5, 6, "per-cpu 1.5"},
		{"memory caps", fstest.MapFS{"sys/devices/system/cpu/online": file("0-15\n"), "proc/meminfo": meminfo(3)}, 16, 1, 3, "→ 3"},
		{"memory below one still gives 1", fstest.MapFS{"sys/devices/system/cpu/online": file("0-3\n"), "proc/meminfo": file("MemAvailable: 1024 kB\n")}, 4, 1, 1, "ZOPES=1"},
		{"no meminfo: no cap", fstest.MapFS{"sys/devices/system/cpu/online": file("0-3\n")}, 4, 1, 4, "memory available unknown: no cap"},
		{"cgroup v2 memory limit", fstest.MapFS{
			"sys/devices/system/cpu/online":    file("0-7\n"),
			"proc/self/mountinfo":              v2,
			"proc/self/cgroup":                 file("0::/zen\n"),
			"sys/fs/cgroup/zen/memory.max":     file(strconv.FormatUint(5*gib, 10) + "\n"),
			"sys/fs/cgroup/zen/memory.current": file(strconv.FormatUint(gib, 10) + "\n"),
			"proc/meminfo":                     meminfo(64),
		}, 8, 1, 4, "memory 4.0 GiB available (/sys/fs/cgroup/zen/memory.max 5.0 GiB − memory.current 1.0 GiB, cgroup v2; MemAvailable 64.0 GiB)"},
		{"MemAvailable tighter than the cgroup limit", fstest.MapFS{
			"sys/devices/system/cpu/online":    file("0-7\n"),
			"proc/self/mountinfo":              v2,
			"proc/self/cgroup":                 file("0::/zen\n"),
			"sys/fs/cgroup/zen/memory.max":     file(strconv.FormatUint(9*gib, 10) + "\n"),
			"sys/fs/cgroup/zen/memory.current": file(strconv.FormatUint(gib, 10) + "\n"),
			"proc/meminfo":                     meminfo(2),
		}, 8, 1, 2, "memory 2.0 GiB available (/proc/meminfo MemAvailable; cgroup limit leaves 8.0 GiB: /sys/fs/cgroup/zen/memory.max 9.0 GiB − memory.current 1.0 GiB, cgroup v2)"},
		{"cgroup at its memory limit: one Zope", fstest.MapFS{
			"sys/devices/system/cpu/online":    file("0-7\n"),
			"proc/self/mountinfo":              v2,
			"proc/self/cgroup":                 file("0::/zen\n"),
			"sys/fs/cgroup/zen/memory.max":     file(strconv.FormatUint(2*gib, 10) + "\n"),
			"sys/fs/cgroup/zen/memory.current": file(strconv.FormatUint(2*gib+4096, 10) + "\n"),
			"proc/meminfo":                     meminfo(64),
		}, 8, 1, 1, "memory 0 MiB available (/sys/fs/cgroup/zen/memory.max 2.0 GiB − memory.current 2.0 GiB, cgroup v2; MemAvailable 64.0 GiB) ÷ 1.0 GiB per Zope → 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			aff := c.affinity
			r := Recommend(System{FS: c.fs, Affinity: func() (int, error) { return aff, nil }}, c.perCPU, gib)
			assert.Equal(t, c.want, r.Zopes, "%v", r.Terms)
			assert.Contains(t, strings.Join(r.Terms, "\n"), c.term)
		})
	}
}

func TestMemInfo(t *testing.T) {
	cases := []struct {
		name, data string
		want       uint64
		label      string
	}{
		{"MemAvailable", "MemTotal: 100 kB\nMemFree: 10 kB\nMemAvailable: 50 kB\nCached: 30 kB\n", 50 << 10, "MemAvailable"},
		{"before 3.14: free + buffers + cached", "MemTotal: 100 kB\nMemFree: 10 kB\nBuffers: 5 kB\nCached: 30 kB\n", 45 << 10, "MemFree+Buffers+Cached"},
		{"nothing usable", "MemTotal: 100 kB\n", 0, ""},
		{"garbage", "MemAvailable: lots\n", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			n, label := memInfo(fstest.MapFS{"proc/meminfo": file(c.data)})
			assert.Equal(t, c.want, n)
			assert.Equal(t, c.label, label)
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

func TestHostAt(t *testing.T) {
	sys := HostAt(filepath.Join("testdata", "el7-systemd"))
	n, err := sys.Affinity()
	require.NoError(t, err)
	assert.Equal(t, 4, n, "Cpus_allowed_list 0-3 in the fixture's proc/self/status")

	_, err = HostAt(t.TempDir()).Affinity()
	assert.Error(t, err, "no proc/self/status: affinity unknown")
}

// On this machine, the host's reading agrees with what Go itself sees: the
// affinity mask has runtime.NumCPU CPUs, memory comes from /proc/meminfo
// (or a cgroup limit), and the answer is the smaller of CPUs and memory.
func TestHostReadsThisMachine(t *testing.T) {
	for _, sys := range []System{Host(), HostAt(""), HostAt("/")} {
		r := Recommend(sys, 1, 0)
		assert.Equal(t, runtime.NumCPU(), r.Affinity)
		assert.GreaterOrEqual(t, r.Online, r.Affinity)
		require.NotZero(t, r.MemAvail)
		assert.NotEmpty(t, r.MemFrom)
		assert.Equal(t, min(r.Usable, r.MemCap), r.Zopes)
		assert.NotContains(t, strings.Join(r.Terms, "\n"), "mountinfo", "a Linux host has /proc/self/mountinfo")
	}
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
