package install

import (
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"

	"github.com/zenpatch/zenpatch/internal/txn"
	"github.com/zenpatch/zenpatch/internal/zconfig"
)

// InstanceDir holds the per-instance configs zenpatch derives from
// zope.conf at every start; never edit them by hand.
const InstanceDir = StateDir + "/instances"

// Instance is what differs for Zope instance N (1-based).
type Instance struct {
	N          int
	Host       string // HTTP host ("" = all interfaces)
	Port       int
	ConfigPath string // relative to ZENHOME
	PidFile    string // absolute, as in the derived config
	LockFile   string
	EventLog   string
	AccessLog  string
}

// Addr is the address to reach the instance on from this host.
func (in Instance) Addr() string {
	h := in.Host
	if h == "" || h == "0.0.0.0" {
		h = "127.0.0.1"
	} else if h == "::" {
		h = "::1"
	}
	return net.JoinHostPort(h, strconv.Itoa(in.Port))
}

// suffixed inserts -N before a file's extension: Z2.pid → Z2-2.pid.
func suffixed(p string, n int) string {
	ext := path.Ext(p)
	return strings.TrimSuffix(p, ext) + "-" + strconv.Itoa(n) + ext
}

// DeriveInstance makes instance n's config from zope.conf: its own HTTP
// port (base+n-1, port-base folded in), pid file, lock file, event and
// access logs, and ZEO client cache names; everything else (ZEO server,
// storages, threads…) shared. Servers other than HTTP (FTP, WebDAV, ICP)
// stay with instance 1 only, since N instances cannot share their ports.
func DeriveInstance(zc *ZopeConf, n, basePort int) (Instance, []byte) {
	cfg := zc.Config.Clone()
	r := cfg.Root
	inst := Instance{N: n, Host: zc.HTTPHost, Port: basePort + n - 1, ConfigPath: fmt.Sprintf("%s/zope-%d.conf", InstanceDir, n)}
	r.Remove("port-base")
	var keep []*zconfig.Section
	httpDone := false
	for _, s := range r.Sections {
		switch s.Type {
		case "http-server":
			if httpDone {
				continue // one HTTP server per instance: the balancer fronts them
			}
			httpDone = true
			addr := strconv.Itoa(inst.Port)
			if zc.HTTPHost != "" {
				addr = net.JoinHostPort(zc.HTTPHost, addr)
			}
			s.Set("address", addr)
		case "ftp-server", "webdav-source-server", "icp-server", "fast-cgi", "clock-server":
			if n > 1 {
				continue
			}
		}
		keep = append(keep, s)
	}
	r.Sections = keep
	inst.PidFile, inst.LockFile = suffixed(zc.PidFile, n), suffixed(zc.LockFile, n)
	r.Set("pid-filename", inst.PidFile)
	r.Set("lock-filename", inst.LockFile)
	if c := r.Get("zeo-client-name"); c != nil && c.Value != "" {
		c.Value = fmt.Sprintf("%s-%d", c.Value, n)
	}
	r.Walk(func(s *zconfig.Section) {
		switch s.Type {
		case "eventlog":
			for _, lf := range s.Children("logfile") {
				if p := lf.Get("path"); p != nil && p.Value != "STDOUT" && p.Value != "STDERR" {
					p.Value = suffixed(p.Value, n)
					if inst.EventLog == "" {
						inst.EventLog = p.Value
					}
				}
			}
		case "logger":
			for _, lf := range s.Children("logfile") {
				if p := lf.Get("path"); p != nil && p.Value != "STDOUT" && p.Value != "STDERR" {
					p.Value = suffixed(p.Value, n)
					if strings.EqualFold(s.Name, "access") {
						inst.AccessLog = p.Value
					}
				}
			}
		case "zeoclient":
			if c := s.Get("client"); c != nil && c.Value != "" {
				c.Value = fmt.Sprintf("%s-%d", c.Value, n)
			}
		}
	})
	header := fmt.Sprintf("# Zope instance %d, derived by zenpatch from %s at every start.\n# Do not edit: change %s (or %s) instead.\n", n, ZopeConfPath, ZopeConfPath, SettingsPath)
	return inst, append([]byte(header), zconfig.Print(cfg)...)
}

// WriteInstanceConfig derives instance n's config and writes it
// atomically under var/zenpatch/instances.
func (i *Install) WriteInstanceConfig(zc *ZopeConf, n, basePort int) (Instance, error) {
	inst, data := DeriveInstance(zc, n, basePort)
	return inst, txn.WriteFile(i.Root, inst.ConfigPath, data, 0o644)
}

// Abs makes a ZENHOME-relative path absolute.
func (i *Install) Abs(rel string) string { return path.Join(i.Home, rel) }
