package install

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/zenpatch/zenpatch/internal/zconfig"
)

// SettingsPath is zenpatch's own optional settings file (ZConfig syntax).
const SettingsPath = "etc/zenpatch.conf"

// Settings are zenpatch's runtime settings, from etc/zenpatch.conf; every
// key is optional.
type Settings struct {
	BasePort     int           // base-port: instance i listens on BasePort+i-1; default zope.conf's port + 10000
	BasePortPos  string        // where base-port is set ("etc/zenpatch.conf:3"); "" when defaulted
	StartTimeout time.Duration // start-timeout (seconds): wait for an instance to answer HTTP; default 120
	StopTimeout  time.Duration // stop-timeout (seconds): wait for an instance to exit; default 60
	HealthPath   string        // health-path: URL path that answers < 500 when an instance is up; default "/"
	BalancerOff  bool          // balancer off: you run your own front end (see 'zenpatch frontend'); default on
	HookOff      bool          // hook off: upgrades run 'zenpatch upgrade' some other way (configuration management), so verify does not ask for the yum/dnf hook; default on
	// Balancer settings, in a <balancer> section.
	Balancer BalancerSettings
}

// BalancerSettings are the <balancer> section of etc/zenpatch.conf. A zero
// field is a key not given: the balancer's own default applies (see
// balancer.Config, where each default is set once).
type BalancerSettings struct {
	Listen         string        // listen: default zope.conf's HTTP address
	HealthInterval time.Duration // health-interval (seconds): default 2
	Rise, Fall     int           // rise/fall: consecutive checks to mark up/down; default 2 and 3
	SlowStart      time.Duration // slow-start (seconds): ramp of a fresh instance; default 30
	QueueSize      int           // queue-size: waiting requests at most; default 1024
	QueueTimeout   time.Duration // queue-timeout (seconds): then 503; default 30
	Affinity       bool          // cookie-affinity on|off: default off
	Procs          int           // procs: most CPUs the balancer's Go code uses at once (GOMAXPROCS; one while light); 0 = zenpatch's default (2)
	// ObjectAffinity is the <affinity> section inside <balancer> (affinity.go).
	ObjectAffinity AffinitySettings
}

// ReadSettings reads etc/zenpatch.conf (missing: defaults); the HTTP port
// of zope.conf gives the default base port. Balancer keys not given stay
// zero.
func (i *Install) ReadSettings(zc *ZopeConf) (*Settings, error) {
	s := &Settings{BasePort: zc.HTTPPort + 10000, StartTimeout: 120 * time.Second, StopTimeout: 60 * time.Second, HealthPath: "/"}
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
				return &zconfig.Error{Pos: k.Pos, Msg: fmt.Sprintf("%s %q: want a whole number from %d to %d", key, k.Value, lo, hi)}
			}
			*dst = n
		}
		return nil
	}
	secs := func(sec *zconfig.Section, key string, dst *time.Duration) error {
		if k := sec.Get(key); k != nil {
			f, err := strconv.ParseFloat(k.Value, 64)
			if err != nil || !(f >= 0.1 && f <= 86400) { // also refuses NaN
				return &zconfig.Error{Pos: k.Pos, Msg: fmt.Sprintf("%s %q: want seconds from 0.1 to 86400", key, k.Value)}
			}
			*dst = time.Duration(f * float64(time.Second))
		}
		return nil
	}
	if err := knownKeys(r, rootKeys, "balancer", "affinity"); err != nil { // <affinity> at the top gets its own error below
		return nil, err
	}
	for _, b := range r.Children("balancer") {
		if err := knownKeys(b, balancerKeys, "affinity"); err != nil {
			return nil, err
		}
	}
	if err := num(r, "base-port", 1, 65535, &s.BasePort); err != nil {
		return nil, err
	}
	if k := r.Get("base-port"); k != nil {
		s.BasePortPos = k.Pos.String()
	}
	for key, dst := range map[string]*time.Duration{"start-timeout": &s.StartTimeout, "stop-timeout": &s.StopTimeout} {
		if err := secs(r, key, dst); err != nil {
			return nil, err
		}
	}
	if k := r.Get("health-path"); k != nil {
		if !strings.HasPrefix(k.Value, "/") {
			return nil, &zconfig.Error{Pos: k.Pos, Msg: fmt.Sprintf("health-path %q: want a path starting with /", k.Value)}
		}
		s.HealthPath = k.Value
	}
	for key, dst := range map[string]*bool{"balancer": &s.BalancerOff, "hook": &s.HookOff} {
		if k := r.Get(key); k != nil {
			on, err := onOff(k)
			if err != nil {
				return nil, err
			}
			*dst = !on
		}
	}
	if a := r.Children("affinity"); len(a) > 0 {
		return nil, &zconfig.Error{Pos: a[0].Pos, Msg: "<affinity> belongs inside <balancer>"}
	}
	for _, b := range r.Children("balancer") {
		bs := &s.Balancer
		switch a := b.Children("affinity"); len(a) {
		case 0:
		case 1:
			if bs.ObjectAffinity, err = readAffinity(a[0]); err != nil {
				return nil, err
			}
		default:
			return nil, &zconfig.Error{Pos: a[1].Pos, Msg: fmt.Sprintf("a second <affinity> (the first is at line %d): one is enough", a[0].Pos.Line)}
		}
		if k := b.Get("listen"); k != nil {
			if _, _, err := ParseAddress(k.Value); err != nil || !strings.Contains(k.Value, ":") {
				return nil, &zconfig.Error{Pos: k.Pos, Msg: fmt.Sprintf("listen %q: want host:port (or :port)", k.Value)}
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
		if err := num(b, "queue-size", 1, 1<<20, &bs.QueueSize); err != nil {
			return nil, err
		}
		if err := num(b, "procs", 1, 1024, &bs.Procs); err != nil {
			return nil, err
		}
		if k := b.Get("cookie-affinity"); k != nil {
			on, err := onOff(k)
			if err != nil {
				return nil, err
			}
			bs.Affinity = on
		}
	}
	return s, nil
}

// onOff reads an on/off key (also yes/no, true/false).
func onOff(k *zconfig.Key) (bool, error) {
	switch strings.ToLower(k.Value) {
	case "on", "yes", "true":
		return true, nil
	case "off", "no", "false":
		return false, nil
	}
	return false, &zconfig.Error{Pos: k.Pos, Msg: fmt.Sprintf("%s %q: want on or off", k.Name, k.Value)}
}

// The keys etc/zenpatch.conf knows, at the top and in <balancer>.
var (
	rootKeys     = []string{"base-port", "start-timeout", "stop-timeout", "health-path", "balancer", "hook"}
	balancerKeys = []string{"listen", "health-interval", "rise", "fall", "slow-start", "queue-size", "queue-timeout", "cookie-affinity", "procs"}
)

// knownKeys refuses a key or section a settings file does not know (a
// typo would otherwise be ignored in silence).
func knownKeys(sec *zconfig.Section, keys []string, sections ...string) error {
	for _, k := range sec.Keys {
		if !slices.Contains(keys, k.Name) {
			return &zconfig.Error{Pos: k.Pos, Msg: fmt.Sprintf("unknown key %q here (known: %s)", k.Name, strings.Join(keys, ", "))}
		}
	}
	for _, c := range sec.Sections {
		if !slices.Contains(sections, c.Type) {
			return &zconfig.Error{Pos: c.Pos, Msg: fmt.Sprintf("unknown section <%s> here", c.Type)}
		}
	}
	return nil
}
