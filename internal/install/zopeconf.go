package install

import (
	"fmt"
	"net"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/zenpatch/zenpatch/internal/zconfig"
)

// DefaultThreads is Zope's zserver-threads when zope.conf does not set it.
const DefaultThreads = 4

// ZopeConf is what zenpatch needs from etc/zope.conf.
type ZopeConf struct {
	Config *zconfig.Config

	Home         string // the install's absolute ZENHOME
	InstanceHome string // instancehome, default ZENHOME
	HTTPHost     string // the first <http-server>'s: "" = all interfaces (ip-address, else none)
	HTTPPort     int    // the first <http-server>'s, port-base already added
	// HTTP is every <http-server>, in order: the first is the one users
	// browse to; more are common (a second listener for internal tools).
	HTTP       []Listener
	Threads    int // zserver-threads (default 4)
	PidFile    string
	LockFile   string
	ZEOClients []string // <zeoclient> client names (persistent caches)
	Storage    string   // "zeo", "relstorage", "file" or "" (unknown)
}

// HTTPAddress is host:port of the first HTTP server ("" host → all
// interfaces).
func (z *ZopeConf) HTTPAddress() string { return z.HTTP[0].Address() }

// Listener is one <http-server> of zope.conf.
type Listener struct {
	Host string // "" = all interfaces
	Port int    // port-base already added
	Pos  string // where zope.conf sets it ("etc/zope.conf:25"); "" for an instance's
}

// Address is host:port ("" host → all interfaces).
func (l Listener) Address() string { return net.JoinHostPort(l.Host, strconv.Itoa(l.Port)) }

// ReadZopeConf parses etc/zope.conf and its %include files (which must stay
// inside ZENHOME).
func (i *Install) ReadZopeConf() (*ZopeConf, error) {
	cfg, err := zconfig.Parse(ZopeConfPath, func(name string) ([]byte, error) {
		rel, err := i.rel(name)
		if err != nil {
			return nil, err
		}
		return i.ReadFile(rel)
	})
	if err != nil {
		return nil, err
	}
	return i.zopeConf(cfg)
}

// rel maps a path from a config file to one relative to ZENHOME.
func (i *Install) rel(name string) (string, error) {
	if path.IsAbs(name) {
		r, err := filepath.Rel(i.Home, filepath.FromSlash(name))
		if err != nil || !filepath.IsLocal(r) {
			return "", fmt.Errorf("%s is outside ZENHOME %s", name, i.Home)
		}
		return filepath.ToSlash(r), nil
	}
	return name, nil
}

// zopeConf takes what zenpatch needs from a parsed zope.conf.
func (i *Install) zopeConf(cfg *zconfig.Config) (*ZopeConf, error) {
	root := cfg.Root
	z := &ZopeConf{Config: cfg, Home: i.Home, InstanceHome: root.Value("instancehome", i.Home)}
	inst := z.InstanceHome
	z.Threads = DefaultThreads
	if k := root.Get("zserver-threads"); k != nil {
		n, err := strconv.Atoi(k.Value)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s: zserver-threads %q: want a whole number ≥ 1", k.Pos, k.Value)
		}
		z.Threads = n
	}
	portBase := 0
	pb := root.Get("port-base")
	if pb != nil {
		n, err := strconv.Atoi(pb.Value)
		if err != nil || n < 0 || n > 65535 {
			return nil, fmt.Errorf("%s: port-base %q: want a whole number from 0 to 65535", pb.Pos, pb.Value)
		}
		portBase = n
	}
	servers := root.Children("http-server")
	if len(servers) == 0 {
		return nil, fmt.Errorf("%s: no <http-server> section: Zope serves no web UI here; add <http-server> with address 8080", ZopeConfPath)
	}
	for _, s := range servers {
		k := s.Get("address")
		if k == nil {
			return nil, fmt.Errorf("%s:%d: <http-server> has no address line; add 'address 8080'", s.Pos.File, s.Pos.Line)
		}
		host, port, err := ParseAddress(k.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: address %q: %v", k.Pos, k.Value, err)
		}
		if host == "" {
			host = root.Value("ip-address", "")
		}
		if port+portBase > 65535 {
			// Zope would fail to bind, and so would the balancer.
			return nil, &PortRangeError{
				Msg: fmt.Sprintf("%s: address %q plus port-base %d (%s) is port %d, past 65535", k.Pos, k.Value, portBase, pb.Pos, port+portBase),
				Fix: fmt.Sprintf("lower port-base (at most %d for this address) or the address in %s", 65535-port, ZopeConfPath),
			}
		}
		z.HTTP = append(z.HTTP, Listener{Host: host, Port: port + portBase, Pos: k.Pos.String()})
	}
	z.HTTPHost, z.HTTPPort = z.HTTP[0].Host, z.HTTP[0].Port
	z.PidFile = root.Value("pid-filename", inst+"/var/Z2.pid")
	z.LockFile = root.Value("lock-filename", inst+"/var/Z2.lock")
	root.Walk(func(s *zconfig.Section) {
		switch s.Type {
		case "zeoclient":
			z.Storage = "zeo"
			if c := s.Value("client", ""); c != "" {
				z.ZEOClients = append(z.ZEOClients, c)
			}
		case "relstorage":
			if z.Storage == "" {
				z.Storage = "relstorage"
			}
		case "filestorage":
			if z.Storage == "" {
				z.Storage = "file"
			}
		}
	})
	return z, nil
}

// ParseAddress reads a ZConfig socket address: "8080", ":8080",
// "host:8080" or "[::1]:8080".
func ParseAddress(s string) (host string, port int, err error) {
	s = strings.TrimSpace(s)
	p := s
	if strings.Contains(s, ":") {
		host, p, err = net.SplitHostPort(s)
		if err != nil {
			return "", 0, err
		}
	}
	port, err = strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return "", 0, fmt.Errorf("port %q: want 1-65535", p)
	}
	return host, port, nil
}
