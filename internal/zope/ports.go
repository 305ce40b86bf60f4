package zope

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/zenpatch/zenpatch/internal/install"
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

// maxPort is the highest TCP port.
const maxPort = 65535

// CheckPortPlan refuses settings that cannot work with ZOPES instances: an
// instance port past 65535 (base-port + ListenerStride×k + ZOPES − 1 for
// zope.conf's k-th <http-server>), or instance ports that take a port the
// balancer listens on (zope.conf's HTTP ports, <balancer> listen). The
// error names the file, line and key. With ZOPES=1 no instance runs, and
// there is nothing to check.
func (c *Controller) CheckPortPlan() error {
	if !c.Multi() {
		return nil
	}
	base, n, stride := c.Settings.BasePort, c.Zopes, install.ListenerStride
	last := len(c.Conf.HTTP) - 1
	maxBase := maxPort - stride*last - (n - 1)
	where := fmt.Sprintf("%s: base-port %d", c.Settings.BasePortPos, base)
	if c.Settings.BasePortPos == "" {
		http := c.Conf.HTTP[0]
		where = fmt.Sprintf("base-port (not set in %s) defaults to zope.conf's HTTP port %d (%s) + 10000 = %d", install.SettingsPath, http.Port, http.Pos, base)
	}
	if base > maxBase {
		top := base + stride*last + n - 1
		msg := fmt.Sprintf("%s with ZOPES=%d puts instance %d on port %d, past %d", where, n, n, top, maxPort)
		if c.Settings.BasePortPos == "" {
			msg = fmt.Sprintf("%s, past %d", where, maxPort)
		}
		return &install.PortRangeError{Msg: msg, Fix: fmt.Sprintf("set base-port in %s to at most %d (ZOPES=%d); best below the kernel's ephemeral range (from %d)", install.SettingsPath, maxBase, n, ephemeralLo())}
	}
	type front struct {
		port int
		desc string
	}
	var fronts []front
	for i, l := range c.Conf.HTTP {
		fronts = append(fronts, front{l.Port, fmt.Sprintf("zope.conf's HTTP port %d (%s)", l.Port, l.Pos)})
		if i == 0 && c.Settings.Balancer.Listen != "" {
			if _, p, err := net.SplitHostPort(c.Settings.Balancer.Listen); err == nil {
				if port, err := strconv.Atoi(p); err == nil {
					fronts = append(fronts, front{port, fmt.Sprintf("port %d (listen in %s's <balancer>)", port, install.SettingsPath)})
				}
			}
		}
	}
	var ranges []string
	for k := 0; k <= last; k++ {
		ranges = append(ranges, portRange(base+stride*k, base+stride*k+n-1))
	}
	for k := 0; k <= last; k++ {
		lo, hi := base+stride*k, base+stride*k+n-1
		for _, f := range fronts {
			if f.port < lo || f.port > hi {
				continue
			}
			inst := f.port - lo + 1
			return &install.PortRangeError{
				Msg: fmt.Sprintf("%s with ZOPES=%d puts instance %d on %s, where the balancer listens", where, n, inst, f.desc),
				Fix: fmt.Sprintf("set base-port in %s so that the instances' ports (now %s) miss port %d", install.SettingsPath, strings.Join(ranges, " and "), f.port),
			}
		}
	}
	return nil
}

func portRange(lo, hi int) string {
	if lo == hi {
		return strconv.Itoa(lo)
	}
	return fmt.Sprintf("%d-%d", lo, hi)
}

func ephemeralLo() int {
	lo, _ := EphemeralRange()
	return lo
}
