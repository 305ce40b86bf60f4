// Package sizing recommends how many Zope instances a machine can run: one
// per usable CPU (the smallest of the CPU affinity mask, the cgroup CPU quota
// and the online CPUs), times a factor for SMT, capped by available memory
// (MemAvailable, or what the cgroup memory limit leaves when that is less).
//
// cgroups are found where they are mounted (/proc/self/mountinfo): v1
// controllers at /cgroup/<controller> (EL6, libcgroup's cgconfig) or under
// /sys/fs/cgroup (EL7, systemd), the v2 unified hierarchy at /sys/fs/cgroup.
//
// Every input is read through a System, so tests feed fake /proc, /sys and
// cgroup trees; Host() reads the real ones.
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
	FS       fs.FS               // the machine's root ("/"): proc/..., sys/..., cgroup mounts
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

// HostAt is Host with every file read below root instead of "/": a fake
// machine for tests (ZENPATCH_SYSROOT in the README). The affinity mask then
// comes from root's proc/self/status (Cpus_allowed_list), not from this
// process. An empty root or "/" is Host().
func HostAt(root string) System {
	if root == "" || path.Clean(root) == "/" {
		return Host()
	}
	fsys := os.DirFS(root)
	return System{FS: fsys, Affinity: func() (int, error) { return statusAffinity(fsys) }}
}

// statusAffinity counts Cpus_allowed_list in proc/self/status.
func statusAffinity(fsys fs.FS) (int, error) {
	data, err := fs.ReadFile(fsys, "proc/self/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "Cpus_allowed_list:"); ok {
			if n, ok := ParseCPUList(strings.TrimSpace(v)); ok {
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("/proc/self/status: no Cpus_allowed_list")
}

// Recommendation is the result with each term of the reasoning. Paths are
// absolute, as on the machine sized.
type Recommendation struct {
	Online       int      `json:"online_cpus"`
	Affinity     int      `json:"affinity_cpus"`        // 0: unknown
	Quota        float64  `json:"cgroup_quota_cpus"`    // 0: no quota
	QuotaFrom    string   `json:"cgroup_quota_source"`  // file it came from: cpu.max or cpu.cfs_quota_us
	QuotaVersion int      `json:"cgroup_quota_version"` // cgroup v1 or v2; 0: no quota
	Usable       int      `json:"usable_cpus"`          // min of the above, quota rounded up
	PerCPU       float64  `json:"per_cpu"`              // SMT factor
	MemAvail     uint64   `json:"memory_available"`     // bytes, the smaller of MemInfo and the cgroup's; 0: unknown or none left
	MemFrom      string   `json:"memory_source"`        // "/proc/meminfo MemAvailable" or "<limit file> − <usage file>"
	MemInfo      uint64   `json:"meminfo_available"`    // bytes from /proc/meminfo; 0: unknown
	MemLimit     uint64   `json:"cgroup_memory_limit"`  // bytes, the tightest cgroup limit; 0: none
	MemUsage     uint64   `json:"cgroup_memory_usage"`  // bytes used in that cgroup
	MemLimitFrom string   `json:"cgroup_memory_source"` // its file: memory.max or memory.limit_in_bytes
	MemVersion   int      `json:"cgroup_memory_version"`
	ZopeMemory   uint64   `json:"zope_memory"`       // bytes per instance
	MemCap       int      `json:"memory_allows"`     // instances memory allows; 0: no cap known
	Zopes        int      `json:"recommended_zopes"` // the answer, at least 1
	Terms        []string `json:"reasoning"`         // one line per term, for status
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
	cg := readCgroups(sys.FS)
	cpuHs, cpuNotes := cg.hierarchies("cpu")
	if q, ok := tightestQuota(sys.FS, cpuHs); ok {
		r.Quota, r.QuotaFrom, r.QuotaVersion = q.cpus, q.file, q.version
		up := int(math.Ceil(q.cpus - 1e-9))
		r.Terms = append(r.Terms, fmt.Sprintf("cgroup CPU quota %.2f (%s, cgroup v%d) → %d, rounded up", q.cpus, q.file, q.version, up))
		r.Usable = min(r.Usable, up)
	} else {
		switch where, mounted, unknown := looked(cg, "cpu", cpuHs, cpuNotes); {
		case unknown:
			r.Terms = append(r.Terms, "cgroup CPU quota unknown: "+where)
		case mounted:
			r.Terms = append(r.Terms, "cgroup CPU quota none"+where)
		default:
			r.Terms = append(r.Terms, "cgroup CPU quota none: "+where)
		}
	}
	r.Usable = max(r.Usable, 1)
	want := max(1, int(math.Round(float64(r.Usable)*perCPU)))
	r.Terms = append(r.Terms, fmt.Sprintf("usable CPUs %d × per-cpu %g → %d", r.Usable, perCPU, want))

	mi, miLabel := memInfo(sys.FS)
	r.MemInfo = mi
	memHs, memNotes := cg.hierarchies("memory")
	ml, limited := tightestMemory(sys.FS, memHs)
	var why string
	switch {
	case limited && (mi == 0 || ml.available() < mi):
		r.MemAvail = ml.available()
		r.MemFrom = ml.file + " − " + path.Base(ml.usageFile)
		why = limitText(ml)
		if mi > 0 {
			why += fmt.Sprintf("; %s %s", miLabel, human(mi))
		}
	case mi > 0:
		r.MemAvail, r.MemFrom = mi, "/proc/meminfo "+miLabel
		why = r.MemFrom
		if limited {
			why += fmt.Sprintf("; cgroup limit leaves %s: %s", human(ml.available()), limitText(ml))
		} else {
			switch where, mounted, unknown := looked(cg, "memory", memHs, memNotes); {
			case unknown:
				why += "; cgroup memory limit unknown: " + where
			case mounted:
				why += "; no cgroup memory limit" + where
			default:
				why += "; " + where
			}
		}
	}
	if limited {
		r.MemLimit, r.MemUsage, r.MemLimitFrom, r.MemVersion = ml.limit, ml.usage, ml.file, ml.version
	}
	if limited || mi > 0 {
		r.MemCap = max(1, int(r.MemAvail/zopeMemory))
		r.Terms = append(r.Terms, fmt.Sprintf("memory %s available (%s) ÷ %s per Zope → %d", human(r.MemAvail), why, human(zopeMemory), r.MemCap))
		want = min(want, r.MemCap)
	} else {
		r.Terms = append(r.Terms, "memory available unknown: no cap")
	}
	r.Zopes = max(1, want)
	r.Terms = append(r.Terms, fmt.Sprintf("→ ZOPES=%d", r.Zopes))
	return r
}

// limitText is "FILE LIMIT − USAGEFILE USAGE, cgroup vN".
func limitText(m memLimit) string {
	return fmt.Sprintf("%s %s − %s %s, cgroup v%d", m.file, human(m.limit), path.Base(m.usageFile), human(m.usage), m.version)
}

// looked says where the limits of controller were looked for, for the
// reasoning when none was found: " in" the cgroups searched (mounted), the
// controller is not mounted, or why the cgroup files could not be read
// (unknown).
func looked(cg cgroups, controller string, hs []hierarchy, notes []string) (where string, mounted, unknown bool) {
	if cg.err != nil {
		return cg.err.Error(), false, true
	}
	if len(hs) == 0 && len(notes) == 0 {
		return fmt.Sprintf("no cgroup %s controller mounted", controller), false, false
	}
	var w []string
	for _, h := range hs {
		w = append(w, h.String())
	}
	if len(w) > 0 {
		where = " in " + strings.Join(w, " and ")
	}
	if len(notes) > 0 {
		sep := ", "
		if where == "" {
			sep = ": "
		}
		where += sep + strings.Join(notes, ", ")
	}
	return where, true, false
}

func human(b uint64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(b)/(1<<30))
	default:
		return fmt.Sprintf("%d MiB", b>>20)
	}
}

// memInfo is MemAvailable from /proc/meminfo in bytes, with its label. A
// kernel without it (before 3.14; EL6 before 6.6) gets MemFree + Buffers +
// Cached, the estimate free(1) made then. 0: unknown.
func memInfo(fsys fs.FS) (uint64, string) {
	if fsys == nil {
		return 0, ""
	}
	data, err := fs.ReadFile(fsys, "proc/meminfo")
	if err != nil {
		return 0, ""
	}
	kb := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 {
			if n, err := strconv.ParseUint(f[1], 10, 64); err == nil && n < 1<<53 {
				kb[strings.TrimSuffix(f[0], ":")] = n
			}
		}
	}
	if n, ok := kb["MemAvailable"]; ok {
		return n * 1024, "MemAvailable"
	}
	free, ok := kb["MemFree"]
	if !ok {
		return 0, ""
	}
	return (free + kb["Buffers"] + kb["Cached"]) * 1024, "MemFree+Buffers+Cached"
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
