package zope

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// PortOwner names the process listening on TCP port, as "pid N (comm)",
// from /proc/net/tcp{,6} and the /proc/*/fd links it can read; "" when
// unknown (e.g. another user's process without root).
func PortOwner(port int) string {
	_, owner := portOwner(port)
	return owner
}

// portOwner is PortOwner with the owner's pid (0 when unknown).
func portOwner(port int) (int, string) {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// sl local_address rem_address st ... uid timeout inode
			if len(fields) < 10 || fields[3] != "0A" { // 0A = LISTEN
				continue
			}
			i := strings.LastIndexByte(fields[1], ':')
			if i < 0 {
				continue
			}
			p, err := strconv.ParseInt(fields[1][i+1:], 16, 32)
			if err == nil && int(p) == port {
				inodes["socket:["+fields[9]+"]"] = true
			}
		}
		fh.Close()
	}
	if len(inodes) == 0 {
		return 0, ""
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range procs {
		link, err := os.Readlink(fd)
		if err != nil || !inodes[link] {
			continue
		}
		pid, _ := strconv.Atoi(strings.Split(fd, "/")[2])
		return pid, fmt.Sprintf("pid %d (%s)", pid, procComm(pid))
	}
	return 0, "another process"
}
