package zope

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Proc is what a pid file says, checked against the process table: a pid
// file outlives its process, and the kernel reuses pids, so a pid that
// runs is not proof that it is the program the file belongs to.
type Proc struct {
	PID   int    // the pid the file names; 0: no file, or no pid in it
	Alive bool   // PID runs (and is not a zombie)
	Ours  bool   // PID runs and is the program the file belongs to
	Comm  string // PID's command name (/proc/PID/comm), when alive
	What  string // the program, for messages: "this Zope", "the balancer"
}

// Running reports whether the program the pid file belongs to runs.
func (p Proc) Running() bool { return p.Ours }

// Stale describes a pid file that names a live process other than its
// program; "" otherwise. Such a process is never signalled.
func (p Proc) Stale() string {
	if !p.Alive || p.Ours {
		return ""
	}
	return fmt.Sprintf("pid file names pid %d (%s), which is not %s: stale", p.PID, p.Comm, p.What)
}

// readProc reads pidFile and identifies the process it names: ours says
// whether a live process's command line belongs to the program.
func readProc(pidFile, what string, ours func(pid int, args []string) bool) Proc {
	p := Proc{What: what}
	p.PID, p.Alive = PID(pidFile)
	if !p.Alive {
		return p
	}
	p.Comm = procComm(p.PID)
	args, err := procArgs(p.PID)
	p.Ours = err == nil && ours(p.PID, args)
	return p
}

// procArgs is a process's argv, from /proc/PID/cmdline.
func procArgs(pid int) ([]string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return nil, err
	}
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil, errors.New("no command line (a kernel thread, or a zombie)")
	}
	return strings.Split(string(b), "\x00"), nil
}

// procComm is a process's command name, "?" when it cannot be read.
func procComm(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(b))
}

// namesConfig reports whether args name the config file whose path ends
// with suffix ("var/zenpatch/instances/zope-2.conf", "zope.conf"): an
// argument that is suffix, or ends with "/suffix" or "=suffix" (-C PATH,
// -CPATH, --configure=PATH). Comparing the end of the path, not all of
// it, keeps a ZENHOME reached through a symlink (/opt/zenoss →
// /data/zenoss) working, whichever path started the process.
func namesConfig(args []string, suffix string) bool {
	for _, a := range args {
		if !strings.HasSuffix(a, suffix) {
			continue
		}
		if len(a) == len(suffix) {
			return true
		}
		switch a[len(a)-len(suffix)-1] {
		case '/', '=':
			return true
		}
	}
	return false
}

// Locked reports whether another open file holds an flock on path (the
// balancer holds one on its pid file for its whole life). It probes with a
// shared lock taken and dropped at once; a missing or irregular file is not
// locked.
func Locked(path string) bool {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return false
	}
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB)
	if err == nil {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false
	}
	return errors.Is(err, syscall.EWOULDBLOCK)
}
