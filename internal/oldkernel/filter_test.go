package main

import (
	"bufio"
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// xsysNumbers names every post-2.6.32 entry by its golang.org/x/sys/unix
// constant, so a wrong number in the table fails here.
var xsysNumbers = map[string]int{
	"recvmmsg": unix.SYS_RECVMMSG, "fanotify_init": unix.SYS_FANOTIFY_INIT, "fanotify_mark": unix.SYS_FANOTIFY_MARK,
	"prlimit64": unix.SYS_PRLIMIT64, "name_to_handle_at": unix.SYS_NAME_TO_HANDLE_AT, "open_by_handle_at": unix.SYS_OPEN_BY_HANDLE_AT,
	"clock_adjtime": unix.SYS_CLOCK_ADJTIME, "syncfs": unix.SYS_SYNCFS, "sendmmsg": unix.SYS_SENDMMSG, "setns": unix.SYS_SETNS,
	"getcpu": unix.SYS_GETCPU, "process_vm_readv": unix.SYS_PROCESS_VM_READV, "process_vm_writev": unix.SYS_PROCESS_VM_WRITEV,
	"kcmp": unix.SYS_KCMP, "finit_module": unix.SYS_FINIT_MODULE, "sched_setattr": unix.SYS_SCHED_SETATTR,
	"sched_getattr": unix.SYS_SCHED_GETATTR, "renameat2": unix.SYS_RENAMEAT2, "seccomp": unix.SYS_SECCOMP,
	"getrandom": unix.SYS_GETRANDOM, "memfd_create": unix.SYS_MEMFD_CREATE, "kexec_file_load": unix.SYS_KEXEC_FILE_LOAD,
	"bpf": unix.SYS_BPF, "execveat": unix.SYS_EXECVEAT, "userfaultfd": unix.SYS_USERFAULTFD, "membarrier": unix.SYS_MEMBARRIER,
	"mlock2": unix.SYS_MLOCK2, "copy_file_range": unix.SYS_COPY_FILE_RANGE, "preadv2": unix.SYS_PREADV2, "pwritev2": unix.SYS_PWRITEV2,
	"pkey_mprotect": unix.SYS_PKEY_MPROTECT, "pkey_alloc": unix.SYS_PKEY_ALLOC, "pkey_free": unix.SYS_PKEY_FREE,
	"statx": unix.SYS_STATX, "io_pgetevents": unix.SYS_IO_PGETEVENTS, "rseq": unix.SYS_RSEQ, "uretprobe": unix.SYS_URETPROBE,
	"uprobe": unix.SYS_UPROBE, "pidfd_send_signal": unix.SYS_PIDFD_SEND_SIGNAL, "io_uring_setup": unix.SYS_IO_URING_SETUP,
	"io_uring_enter": unix.SYS_IO_URING_ENTER, "io_uring_register": unix.SYS_IO_URING_REGISTER, "open_tree": unix.SYS_OPEN_TREE,
	"move_mount": unix.SYS_MOVE_MOUNT, "fsopen": unix.SYS_FSOPEN, "fsconfig": unix.SYS_FSCONFIG, "fsmount": unix.SYS_FSMOUNT,
	"fspick": unix.SYS_FSPICK, "pidfd_open": unix.SYS_PIDFD_OPEN, "clone3": unix.SYS_CLONE3, "close_range": unix.SYS_CLOSE_RANGE,
	"openat2": unix.SYS_OPENAT2, "pidfd_getfd": unix.SYS_PIDFD_GETFD, "faccessat2": unix.SYS_FACCESSAT2,
	"process_madvise": unix.SYS_PROCESS_MADVISE, "epoll_pwait2": unix.SYS_EPOLL_PWAIT2, "mount_setattr": unix.SYS_MOUNT_SETATTR,
	"quotactl_fd": unix.SYS_QUOTACTL_FD, "landlock_create_ruleset": unix.SYS_LANDLOCK_CREATE_RULESET,
	"landlock_add_rule": unix.SYS_LANDLOCK_ADD_RULE, "landlock_restrict_self": unix.SYS_LANDLOCK_RESTRICT_SELF,
	"memfd_secret": unix.SYS_MEMFD_SECRET, "process_mrelease": unix.SYS_PROCESS_MRELEASE, "futex_waitv": unix.SYS_FUTEX_WAITV,
	"set_mempolicy_home_node": unix.SYS_SET_MEMPOLICY_HOME_NODE, "cachestat": unix.SYS_CACHESTAT, "fchmodat2": unix.SYS_FCHMODAT2,
	"map_shadow_stack": unix.SYS_MAP_SHADOW_STACK, "futex_wake": unix.SYS_FUTEX_WAKE, "futex_wait": unix.SYS_FUTEX_WAIT,
	"futex_requeue": unix.SYS_FUTEX_REQUEUE, "statmount": unix.SYS_STATMOUNT, "listmount": unix.SYS_LISTMOUNT,
	"lsm_get_self_attr": unix.SYS_LSM_GET_SELF_ATTR, "lsm_set_self_attr": unix.SYS_LSM_SET_SELF_ATTR,
	"lsm_list_modules": unix.SYS_LSM_LIST_MODULES, "mseal": unix.SYS_MSEAL, "setxattrat": unix.SYS_SETXATTRAT,
	"getxattrat": unix.SYS_GETXATTRAT, "listxattrat": unix.SYS_LISTXATTRAT, "removexattrat": unix.SYS_REMOVEXATTRAT,
	"open_tree_attr": unix.SYS_OPEN_TREE_ATTR, "file_getattr": unix.SYS_FILE_GETATTR, "file_setattr": unix.SYS_FILE_SETATTR,
	"listns": unix.SYS_LISTNS, "rseq_slice_yield": unix.SYS_RSEQ_SLICE_YIELD,
}

func TestTableNumbersMatchXSys(t *testing.T) {
	require.Len(t, addedAfter2632, len(xsysNumbers), "one x/sys constant per entry")
	for _, s := range addedAfter2632 {
		nr, ok := xsysNumbers[s.name]
		if assert.True(t, ok, "%s: no x/sys constant listed", s.name) {
			assert.Equal(t, nr, int(s.nr), s.name)
		}
	}
}

// xsysAMD64 reads every SYS_ number golang.org/x/sys/unix knows for
// linux/amd64 from its source, which the build's module cache holds.
func xsysAMD64(t *testing.T) map[int]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys").Output()
	require.NoError(t, err, "go list -m golang.org/x/sys")
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "unix", "zsysnum_linux_amd64.go"))
	require.NoError(t, err)
	nums := map[int]string{}
	for _, m := range regexp.MustCompile(`(?m)^\s*SYS_(\w+)\s*=\s*(\d+)$`).FindAllStringSubmatch(string(src), -1) {
		n, _ := strconv.Atoi(m[2])
		nums[n] = strings.ToLower(m[1])
	}
	require.Greater(t, len(nums), 350, "parsed x/sys's table")
	return nums
}

// TestTableComplete: every x86_64 number x/sys knows past 2.6.32's last
// (298) is in the table, so a new call added to x/sys without a release
// here fails the build's tests rather than silently passing the filter.
func TestTableComplete(t *testing.T) {
	inTable := map[int]bool{}
	for _, s := range addedAfter2632 {
		inTable[int(s.nr)] = true
	}
	for nr, name := range xsysAMD64(t) {
		if nr >= 299 {
			assert.True(t, inTable[nr], "x/sys has %s (%d): add it with the release that introduced it", name, nr)
		}
	}
}

func TestTableWellFormed(t *testing.T) {
	base := mustRelease(oldestModel)
	var last uint32
	names := map[string]bool{}
	for _, s := range addedAfter2632 {
		assert.Greater(t, s.nr, last, "%s: numbers in order, once each", s.name)
		last = s.nr
		assert.False(t, names[s.name], "%s twice", s.name)
		names[s.name] = true
		r, err := parseRelease(s.release)
		if assert.NoError(t, err, s.name) {
			assert.True(t, base.before(r), "%s (%s) is not newer than %s", s.name, s.release, oldestModel)
		}
	}
	for _, a := range madviseAdded {
		r, err := parseRelease(a.release)
		if assert.NoError(t, err, a.name) {
			assert.True(t, base.before(r), a.name)
		}
	}
	assert.Equal(t, unix.MADV_NOHUGEPAGE, 15)
	assert.Equal(t, unix.MADV_FREE, 8)
	assert.Equal(t, unix.MADV_COLLAPSE, 25)
	assert.Equal(t, unix.IPPROTO_MPTCP, ipprotoMPTCP)
	assert.Equal(t, unix.SYS_MADVISE, nrMadvise)
	assert.Equal(t, unix.SYS_SOCKET, nrSocket)
}

// TestLibraryTable: go-seccomp-bpf names each number as the table does,
// and knows every x86_64 call older than 2.6.32's end (the allow-list is
// built from its table, so a call missing there would be refused).
func TestLibraryTable(t *testing.T) {
	lib := arch.X86_64.SyscallNumbers
	for _, s := range addedAfter2632 {
		if name, ok := lib[int(s.nr)]; ok {
			assert.Equal(t, s.name, name, "number %d", s.nr)
		}
	}
	for nr, name := range xsysAMD64(t) {
		if nr < 299 {
			assert.Contains(t, lib, nr, "go-seccomp-bpf lacks %s (%d)", name, nr)
		}
	}
}

func TestParseRelease(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want release
		err  bool
	}{
		{"2.6.32", release{2, 6, 32}, false},
		{"3.10", release{3, 10, 0}, false},
		{"5.14.0", release{5, 14, 0}, false},
		{"2.6", release{2, 6, 0}, false},
		{"2.6.32-754.el6.x86_64", release{}, true},
		{"6", release{}, true},
		{"a.b", release{}, true},
		{"1.2.3.4", release{}, true},
		{"", release{}, true},
	} {
		got, err := parseRelease(tc.in)
		if tc.err {
			assert.Error(t, err, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		assert.Equal(t, tc.want, got, tc.in)
	}
	assert.True(t, release{2, 6, 32}.before(release{2, 6, 33}))
	assert.True(t, release{2, 6, 39}.before(release{3, 0, 0}))
	assert.False(t, release{3, 10, 0}.before(release{3, 2, 0}))
	assert.Equal(t, "2.6.32", release{2, 6, 32}.String())
	assert.Equal(t, "3.10", release{3, 10, 0}.String())
}

// seccompData lays out struct seccomp_data for x/net/bpf's VM. The kernel
// loads 32-bit words in host order; the VM loads them big-endian (network
// order), so each word is written big-endian with the value the kernel
// would see.
func seccompData(auditArch uint32, nr uint32, args ...uint64) []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[0:], nr)
	binary.BigEndian.PutUint32(b[4:], auditArch)
	for i, a := range args {
		off := 16 + 8*i
		binary.BigEndian.PutUint32(b[off:], uint32(a))       // low half first on little-endian x86_64
		binary.BigEndian.PutUint32(b[off+4:], uint32(a>>32)) // then the high half
	}
	return b
}

const (
	allow   = 0x7fff0000 // SECCOMP_RET_ALLOW
	retErr  = 0x00050000 // SECCOMP_RET_ERRNO
	x86_64  = unix.AUDIT_ARCH_X86_64
	i386    = unix.AUDIT_ARCH_I386
	x32Flag = 0x40000000
)

func vmFor(t *testing.T, kernel string) *bpf.VM {
	t.Helper()
	m, err := newModel(mustRelease(kernel))
	require.NoError(t, err)
	prog, err := m.program()
	require.NoError(t, err)
	require.Less(t, len(prog), 4096, "BPF_MAXINSNS")
	vm, err := bpf.NewVM(prog)
	require.NoError(t, err)
	return vm
}

func TestFilterOnVM(t *testing.T) {
	enosys, einval, eproto := retErr|int(unix.ENOSYS), retErr|int(unix.EINVAL), retErr|int(unix.EPROTONOSUPPORT)
	type call struct {
		name string
		arch uint32
		nr   uint32
		args []uint64
	}
	read := call{"read", x86_64, unix.SYS_READ, nil}
	perf := call{"perf_event_open (2.6.31)", x86_64, unix.SYS_PERF_EVENT_OPEN, nil}
	prlimit := call{"prlimit64 (2.6.36)", x86_64, unix.SYS_PRLIMIT64, nil}
	getrandom := call{"getrandom (3.17)", x86_64, unix.SYS_GETRANDOM, nil}
	openTreeAttr := call{"open_tree_attr (6.15)", x86_64, unix.SYS_OPEN_TREE_ATTR, nil}
	future := call{"a number past the table", x86_64, 472, nil}
	gap := call{"a number in the 337-423 gap", x86_64, 400, nil}
	x32 := call{"x32 read", x86_64, x32Flag | unix.SYS_READ, nil}
	i386read := call{"i386 read", i386, 3, nil}
	nohuge := call{"madvise(MADV_NOHUGEPAGE)", x86_64, unix.SYS_MADVISE, []uint64{0x1000, 4096, unix.MADV_NOHUGEPAGE}}
	dontneed := call{"madvise(MADV_DONTNEED)", x86_64, unix.SYS_MADVISE, []uint64{0x1000, 4096, unix.MADV_DONTNEED}}
	highAdvice := call{"madvise(1<<32|15)", x86_64, unix.SYS_MADVISE, []uint64{0x1000, 4096, 1<<32 | unix.MADV_NOHUGEPAGE}}
	mptcp := call{"socket(AF_INET6, SOCK_STREAM, IPPROTO_MPTCP)", x86_64, unix.SYS_SOCKET, []uint64{unix.AF_INET6, unix.SOCK_STREAM, unix.IPPROTO_MPTCP}}
	tcp := call{"socket(AF_INET, SOCK_STREAM, 0)", x86_64, unix.SYS_SOCKET, []uint64{unix.AF_INET, unix.SOCK_STREAM, 0}}
	unixMptcp := call{"socket(AF_UNIX, SOCK_STREAM, 262)", x86_64, unix.SYS_SOCKET, []uint64{unix.AF_UNIX, unix.SOCK_STREAM, unix.IPPROTO_MPTCP}}

	for _, tc := range []struct {
		kernel string
		want   map[*call]int
	}{
		{"2.6.32", map[*call]int{&read: allow, &perf: allow, &prlimit: enosys, &getrandom: enosys, &openTreeAttr: enosys,
			&future: enosys, &gap: enosys, &x32: enosys, &i386read: enosys, &nohuge: einval, &dontneed: allow,
			&highAdvice: allow, &mptcp: eproto, &tcp: allow, &unixMptcp: allow}},
		{"3.10", map[*call]int{&read: allow, &prlimit: allow, &getrandom: enosys, &future: enosys, &nohuge: allow, &mptcp: eproto}},
		{"4.18", map[*call]int{&getrandom: allow, &openTreeAttr: enosys, &mptcp: einval, &nohuge: allow}},
		{"5.14", map[*call]int{&getrandom: allow, &openTreeAttr: enosys, &mptcp: allow, &future: enosys}},
		{"6.16", map[*call]int{&openTreeAttr: allow, &future: enosys, &x32: enosys}},
	} {
		t.Run(tc.kernel, func(t *testing.T) {
			vm := vmFor(t, tc.kernel)
			for c, want := range tc.want {
				got, err := vm.Run(seccompData(c.arch, c.nr, c.args...))
				require.NoError(t, err, c.name)
				assert.Equal(t, want, got, "%s: want %#x, got %#x", c.name, want, got)
			}
		})
	}
}

// TestFilterExactlyTheTable: under 2.6.32, every call the library knows is
// allowed or refused exactly as the table says.
func TestFilterExactlyTheTable(t *testing.T) {
	vm := vmFor(t, "2.6.32")
	refused := map[int]bool{}
	for _, s := range addedAfter2632 {
		refused[int(s.nr)] = true
	}
	for nr, name := range arch.X86_64.SyscallNumbers {
		got, err := vm.Run(seccompData(x86_64, uint32(nr)))
		require.NoError(t, err)
		want := allow
		if refused[nr] {
			want = retErr | int(unix.ENOSYS)
		}
		assert.Equal(t, want, got, "%s (%d)", name, nr)
	}
}

func TestModelLimits(t *testing.T) {
	_, err := newModel(release{2, 6, 18})
	assert.ErrorContains(t, err, "starts at 2.6.32")
	m, err := newModel(release{6, 18, 0})
	require.NoError(t, err)
	_, err = m.program()
	assert.ErrorContains(t, err, "lacks uprobe")
}

func TestRunUsage(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{[]string{"--kernel", "2.6.18", "--", "true"}, exitUsage, "", "oldkernel: error: --kernel 2.6.18: the model starts at 2.6.32"},
		{[]string{"--kernel", "2.6.32-754.el6", "--", "true"}, exitUsage, "", "oldkernel: error: --kernel \"2.6.32-754.el6\": want a release"},
		{[]string{"--kernel", "6.18", "--list"}, exitUsage, "", "lacks uprobe"},
		{[]string{}, exitUsage, "", "oldkernel: error: no command to run\noldkernel: hint: "},
		{[]string{"--bogus"}, exitUsage, "", "flag provided but not defined: -bogus"},
		{[]string{"--", "no-such-command-here"}, exitNotFound, "", "oldkernel: error: exec: \"no-such-command-here\""},
		{[]string{"--list"}, 0, "302\tprlimit64\t(2.6.36)\n", ""},
		{[]string{"--kernel", "3.10", "--list"}, 0, "318\tgetrandom\t(3.17)\n", ""},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		assert.Equal(t, tc.code, code, "%v: %s", tc.args, errb.String())
		assert.Contains(t, out.String(), tc.stdout, tc.args)
		assert.Contains(t, errb.String(), tc.stderr, tc.args)
	}
	var out bytes.Buffer
	require.Equal(t, 0, run([]string{"--kernel", "3.10", "--list"}, &out, &out))
	assert.NotContains(t, out.String(), "prlimit64", "3.10 has prlimit64")
	assert.NotContains(t, out.String(), "UNAME26", "3.10 reports its own release")
}

var (
	buildOnce sync.Once
	harness   string
	buildErr  error
)

// buildHarness builds the command as CI does (go build), once per test
// binary: the test binary itself links cgo through testify's net/http, and
// must not play the harness (see the package comment).
func buildHarness(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "oldkernel-test")
		if err != nil {
			buildErr = err
			return
		}
		harness = filepath.Join(dir, "oldkernel")
		out, err := exec.Command("go", "build", "-o", harness, ".").CombinedOutput()
		if err != nil {
			buildErr = &buildError{err, out}
		}
	})
	require.NoError(t, buildErr)
	return harness
}

type buildError struct {
	err error
	out []byte
}

func (e *buildError) Error() string { return e.err.Error() + ": " + string(e.out) }

func TestMain(m *testing.M) {
	code := m.Run()
	if harness != "" {
		os.RemoveAll(filepath.Dir(harness))
	}
	os.Exit(code)
}

// probe runs CMD ARGS and parses its --probe lines.
func probe(t *testing.T, name string, args ...string) map[string]string {
	t.Helper()
	out, err := exec.Command(name, args...).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("%s %v: %v\n%s", name, args, err, ee.Stderr)
	}
	require.NoError(t, err)
	res := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		require.True(t, ok, "probe line %q", sc.Text())
		res[k] = v
	}
	return res
}

// TestNoCgo: the harness is a static binary without glibc.
func TestNoCgo(t *testing.T) {
	f, err := elf.Open(buildHarness(t))
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "the harness is dynamically linked: something pulled in cgo (package net?)")
	}
	libs, _ := f.ImportedLibraries()
	assert.Empty(t, libs)
}

// TestProbe: prlimit64 and getrandom, called directly, work on the host and
// fail with ENOSYS under the model; so do the other post-2.6.32 calls the
// probe makes, and uname reports 2.6.
func TestProbe(t *testing.T) {
	h := buildHarness(t)
	host := probe(t, h, "--probe")
	require.Equal(t, "ok", host["prlimit64"], "the host kernel has prlimit64 (2.6.36)")
	require.Equal(t, "ok", host["getrandom"], "the host kernel has getrandom (3.17)")

	old := probe(t, h, "--kernel", "2.6.32", "--", h, "--probe")
	assert.Equal(t, "ENOSYS", old["prlimit64"])
	assert.Equal(t, "ENOSYS", old["getrandom"])
	assert.Equal(t, "ENOSYS", old["pidfd_open"])
	assert.Equal(t, "ENOSYS", old["memfd_create"])
	assert.Equal(t, "EINVAL", old["madvise(MADV_NOHUGEPAGE)"])
	assert.Equal(t, "EPROTONOSUPPORT", old["socket(IPPROTO_MPTCP)"])
	assert.True(t, strings.HasPrefix(old["uname"], "2.6."), "uname %q", old["uname"])
	assert.True(t, strings.HasPrefix(old["getrlimit"], "ok "), "the old getrlimit works: %q", old["getrlimit"])

	el7 := probe(t, h, "--kernel", "3.10", "--", h, "--probe")
	assert.Equal(t, "ok", el7["prlimit64"])
	assert.Equal(t, "ENOSYS", el7["getrandom"])
	assert.Equal(t, host["uname"], el7["uname"], "no UNAME26 from 3.0 on")
}

// TestStartLimitKept: CMD starts with the open-file limit the harness was
// given, not the one Go's runtime raised it to (restoreStartLimits).
func TestStartLimitKept(t *testing.T) {
	h := buildHarness(t)
	var lim syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim))
	if lim.Max < 1024 {
		t.Skipf("hard open-file limit %d", lim.Max)
	}
	sh := `ulimit -Sn 512 && exec "$@"`
	got := probe(t, "sh", "-c", sh, "sh", h, "--", h, "--probe")
	assert.Equal(t, "ok nofile=512/"+strconv.FormatUint(lim.Max, 10), got["getrlimit"])
}

// TestGlibcProgram: a dynamically linked program (glibc registers rseq,
// 4.18, at start) runs under the model and sees a 2.6 release.
func TestGlibcProgram(t *testing.T) {
	h := buildHarness(t)
	uname, err := exec.LookPath("uname")
	if err != nil {
		t.Skip("no uname")
	}
	out, err := exec.Command(h, "--", uname, "-r").CombinedOutput()
	require.NoError(t, err, string(out))
	assert.True(t, strings.HasPrefix(string(out), "2.6."), "uname -r: %q", out)
}
