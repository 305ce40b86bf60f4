package zope

import (
	"os"
	"strconv"
	"strings"
)

// EphemeralRange is the kernel's range for outgoing connections' local
// ports (/proc/sys/net/ipv4/ip_local_port_range; Linux's default 32768 60999).
// A server port inside it can be taken by any outgoing connection while the
// server is down, e.g. during a restart.
func EphemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) == 2 {
		if a, err := strconv.Atoi(f[0]); err == nil {
			lo = a
		}
		if z, err := strconv.Atoi(f[1]); err == nil {
			hi = z
		}
	}
	return lo, hi
}
