package install

import (
	"fmt"
	"net"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/zenpatch/zenpatch/internal/txn"
	"github.com/zenpatch/zenpatch/internal/zconfig"
)

// SettingsPath is zenpatch's own optional settings file (ZConfig syntax).
const SettingsPath = "etc/zenpatch.conf"

// InstanceDir holds the per-instance configs zenpatch derives from
// zope.conf at every start; never edit them by hand.
const InstanceDir = StateDir + "/instances"

// Settings are zenpatch's runtime settings, from etc/zenpatch.conf; every
// key is optional.
type Settings struct {
	BasePort     int           // base-port: instance i listens on BasePort+i-1; default zope.conf's port + 10000
	StartTimeout time.Duration // start-timeout (seconds): wait for an instance to answer HTTP; default 120
	StopTimeout  time.Duration // stop-timeout (seconds): wait for an instance to exit; default 60
	HealthPath   string        // health-path: URL path that answers < 500 when an instance is up; default "/"
	BalancerOff  bool          // balancer off: you run your own front end (see 'zenpatch frontend'); default on
	Pos          map[string]zconfig.Pos
	// Balancer settings, in a <balancer> section.
	Balancer BalancerSettings
}

// BalancerSettings are the <balancer> section of etc/zenpatch.conf.
type BalancerSettings struct {
	Listen         string        // listen: default zope.conf's HTTP address
	HealthInterval time.Duration // health-interval (seconds): default 2
	Rise, Fall     int           // rise/fall: consecutive checks to mark up/down; default 2 and 3
	SlowStart      time.Duration // slow-start (seconds): ramp of a fresh instance; default 30
	QueueSize      int           // queue-size: waiting requests at most; default 1024
	QueueTimeout   time.Duration // queue-timeout (seconds): then 503; default 30
	Affinity       bool          // cookie-affinity on|off: default off
	Procs          int           // procs: most CPUs the balancer's Go code uses at once (GOMAXPROCS; one while light); 0 = zenpatch's default (2)
}

// ReadSettings reads etc/zenpatch.conf (missing: defaults); the HTTP port
// of zope.conf gives the default base port.
func (i *Install) ReadSettings(zc *ZopeConf) (*Settings, error) {
	s := &Settings{BasePort: zc.HTTPPort + 10000, StartTimeout: 120 * time.Second, StopTimeout: 60 * time.Second, HealthPath: "/", Pos: map[string]zconfig.Pos{}}
	s.Balancer = BalancerSettings{HealthInterval: 2 * time.Second, Rise: 2, Fall: 3, SlowStart: 30 * time.Second, QueueSize: 1024, QueueTimeout: 30 * time.Second}
	data, err := i.ReadFile(SettingsPath)
	if err != nil {
		if isNotExist(err) {
			return s, nil
		}
		return nil, err
	}
	cfg, err := zconfig.ParseBytes(SettingsPath, data, nil)
	if err != nil {
		return nil, err
	}
	r := cfg.Root
	num := func(sec *zconfig.Section, key string, lo, hi int, dst *int) error {
		if k := sec.Get(key); k != nil {
			n, err := strconv.Atoi(k.Value)
			if err != nil || n < lo || n > hi {
				return fmt.Errorf("%s: %s %q: want a whole number from %d to %d", k.Pos, key, k.Value, lo, hi)
			}
			*dst = n
			s.Pos[key] = k.Pos
		}
		return nil
	}
	secs := func(sec *zconfig.Section, key string, dst *time.Duration) error {
		if k := sec.Get(key); k != nil {
			f, err := strconv.ParseFloat(k.Value, 64)
			if err != nil || f <= 0 || f > 86400 {
				return fmt.Errorf("%s: %s %q: want seconds above 0", k.Pos, key, k.Value)
			}
			*dst = time.Duration(f * float64(time.Second))
		}
		return nil
	}
	if err := num(r, "base-port", 1, 65535, &s.BasePort); err != nil {
		return nil, err
	}
	for key, dst := range map[string]*time.Duration{"start-timeout": &s.StartTimeout, "stop-timeout": &s.StopTimeout} {
		if err := secs(r, key, dst); err != nil {
			return nil, err
		}
	}
	if k := r.Get("health-path"); k != nil {
		if !strings.HasPrefix(k.Value, "/") {
			return nil, fmt.Errorf("%s: health-path %q: want a path starting with /", k.Pos, k.Value)
		}
		s.HealthPath = k.Value
	}
	if k := r.Get("balancer"); k != nil {
		switch strings.ToLower(k.Value) {
		case "off", "no", "false":
			s.BalancerOff = true
		case "on", "yes", "true":
		default:
			return nil, fmt.Errorf("%s: balancer %q: want on or off", k.Pos, k.Value)
		}
	}
	for _, b := range r.Children("balancer") {
		bs := &s.Balancer
		if k := b.Get("listen"); k != nil {
			if _, _, err := net.SplitHostPort(k.Value); err != nil {
				return nil, fmt.Errorf("%s: listen %q: want host:port", k.Pos, k.Value)
			}
			bs.Listen = k.Value
		}
		for key, dst := range map[string]*time.Duration{"health-interval": &bs.HealthInterval, "slow-start": &bs.SlowStart, "queue-timeout": &bs.QueueTimeout} {
			if err := secs(b, key, dst); err != nil {
				return nil, err
			}
		}
		for key, dst := range map[string]*int{"rise": &bs.Rise, "fall": &bs.Fall} {
			if err := num(b, key, 1, 100, dst); err != nil {
				return nil, err
			}
		}
		if err := num(b, "queue-size", 0, 1<<20, &bs.QueueSize); err != nil {
			return nil, err
		}
		if err := num(b, "procs", 1, 1024, &bs.Procs); err != nil {
			return nil, err
		}
		if k := b.Get("cookie-affinity"); k != nil {
			switch strings.ToLower(k.Value) {
			case "on", "yes", "true":
				bs.Affinity = true
			case "off", "no", "false":
			default:
				return nil, fmt.Errorf("%s: cookie-affinity %q: want on or off", k.Pos, k.Value)
			}
		}
	}
	return s, nil
}

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
