// Package sizing recommends how many Zope instances a machine can run: one
// per usable CPU (the smallest of the CPU affinity mask, the cgroup CPU quota
// and the online CPUs), times a factor for SMT, capped by available memory.
//
// Every input is read through a System, so tests feed fake /proc and /sys
// trees; Host() reads the real ones.
package sizing

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultZopeMemory is the memory assumed per Zope instance when none is
// given: 1 GiB, a Zenoss 4 Zope with the default 5000-object cache after a
// day of use.
const DefaultZopeMemory = 1 << 30

// System is where the facts come from.
type System struct {
	FS       fs.FS               // the machine's root ("/"): proc/..., sys/...
	Affinity func() (int, error) // CPUs in this process's affinity mask
	NumCPU   func() int          // fallback when sys/devices/system/cpu/online is unreadable
}

// Host returns the running machine's System.
func Host() System {
	return System{
		FS: os.DirFS("/"),
		Affinity: func() (int, error) {
			var set unix.CPUSet
			if err := unix.SchedGetaffinity(0, &set); err != nil {
				return 0, err
			}
			return set.Count(), nil
		},
		NumCPU: runtime.NumCPU,
	}
}

// Recommendation is the result with each term of the reasoning.
type Recommendation struct {
	Online     int      `json:"online_cpus"`
	Affinity   int      `json:"affinity_cpus"`       // 0: unknown
	Quota      float64  `json:"cgroup_quota_cpus"`   // 0: no quota
	QuotaFrom  string   `json:"cgroup_quota_source"` // file it came from
	Usable     int      `json:"usable_cpus"`         // min of the above, quota rounded up
	PerCPU     float64  `json:"per_cpu"`             // SMT factor
	MemAvail   uint64   `json:"memory_available"`    // bytes; 0: unknown
	MemFrom    string   `json:"memory_source"`       // meminfo or cgroup file
	ZopeMemory uint64   `json:"zope_memory"`         // bytes per instance
	MemCap     int      `json:"memory_allows"`       // instances memory allows; 0: no cap known
	Zopes      int      `json:"recommended_zopes"`   // the answer, at least 1
	Terms      []string `json:"reasoning"`           // one line per term, for status
}

// Recommend computes the recommendation. perCPU <= 0 means 1; zopeMemory 0
// means DefaultZopeMemory.
func Recommend(sys System, perCPU float64, zopeMemory uint64) Recommendation {
	if perCPU <= 0 {
		perCPU = 1
	}
	if zopeMemory == 0 {
		zopeMemory = DefaultZopeMemory
	}
	r := Recommendation{PerCPU: perCPU, ZopeMemory: zopeMemory}
	r.Online = onlineCPUs(sys)
	r.Usable = r.Online
	r.Terms = append(r.Terms, fmt.Sprintf("online CPUs %d", r.Online))
	if sys.Affinity != nil {
		if n, err := sys.Affinity(); err == nil && n > 0 {
			r.Affinity = n
			r.Terms = append(r.Terms, fmt.Sprintf("affinity mask %d", n))
			r.Usable = min(r.Usable, n)
		}
	}
	if q, from := cgroupQuota(sys.FS); q > 0 {
		r.Quota, r.QuotaFrom = q, from
		up := int(math.Ceil(q - 1e-9))
		r.Terms = append(r.Terms, fmt.Sprintf("cgroup CPU quota %.2f (%s) → %d, rounded up: a part CPU still serves a Zope", q, from, up))
		r.Usable = min(r.Usable, up)
	} else {
		r.Terms = append(r.Terms, "cgroup CPU quota none")
	}
	r.Usable = max(r.Usable, 1)
	want := max(1, int(math.Round(float64(r.Usable)*perCPU)))
	r.Terms = append(r.Terms, fmt.Sprintf("usable CPUs %d × per-cpu %g → %d", r.Usable, perCPU, want))
	r.MemAvail, r.MemFrom = availableMemory(sys.FS)
	if r.MemAvail > 0 {
		r.MemCap = max(1, int(r.MemAvail/zopeMemory))
		r.Terms = append(r.Terms, fmt.Sprintf("memory %s available (%s) ÷ %s per Zope → %d", human(r.MemAvail), r.MemFrom, human(zopeMemory), r.MemCap))
		want = min(want, r.MemCap)
	} else {
		r.Terms = append(r.Terms, "memory available unknown: no cap")
	}
	r.Zopes = max(1, want)
	r.Terms = append(r.Terms, fmt.Sprintf("→ ZOPES=%d", r.Zopes))
	return r
}

func human(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	default:
		return fmt.Sprintf("%d MiB", b>>20)
	}
}

func onlineCPUs(sys System) int {
	if sys.FS != nil {
		if data, err := fs.ReadFile(sys.FS, "sys/devices/system/cpu/online"); err == nil {
			if n, ok := ParseCPUList(strings.TrimSpace(string(data))); ok && n > 0 {
				return n
			}
		}
	}
	if sys.NumCPU != nil {
		return sys.NumCPU()
	}
	return 1
}

// ParseCPUList counts the CPUs in a Linux CPU list such as "0-3,6,8-9".
func ParseCPUList(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return 0, false
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0, false
			}
		}
		n += b - a + 1
	}
	return n, true
}

// cgroupQuota returns the tightest CPU quota (in CPUs) over this process's
// cgroup and its ancestors, v2 (cpu.max) or v1 (cpu.cfs_quota_us /
// cpu.cfs_period_us), and the file it came from.
func cgroupQuota(fsys fs.FS) (float64, string) {
	if fsys == nil {
		return 0, ""
	}
	data, err := fs.ReadFile(fsys, "proc/self/cgroup")
	if err != nil {
		return 0, ""
	}
	best, from := 0.0, ""
	consider := func(q float64, f string) {
		if q > 0 && (best == 0 || q < best) {
			best, from = q, f
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		ctrls, cg := parts[1], strings.TrimPrefix(parts[2], "/")
		if ctrls == "" { // v2 unified hierarchy
			for _, dir := range ancestors("sys/fs/cgroup", cg) {
				f := path.Join(dir, "cpu.max")
				if b, err := fs.ReadFile(fsys, f); err == nil {
					fields := strings.Fields(string(b))
					if len(fields) == 2 && fields[0] != "max" {
						q, e1 := strconv.ParseFloat(fields[0], 64)
						p, e2 := strconv.ParseFloat(fields[1], 64)
						if e1 == nil && e2 == nil && p > 0 {
							consider(q/p, "/"+f)
						}
					}
				}
			}
			continue
		}
		for _, c := range strings.Split(ctrls, ",") {
			if c != "cpu" {
				continue
			}
			for _, dir := range ancestors(path.Join("sys/fs/cgroup", ctrls), cg) {
				qf, pf := path.Join(dir, "cpu.cfs_quota_us"), path.Join(dir, "cpu.cfs_period_us")
				qb, err1 := fs.ReadFile(fsys, qf)
				pb, err2 := fs.ReadFile(fsys, pf)
				if err1 != nil || err2 != nil {
					continue
				}
				q, e1 := strconv.ParseFloat(strings.TrimSpace(string(qb)), 64)
				p, e2 := strconv.ParseFloat(strings.TrimSpace(string(pb)), 64)
				if e1 == nil && e2 == nil && q > 0 && p > 0 {
					consider(q/p, "/"+qf)
				}
			}
		}
	}
	return best, from
}

// ancestors lists base/cg and each parent up to base itself. Inside a
// container the recorded path may not exist below base; base alone then
// still holds the container's own limits.
func ancestors(base, cg string) []string {
	var out []string
	for cg != "" && cg != "." {
		out = append(out, path.Join(base, cg))
		cg = path.Dir(cg)
		if cg == "/" {
			break
		}
	}
	return append(out, base)
}

// availableMemory is MemAvailable from /proc/meminfo, lowered to the cgroup
// v2 memory.max minus memory.current when that is tighter.
func availableMemory(fsys fs.FS) (uint64, string) {
	if fsys == nil {
		return 0, ""
	}
	var avail uint64
	from := ""
	if data, err := fs.ReadFile(fsys, "proc/meminfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(data))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 2 && f[0] == "MemAvailable:" {
				if kb, err := strconv.ParseUint(f[1], 10, 64); err == nil {
					avail, from = kb*1024, "/proc/meminfo MemAvailable"
				}
			}
		}
	}
	if data, err := fs.ReadFile(fsys, "proc/self/cgroup"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if cg, ok := strings.CutPrefix(line, "0::/"); ok {
				dir := path.Join("sys/fs/cgroup", cg)
				mb, err1 := fs.ReadFile(fsys, path.Join(dir, "memory.max"))
				cb, err2 := fs.ReadFile(fsys, path.Join(dir, "memory.current"))
				if err1 != nil || err2 != nil {
					continue
				}
				lim, e1 := strconv.ParseUint(strings.TrimSpace(string(mb)), 10, 64)
				cur, e2 := strconv.ParseUint(strings.TrimSpace(string(cb)), 10, 64)
				if e1 == nil && e2 == nil && lim > cur && (avail == 0 || lim-cur < avail) {
					avail, from = lim-cur, "/"+path.Join(dir, "memory.max")+" − memory.current"
				}
			}
		}
	}
	return avail, from
}

// ParseSize reads a memory size: 512MiB, 1GiB, 1.5G, 800M, 2GB, or plain
// bytes; "" is DefaultZopeMemory. A Zope needs at least 64 MiB.
func ParseSize(s string) (uint64, error) {
	if s == "" {
		return DefaultZopeMemory, nil
	}
	units := []struct {
		suffix string
		mult   float64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}, {"B", 1}}
	mult := 1.0
	num := s
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			num, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, errors.New("want a size such as 1GiB or 768MiB")
	}
	v := f * mult
	if v < 64<<20 {
		return 0, errors.New("a Zope needs at least 64MiB")
	}
	if v > 1<<50 {
		return 0, errors.New("that is more memory than any machine has")
	}
	return uint64(v), nil
}
