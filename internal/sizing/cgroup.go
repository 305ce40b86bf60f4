package sizing

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/sys/mountinfo"
)

// v1Unlimited is the smallest cgroup v1 memory.limit_in_bytes read as "no
// limit". An unlimited v1 cgroup reports LLONG_MAX (9223372036854775807,
// kernels before 3.19: EL6 and EL7) or LLONG_MAX rounded down to the page
// size (9223372036854771712 with 4 KiB pages, later kernels); no real limit
// comes near 4 EiB.
const v1Unlimited = 1 << 62

// cgroups is what /proc/self/mountinfo and /proc/self/cgroup say about this
// process's cgroups.
type cgroups struct {
	mounts []*mountinfo.Info // fstype cgroup (v1) and cgroup2 only
	procs  []procCgroup
	err    error // why neither file could be used; nil when both were read
}

// procCgroup is one line of /proc/self/cgroup: "ID:controllers:path".
type procCgroup struct {
	ID          string
	Controllers []string // v1: "cpu", "cpuacct", "name=systemd", ...; v2: none
	Path        string   // the cgroup, absolute within its hierarchy
}

// hierarchy is one cgroup hierarchy this process is in, where it is
// mounted.
type hierarchy struct {
	version int    // 1 or 2
	mount   string // mount point, absolute as on the host: /cgroup/cpu
	dir     string // this process's cgroup under it: /cgroup/cpu/zenoss
}

// cpuQuota is a CPU quota found in a cgroup file.
type cpuQuota struct {
	cpus    float64 // quota ÷ period
	file    string  // cpu.max or cpu.cfs_quota_us, absolute
	version int
}

// memLimit is a memory limit found in a cgroup file, with the usage it is
// compared to.
type memLimit struct {
	limit, usage uint64 // bytes
	file         string // memory.max or memory.limit_in_bytes, absolute
	usageFile    string // memory.current or memory.usage_in_bytes, absolute
	version      int
}

// available is what the limit leaves: limit − usage, 0 at or over it.
func (m memLimit) available() uint64 {
	if m.usage >= m.limit {
		return 0
	}
	return m.limit - m.usage
}

// readCgroups reads and parses /proc/self/mountinfo and /proc/self/cgroup.
func readCgroups(fsys fs.FS) cgroups {
	var c cgroups
	if fsys == nil {
		c.err = errors.New("no file system")
		return c
	}
	mi, err := fs.ReadFile(fsys, "proc/self/mountinfo")
	if err != nil {
		c.err = fmt.Errorf("/proc/self/mountinfo: %w", pathErr(err))
		return c
	}
	c.mounts, err = parseCgroupMounts(mi)
	if err != nil {
		c.err = fmt.Errorf("/proc/self/mountinfo: %w", err)
		return c
	}
	pc, err := fs.ReadFile(fsys, "proc/self/cgroup")
	if err != nil {
		c.err = fmt.Errorf("/proc/self/cgroup: %w", pathErr(err))
		return c
	}
	c.procs = parseProcCgroup(pc)
	return c
}

// pathErr drops the path from a *fs.PathError: the caller names the file
// as it is on the host.
func pathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// parseCgroupMounts returns the cgroup and cgroup2 mounts of a mountinfo
// file (proc(5)), parsed by github.com/moby/sys/mountinfo.
func parseCgroupMounts(data []byte) ([]*mountinfo.Info, error) {
	return mountinfo.GetMountsFromReader(bytes.NewReader(data), func(m *mountinfo.Info) (skip, stop bool) {
		return m.FSType != "cgroup" && m.FSType != "cgroup2", false
	})
}

// parseProcCgroup reads /proc/self/cgroup (cgroups(7)). A line that is not
// "ID:controllers:/path" is skipped: the kernel writes none, and one odd line
// must not hide the others.
func parseProcCgroup(data []byte) []procCgroup {
	var out []procCgroup
	for _, line := range strings.Split(string(data), "\n") {
		id, rest, ok1 := strings.Cut(line, ":")
		ctrls, p, ok2 := strings.Cut(rest, ":")
		if !ok1 || !ok2 || !strings.HasPrefix(p, "/") {
			continue
		}
		if _, err := strconv.ParseUint(id, 10, 32); err != nil {
			continue
		}
		pc := procCgroup{ID: id, Path: p}
		if ctrls != "" {
			pc.Controllers = strings.Split(ctrls, ",")
		}
		out = append(out, pc)
	}
	return out
}

// hierarchies returns where the limits of controller ("cpu" or "memory")
// can be for this process: the v1 hierarchy the controller is attached to
// and the v2 unified hierarchy, each where it is mounted, with this
// process's cgroup mapped through the mount's root. notes say why a
// hierarchy this process is in could not be used.
func (c cgroups) hierarchies(controller string) (hs []hierarchy, notes []string) {
	for _, p := range c.procs {
		version := 0
		switch {
		case p.ID == "0" && len(p.Controllers) == 0:
			version = 2
		case slices.Contains(p.Controllers, controller):
			version = 1
		default:
			continue
		}
		var best *mountinfo.Info
		bestRel, outside := "", ""
		for _, m := range c.mounts {
			if !serves(m, version, controller) || !strings.HasPrefix(m.Mountpoint, "/") {
				continue
			}
			rel, ok := within(m.Root, p.Path)
			if !ok {
				outside = fmt.Sprintf("this process's cgroup %s is outside %s (mount root %s)", p.Path, m.Mountpoint, m.Root)
				continue
			}
			// The mount showing most of the tree shows most ancestors; on
			// a tie the later mount, which hides an earlier one on the
			// same point.
			if best == nil || len(path.Clean(m.Root)) <= len(path.Clean(best.Root)) {
				best, bestRel = m, rel
			}
		}
		switch {
		case best != nil:
			mount := path.Clean(best.Mountpoint)
			hs = append(hs, hierarchy{version: version, mount: mount, dir: path.Join(mount, bestRel)})
		case outside != "":
			notes = append(notes, outside)
		}
	}
	return hs, notes
}

// serves says whether mount m is a mount of the v1 hierarchy holding
// controller (named in its super options) or of the v2 hierarchy.
func serves(m *mountinfo.Info, version int, controller string) bool {
	if version == 2 {
		return m.FSType == "cgroup2"
	}
	return m.FSType == "cgroup" && slices.Contains(strings.Split(m.VFSOptions, ","), controller)
}

// within maps a cgroup path from /proc/self/cgroup into a mount whose root
// (mountinfo field 4) is root: the path below the mount point, or false
// when the cgroup is not under the mount's root (a container sees only its
// own part of the tree).
func within(root, cg string) (string, bool) {
	if !strings.HasPrefix(root, "/") || !strings.HasPrefix(cg, "/") || hasDotDot(root) || hasDotDot(cg) {
		return "", false
	}
	root, cg = path.Clean(root), path.Clean(cg)
	switch {
	case root == "/":
		return cg, true
	case cg == root:
		return "/", true
	case strings.HasPrefix(cg, root+"/"):
		return cg[len(root):], true
	}
	return "", false
}

// hasDotDot: a cgroup namespace shows cgroups outside it as "/../x";
// cleaning such a path would wrongly put it inside.
func hasDotDot(p string) bool {
	return slices.Contains(strings.Split(p, "/"), "..")
}

// dirs lists h.dir and each parent up to the mount point, innermost first.
func (h hierarchy) dirs() []string {
	out := []string{h.dir}
	for d := h.dir; d != h.mount && d != "/" && d != "."; {
		d = path.Dir(d)
		out = append(out, d)
	}
	return out
}

// String says where h was looked in, for the reasoning: "/cgroup/cpu/zenoss
// up to /cgroup/cpu (cgroup v1)".
func (h hierarchy) String() string {
	if h.dir == h.mount {
		return fmt.Sprintf("%s (cgroup v%d)", h.dir, h.version)
	}
	return fmt.Sprintf("%s up to %s (cgroup v%d)", h.dir, h.mount, h.version)
}

// tightestQuota is the smallest CPU quota over the hierarchies' cgroups and
// their ancestors: v2 cpu.max ("max" = none), v1 cpu.cfs_quota_us ÷
// cpu.cfs_period_us (-1 = none). The scheduler enforces every ancestor's
// quota, so the smallest binds.
func tightestQuota(fsys fs.FS, hs []hierarchy) (cpuQuota, bool) {
	var best cpuQuota
	found := false
	consider := func(q cpuQuota) {
		if q.cpus > 0 && !math.IsInf(q.cpus, 0) && (!found || q.cpus < best.cpus) {
			best, found = q, true
		}
	}
	for _, h := range hs {
		for _, d := range h.dirs() {
			if h.version == 2 {
				f := path.Join(d, "cpu.max")
				fields := strings.Fields(readString(fsys, f))
				if len(fields) != 2 || fields[0] == "max" {
					continue
				}
				q, e1 := strconv.ParseFloat(fields[0], 64)
				p, e2 := strconv.ParseFloat(fields[1], 64)
				if e1 == nil && e2 == nil && p > 0 {
					consider(cpuQuota{cpus: q / p, file: f, version: 2})
				}
				continue
			}
			qf := path.Join(d, "cpu.cfs_quota_us")
			q, e1 := strconv.ParseFloat(readString(fsys, qf), 64)
			p, e2 := strconv.ParseFloat(readString(fsys, path.Join(d, "cpu.cfs_period_us")), 64)
			if e1 == nil && e2 == nil && p > 0 {
				consider(cpuQuota{cpus: q / p, file: qf, version: 1})
			}
		}
	}
	return best, found
}

// tightestMemory is the memory limit over the hierarchies' cgroups and their
// ancestors that leaves the least: v2 memory.max − memory.current ("max" =
// none), v1 memory.limit_in_bytes − memory.usage_in_bytes (v1Unlimited and
// above = none). A v1 ancestor counts only with memory.use_hierarchy on
// (off by default on EL6): without it its limit does not cover its
// children.
func tightestMemory(fsys fs.FS, hs []hierarchy) (memLimit, bool) {
	var best memLimit
	found := false
	for _, h := range hs {
		for i, d := range h.dirs() {
			var m memLimit
			if h.version == 2 {
				m = memLimit{file: path.Join(d, "memory.max"), usageFile: path.Join(d, "memory.current"), version: 2}
			} else {
				if i > 0 && readString(fsys, path.Join(d, "memory.use_hierarchy")) == "0" {
					continue
				}
				m = memLimit{file: path.Join(d, "memory.limit_in_bytes"), usageFile: path.Join(d, "memory.usage_in_bytes"), version: 1}
			}
			lim, e1 := strconv.ParseUint(readString(fsys, m.file), 10, 64)
			use, e2 := strconv.ParseUint(readString(fsys, m.usageFile), 10, 64)
			if e1 != nil || e2 != nil || (h.version == 1 && lim >= v1Unlimited) {
				continue
			}
			m.limit, m.usage = lim, use
			if !found || m.available() < best.available() {
				best, found = m, true
			}
		}
	}
	return best, found
}

// readString reads the file at the absolute host path p, trimmed; "" when
// it cannot be read.
func readString(fsys fs.FS, p string) string {
	b, err := fs.ReadFile(fsys, fsPath(p))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// fsPath turns an absolute host path into an fs.FS path under "/".
func fsPath(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}
