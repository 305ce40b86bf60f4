package main

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// release is a kernel version, major.minor.patch.
type release [3]int

// parseRelease reads "2.6.32", "3.10" or "5.14.0"; a vendor suffix
// ("-754.el6.x86_64") is not accepted: the model is of upstream releases.
func parseRelease(s string) (release, error) {
	var r release
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return r, fmt.Errorf("%q: want a release such as 2.6.32 or 3.10", s)
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 || n > 255 {
			return r, fmt.Errorf("%q: want a release such as 2.6.32 or 3.10", s)
		}
		r[i] = n
	}
	return r, nil
}

// mustRelease parses a release of the package's own tables.
func mustRelease(s string) release {
	r, err := parseRelease(s)
	if err != nil {
		panic(err)
	}
	return r
}

func (r release) String() string {
	if r[2] == 0 && r[0] >= 3 {
		return fmt.Sprintf("%d.%d", r[0], r[1])
	}
	return fmt.Sprintf("%d.%d.%d", r[0], r[1], r[2])
}

// before reports whether r is older than o.
func (r release) before(o release) bool {
	return slices.Compare(r[:], o[:]) < 0
}

// model is what running on an older kernel changes for a process.
type model struct {
	kernel release
	// refused: x86_64 calls the kernel does not have (ENOSYS), by number.
	refused []syscallAdded
	// badAdvice: madvise advice values it answers with EINVAL.
	badAdvice []uint64
	// mptcpErrno: what socket(AF_INET[6], _, IPPROTO_MPTCP) gets; 0: allowed.
	mptcpErrno syscall.Errno
	// uname26: report a 2.6 release from uname (the kernel is older than 3.0).
	uname26 bool
}

// newModel describes kernel k.
func newModel(k release) (*model, error) {
	if k.before(mustRelease(oldestModel)) {
		return nil, fmt.Errorf("--kernel %s: the model starts at %s (calls added before it are not listed, and no Go release runs on older kernels)", k, oldestModel)
	}
	m := &model{kernel: k, uname26: k[0] < 3}
	for _, s := range addedAfter2632 {
		if k.before(mustRelease(s.release)) {
			m.refused = append(m.refused, s)
		}
	}
	for _, a := range madviseAdded {
		if k.before(mustRelease(a.release)) {
			m.badAdvice = append(m.badAdvice, a.advice)
		}
	}
	switch {
	case k.before(mustRelease(protoRangeCheck)):
		m.mptcpErrno = unix.EPROTONOSUPPORT
	case k.before(mustRelease(mptcpAdded)):
		m.mptcpErrno = unix.EINVAL
	}
	return m, nil
}

// errnoAction is the seccomp return that fails a call with errno e.
func errnoAction(e syscall.Errno) seccomp.Action {
	return seccomp.Action(uint32(seccomp.ActionErrno) | uint32(e))
}

// placeholder stands for "fail with ENOSYS" while go-seccomp-bpf assembles
// the program: the library only accepts a named action as the policy's
// default, and its ActionErrno carries EPERM. No group uses ActionTrap, so
// every return of it is the default and program() rewrites it.
const placeholder = seccomp.ActionTrap

// policy is the seccomp policy: an allow-list of the calls the kernel had,
// after the argument rules; everything else (newer calls, numbers unknown to
// the table, the x32 and i386 ABIs) fails with ENOSYS.
func (m *model) policy() (*seccomp.Policy, error) {
	refused := make(map[int]bool, len(m.refused))
	for _, s := range m.refused {
		refused[int(s.nr)] = true
	}
	// Every x86_64 call the library knows, old ones and those the kernel
	// already had; newer ones the library lacks are then refused by default,
	// but one the kernel had and the library lacks cannot be modeled.
	known := arch.X86_64.SyscallNumbers
	for _, s := range addedAfter2632 {
		if _, ok := known[int(s.nr)]; !ok && !refused[int(s.nr)] {
			return nil, fmt.Errorf("--kernel %s: go-seccomp-bpf's table lacks %s (%d, %s), so kernels from %s on cannot be modeled", m.kernel, s.name, s.nr, s.release, s.release)
		}
	}
	nrs := make([]int, 0, len(known))
	for nr := range known {
		if !refused[nr] {
			nrs = append(nrs, nr)
		}
	}
	slices.Sort(nrs) // low numbers (read, write, …) are the busiest: test them first
	allow := make([]string, len(nrs))
	for i, nr := range nrs {
		allow[i] = known[nr]
	}

	var groups []seccomp.SyscallGroup
	if len(m.badAdvice) > 0 {
		g := seccomp.SyscallGroup{Action: errnoAction(unix.EINVAL)}
		for _, a := range m.badAdvice {
			g.NamesWithCondtions = append(g.NamesWithCondtions, seccomp.NameWithConditions{
				Name:       "madvise",
				Conditions: seccomp.ArgumentConditions{{Argument: 2, Operation: seccomp.Equal, Value: a}},
			})
		}
		groups = append(groups, g)
	}
	if m.mptcpErrno != 0 {
		g := seccomp.SyscallGroup{Action: errnoAction(m.mptcpErrno)}
		for _, family := range []uint64{afInet, afInet6} {
			g.NamesWithCondtions = append(g.NamesWithCondtions, seccomp.NameWithConditions{
				Name: "socket",
				Conditions: seccomp.ArgumentConditions{
					{Argument: 0, Operation: seccomp.Equal, Value: family},
					{Argument: 2, Operation: seccomp.Equal, Value: ipprotoMPTCP},
				},
			})
		}
		groups = append(groups, g)
	}
	groups = append(groups, seccomp.SyscallGroup{Names: allow, Action: seccomp.ActionAllow})
	return &seccomp.Policy{DefaultAction: placeholder, Syscalls: groups}, nil
}

// program assembles the filter for this model.
func (m *model) program() ([]bpf.Instruction, error) {
	p, err := m.policy()
	if err != nil {
		return nil, err
	}
	insts, err := p.Assemble()
	if err != nil {
		return nil, fmt.Errorf("assemble the seccomp filter: %w", err)
	}
	enosys, n := errnoAction(unix.ENOSYS), 0
	for i, in := range insts {
		if r, ok := in.(bpf.RetConstant); ok && r.Val == uint32(placeholder) {
			insts[i] = bpf.RetConstant{Val: uint32(enosys)}
			n++
		}
	}
	if n == 0 {
		return nil, errors.New("assemble the seccomp filter: no default return found")
	}
	return insts, nil
}

// install makes the calling process run under prog (m.program()) from here on:
// no_new_privs (so an unprivileged user may install a filter, and no
// set-uid program escapes it), the filter on every thread (TSYNC), and the
// UNAME26 personality. Children and exec'd programs inherit all three.
func (m *model) install(prog []bpf.Instruction) error {
	raw, err := bpf.Assemble(prog)
	if err != nil {
		return fmt.Errorf("assemble the seccomp filter: %w", err)
	}
	filter := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		filter[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	if m.uname26 {
		if err := setUname26(); err != nil {
			return err
		}
	}
	if err := seccomp.SetNoNewPrivs(); err != nil {
		return fmt.Errorf("prctl(PR_SET_NO_NEW_PRIVS): %w", err)
	}
	fprog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	_, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog)))
	if e != 0 {
		return fmt.Errorf("seccomp(SECCOMP_SET_MODE_FILTER): %w", e)
	}
	return nil
}

// uname26 is UNAME26 from <linux/personality.h>: uname(2) then reports a
// 2.6 release (2.6.(60+minor) on current kernels, e.g. 2.6.78 on 6.18), so
// code that reads the kernel version (Go's net and os packages do, to pick
// features) takes the old-kernel branch.
const uname26 = 0x0020000

// setUname26 adds UNAME26 to the process's personality.
func setUname26() error {
	cur, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	if e != 0 {
		return fmt.Errorf("personality: %w", e)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_PERSONALITY, cur|uname26, 0, 0); e != 0 {
		return fmt.Errorf("personality(UNAME26): %w", e)
	}
	return nil
}
