package install

import (
	"bytes"
	"fmt"
	"net"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/zenpatch/zenpatch/internal/txn"
	"github.com/zenpatch/zenpatch/internal/zconfig"
)

// InstanceDir holds the per-instance configs zenpatch derives from
// zope.conf at every start; never edit them by hand.
const InstanceDir = StateDir + "/instances"

// ListenerStride is the distance between the instance ports of two
// <http-server> sections: instance N serves listener k (0-based) on
// base-port + ListenerStride×k + N − 1. With two listeners, ZOPES is at most
// ListenerStride.
const ListenerStride = 100

// Instance is what differs for Zope instance N (1-based).
type Instance struct {
	N          int
	Host       string // the first listener's host ("" = all interfaces)
	Port       int    // the first listener's port
	Listeners  []Listener
	ConfigPath string // relative to ZENHOME
	// RunzopePath is the instance's runzope (relative to ZENHOME): bin/runzope
	// with CONFIG_FILE pointing at ConfigPath, run by zopectl's daemon manager
	// as the <runner> program of the instance's config.
	RunzopePath string
	Socket      string // its daemon manager's unix socket (<runner> socket-name)
	PidFile     string // absolute, as in the derived config
	LockFile    string
	EventLog    string
	AccessLog   string
}

// Addr is the address to reach the instance's first listener on from this
// host.
func (in Instance) Addr() string { return in.AddrOf(0) }

// AddrOf is the address to reach the instance's listener k on from this
// host.
func (in Instance) AddrOf(k int) string {
	h := in.Listeners[k].Host
	if h == "" || h == "0.0.0.0" {
		h = "127.0.0.1"
	} else if h == "::" {
		h = "::1"
	}
	return net.JoinHostPort(h, strconv.Itoa(in.Listeners[k].Port))
}

// suffixed inserts -N before a file's extension: Z2.pid → Z2-2.pid.
func suffixed(p string, n int) string {
	ext := path.Ext(p)
	return strings.TrimSuffix(p, ext) + "-" + strconv.Itoa(n) + ext
}

// DeriveInstance makes instance n's config from zope.conf: its own HTTP
// port for each <http-server> (base-port + ListenerStride×k + n − 1 for
// the k-th, port-base folded in), pid file, lock file, event and access
// logs, and ZEO client cache names; everything else (ZEO server,
// storages, threads…) shared. Servers other than HTTP (FTP, WebDAV, ICP)
// stay with instance 1 only, since N instances cannot share their ports.
func DeriveInstance(zc *ZopeConf, n, basePort int) (Instance, []byte) {
	cfg := zc.Config.Clone()
	r := cfg.Root
	inst := Instance{N: n, ConfigPath: fmt.Sprintf("%s/zope-%d.conf", InstanceDir, n), RunzopePath: fmt.Sprintf("%s/runzope-%d", InstanceDir, n)}
	for k, l := range zc.HTTP {
		inst.Listeners = append(inst.Listeners, Listener{Host: l.Host, Port: basePort + ListenerStride*k + n - 1})
	}
	inst.Host, inst.Port = inst.Listeners[0].Host, inst.Listeners[0].Port
	r.Remove("port-base")
	var keep []*zconfig.Section
	k := 0
	for _, s := range r.Sections {
		switch s.Type {
		case "http-server":
			l := inst.Listeners[k]
			k++
			addr := strconv.Itoa(l.Port)
			if l.Host != "" {
				addr = net.JoinHostPort(l.Host, addr)
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
	inst.Socket = deriveRunner(zc, r, inst, n)
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

// deriveRunner gives instance n its own daemon manager: zopectl (Zope 2's
// zdctl) runs the <runner> program, by default $INSTANCE/bin/runzope with
// no arguments, which then reads etc/zope.conf itself, and talks to its
// daemon manager on the <runner> socket-name, by default
// $CLIENTHOME/zopectlsock; both would be shared by every instance (seen in
// Zope2/Startup/zopectl.py, 2.11 to 2.13). So the instance's config names
// its own runzope (RunzopePath) and its own socket. It returns the socket.
func deriveRunner(zc *ZopeConf, r *zconfig.Section, inst Instance, n int) string {
	var runner *zconfig.Section
	if rs := r.Children("runner"); len(rs) > 0 {
		runner = rs[0]
	} else {
		runner = &zconfig.Section{Type: "runner"}
		r.Sections = append(r.Sections, runner)
	}
	sock := runner.Value("socket-name", "")
	if sock == "" {
		sock = r.Value("clienthome", zc.InstanceHome+"/var") + "/zopectlsock"
	}
	sock = fmt.Sprintf("%s-%d", sock, n)
	runner.Set("socket-name", sock)
	runner.Remove("program")
	runner.Set("program", path.Join(zc.Home, inst.RunzopePath))
	return sock
}

// configFileRe finds the line of bin/runzope that sets CONFIG_FILE, in the
// skeleton's form (CONFIG_FILE="…") or the one Zenoss's upgrade scripts
// make of it ([ -z "$CONFIG_FILE" ] && CONFIG_FILE="…").
var configFileRe = regexp.MustCompile(`(?m)^[ \t]*(?:\[ -z "\$CONFIG_FILE" \] && )?CONFIG_FILE=.*$`)

// RunzopePath is the vendor script that starts Zope with a config file.
const RunzopePath = "bin/runzope"

// DeriveRunzope makes instance n's runzope from bin/runzope: the same
// script, with CONFIG_FILE set to the instance's config (conf, absolute).
func DeriveRunzope(runzope []byte, n int, conf string) ([]byte, error) {
	if strings.ContainsAny(conf, "\"$`\\\n") {
		return nil, fmt.Errorf("instance %d's config path %q holds a character a shell script cannot carry in double quotes", n, conf)
	}
	if !configFileRe.Match(runzope) {
		return nil, fmt.Errorf("%s sets no CONFIG_FILE: zenpatch cannot point it at instance %d's config", RunzopePath, n)
	}
	out := configFileRe.ReplaceAllLiteral(runzope, []byte(`CONFIG_FILE="`+conf+`"`))
	header := fmt.Sprintf("# Zope instance %d's runzope, derived by zenpatch from %s at every start. Do not edit.\n", n, RunzopePath)
	if i := bytes.IndexByte(out, '\n'); bytes.HasPrefix(out, []byte("#!")) && i >= 0 {
		return append(out[:i+1:i+1], append([]byte(header), out[i+1:]...)...), nil
	}
	return append([]byte(header), out...), nil
}

// RunzopeError says bin/runzope cannot be used to run an instance.
type RunzopeError struct{ Err error }

// Error implements error.
func (e *RunzopeError) Error() string { return e.Err.Error() }

// Unwrap returns the cause.
func (e *RunzopeError) Unwrap() error { return e.Err }

// Hint is the next step.
func (e *RunzopeError) Hint() string {
	return "each instance runs bin/runzope with its own CONFIG_FILE: restore bin/runzope from the Zenoss package, or set CONFIG_FILE on one line of it"
}

// WriteInstanceConfig derives instance n's config and its runzope and
// writes both atomically under var/zenpatch/instances.
func (i *Install) WriteInstanceConfig(zc *ZopeConf, n, basePort int) (Instance, error) {
	inst, data := DeriveInstance(zc, n, basePort)
	rz, err := i.ReadFile(RunzopePath)
	if err != nil {
		return inst, &RunzopeError{Err: fmt.Errorf("read %s: %w", RunzopePath, err)}
	}
	script, err := DeriveRunzope(rz, n, i.Abs(inst.ConfigPath))
	if err != nil {
		return inst, &RunzopeError{Err: err}
	}
	if err := txn.WriteFile(i.Root, inst.RunzopePath, script, 0o755); err != nil {
		return inst, err
	}
	return inst, txn.WriteFile(i.Root, inst.ConfigPath, data, 0o644)
}

// Abs makes a ZENHOME-relative path absolute.
func (i *Install) Abs(rel string) string { return path.Join(i.Home, rel) }
