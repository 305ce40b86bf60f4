// Command oldkernel runs a command as if on an older Linux kernel, RHEL and
// CentOS 6's 2.6.32 unless told otherwise, so that CI on a current kernel
// catches what would fail there:
//
//	go run ./internal/oldkernel [--kernel 2.6.32] -- CMD ARGS...
//
// It sets no_new_privs, installs a seccomp filter under which every x86_64
// system call added after that kernel fails with ENOSYS (as the real kernel
// answers a number it does not know), madvise advice values and the MPTCP
// socket protocol newer than it fail as they did there, and (for a 2.x
// kernel) the UNAME26 personality makes uname report 2.6; then it executes
// CMD, which inherits all of it, as do its children. --list prints what the
// model refuses; --probe calls a few of those calls directly and prints what
// each got, to compare a run under the model with one without.
//
// It cannot model the running kernel's vDSO (clock_gettime and getcpu go
// there without a system call), flags added to old calls, /proc and /sys
// contents, behaviour changes inside old calls, or vendor backports. A run
// on a real EL6 host is the final word; the model catches the common
// failure, a call that does not exist there, in CI.
//
// The harness itself must not link glibc (no cgo, so nothing that imports
// package net): glibc registers every new thread with rseq (4.18) and aborts
// ("Fatal glibc error: rseq registration failed") when that fails in a
// process whose first thread had it, and the Go runtime may start a thread
// between installing the filter and execve. A program started under the
// filter is fine: its first thread's rseq fails too, and glibc then does
// without. TestNoCgo guards this.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Exit codes: as a shell's for a command that cannot be run.
const (
	exitSetup    = 1   // the model could not be installed
	exitUsage    = 2   // bad flags
	exitNoExec   = 126 // CMD was found but could not be executed
	exitNotFound = 127 // CMD was not found
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command; it returns only when CMD was not executed.
func run(args []string, stdout, stderr io.Writer) int {
	fail := func(code int, err error, hint string) int {
		fmt.Fprintf(stderr, "oldkernel: error: %v\n", err)
		if hint != "" {
			fmt.Fprintf(stderr, "oldkernel: hint: %s\n", hint)
		}
		return code
	}
	// The standard flag package stops at the first non-flag, so CMD's own
	// flags stay its own. (spf13/pflag would pull in package net, and with
	// it cgo and glibc: see the note in the package comment.)
	fs := flag.NewFlagSet("oldkernel", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: oldkernel [--kernel RELEASE] -- CMD [ARGS...]\n       oldkernel [--kernel RELEASE] --list\n       oldkernel --probe\n\n")
		fs.PrintDefaults()
	}
	kernel := fs.String("kernel", oldestModel, "model this upstream kernel `RELEASE` (2.6.32 is RHEL/CentOS 6, 3.10 is 7)")
	list := fs.Bool("list", false, "print what the model refuses, then exit")
	probe := fs.Bool("probe", false, "call a few post-2.6.32 system calls directly and print what each returned, then exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return fail(exitUsage, err, "oldkernel --help lists the flags")
	}
	if *probe {
		runProbe(stdout)
		return 0
	}
	k, err := parseRelease(*kernel)
	if err != nil {
		return fail(exitUsage, fmt.Errorf("--kernel %w", err), "")
	}
	m, err := newModel(k)
	if err != nil {
		return fail(exitUsage, err, "EL6 is 2.6.32, EL7 3.10, EL8 4.18, EL9 5.14")
	}
	prog, err := m.program()
	if err != nil {
		return fail(exitUsage, err, "")
	}
	if *list {
		m.print(stdout)
		return 0
	}
	if fs.NArg() == 0 {
		return fail(exitUsage, errors.New("no command to run"), "oldkernel --kernel 2.6.32 -- zenpatch demo")
	}
	path, err := exec.LookPath(fs.Arg(0))
	if err != nil {
		return fail(exitNotFound, err, "")
	}
	// The filter, no_new_privs and personality are set on this thread and
	// synced to the others; execve must run on a thread that has them.
	runtime.LockOSThread()
	restoreStartLimits()
	if err := m.install(prog); err != nil {
		return fail(exitSetup, err, "the host kernel needs seccomp filters (3.17+ for TSYNC); in a container, allow seccomp and prctl")
	}
	err = syscall.Exec(path, fs.Args(), os.Environ())
	return fail(exitNoExec, fmt.Errorf("exec %s: %w", path, err), "")
}

// restoreStartLimits puts RLIMIT_NOFILE back to what this process was
// started with, before the filter goes in. Go's runtime raises the soft
// limit at start (to hard-1, since Go 1.19) and puts it back in syscall.Exec
// just before execve, both through prlimit64; under the filter that
// put-back would fail, and CMD would start with the raised limit instead of
// the one it was given (ulimit -Sn 1024 would not be modeled). The original
// value is private to package syscall, and syscall.Exec is the only exported
// way to apply it; an exec that cannot succeed (an empty path: ENOENT) does
// exactly that and nothing else, and leaves the process as it was. The unit
// test runs CMD under ulimit -Sn and checks the limit it sees.
func restoreStartLimits() {
	_ = syscall.Exec("", nil, nil)
}

// print writes what the model refuses, one line each.
func (m *model) print(w io.Writer) {
	fmt.Fprintf(w, "# Linux %s on x86_64: calls that fail with ENOSYS\n", m.kernel)
	for _, s := range m.refused {
		fmt.Fprintf(w, "%d\t%s\t(%s)\n", s.nr, s.name, s.release)
	}
	fmt.Fprintln(w, "-\tany number not known to have existed in it, the x32 and the i386 ABIs")
	if len(m.badAdvice) > 0 {
		fmt.Fprintln(w, "# madvise advice values that fail with EINVAL")
		for _, a := range madviseAdded {
			if m.kernel.before(mustRelease(a.release)) {
				fmt.Fprintf(w, "%d\t%s\t(%s)\n", a.advice, a.name, a.release)
			}
		}
	}
	if m.mptcpErrno != 0 {
		fmt.Fprintf(w, "# socket(AF_INET or AF_INET6, any, IPPROTO_MPTCP) fails with %s\n", unix.ErrnoName(m.mptcpErrno))
	}
	if m.uname26 {
		fmt.Fprintln(w, "# uname reports a 2.6 release (UNAME26 personality)")
	}
}

// runProbe calls system calls that 2.6.32 lacked (or argument values it
// refused) directly, bypassing any fallback, and prints one "name: result"
// line each: "ok", or the errno's name.
func runProbe(w io.Writer) {
	res := func(e syscall.Errno) string {
		if e == 0 {
			return "ok"
		}
		return unix.ErrnoName(e)
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		fmt.Fprintf(w, "uname: %s\n", unix.ByteSliceToString(uts.Release[:]))
	}
	var buf [16]byte
	_, _, e := unix.Syscall(unix.SYS_GETRANDOM, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), unix.GRND_NONBLOCK)
	fmt.Fprintf(w, "getrandom: %s\n", res(e))
	var lim unix.Rlimit
	_, _, e = unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, unix.RLIMIT_NOFILE, 0, uintptr(unsafe.Pointer(&lim)), 0, 0)
	fmt.Fprintf(w, "prlimit64: %s\n", res(e))
	_, _, e = unix.RawSyscall(unix.SYS_GETRLIMIT, unix.RLIMIT_NOFILE, uintptr(unsafe.Pointer(&lim)), 0)
	if e == 0 {
		fmt.Fprintf(w, "getrlimit: ok nofile=%d/%d\n", lim.Cur, lim.Max)
	} else {
		fmt.Fprintf(w, "getrlimit: %s\n", res(e))
	}
	fd, _, e := unix.Syscall(unix.SYS_PIDFD_OPEN, uintptr(os.Getpid()), 0, 0)
	if e == 0 {
		unix.Close(int(fd))
	}
	fmt.Fprintf(w, "pidfd_open: %s\n", res(e))
	name := []byte("probe\x00")
	fd, _, e = unix.Syscall(unix.SYS_MEMFD_CREATE, uintptr(unsafe.Pointer(&name[0])), 0, 0)
	if e == 0 {
		unix.Close(int(fd))
	}
	fmt.Fprintf(w, "memfd_create: %s\n", res(e))
	if mem, err := unix.Mmap(-1, 0, os.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_ANON|unix.MAP_PRIVATE); err == nil {
		_, _, e = unix.Syscall(unix.SYS_MADVISE, uintptr(unsafe.Pointer(&mem[0])), uintptr(len(mem)), unix.MADV_NOHUGEPAGE)
		fmt.Fprintf(w, "madvise(MADV_NOHUGEPAGE): %s\n", res(e))
		_ = unix.Munmap(mem)
	}
	fd, _, e = unix.RawSyscall(unix.SYS_SOCKET, unix.AF_INET, unix.SOCK_STREAM, ipprotoMPTCP)
	if e == 0 {
		unix.Close(int(fd))
	}
	fmt.Fprintf(w, "socket(IPPROTO_MPTCP): %s\n", res(e))
}
