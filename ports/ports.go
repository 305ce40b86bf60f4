// Package ports says which TCP ports a server can safely use on this host:
// the kernel lends ports in its ephemeral range to outgoing connections, so
// a server port there can be taken while the server restarts.
package ports

import (
	"fmt"
	"math/rand/v2"
	"net"
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

// FreeBlock finds n consecutive free TCP ports below the ephemeral range
// (from 20000): ports outgoing connections never take (sandboxes, tests).
func FreeBlock(n int) (int, error) {
	lo, _ := EphemeralRange()
	top := min(lo, 32000) - n
	if top <= 20000 {
		top = 20000 + 1000
	}
	for range 200 {
		base := 20000 + rand.IntN(top-20000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d free consecutive ports between 20000 and %d", n, top)
}
