package balancer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config tunes the balancer. Zero values take the defaults shown.
type Config struct {
	SlowStart      time.Duration // ramp of a fresh backend's cap; default 30s; <0 disables
	QueueSize      int           // waiting requests at most; default 1024
	QueueTimeout   time.Duration // longest wait for a slot, then 503; default 30s
	RetryAfter     time.Duration // Retry-After on 503; default 5s
	HealthPath     string        // GET path of active checks; default "/"
	HealthInterval time.Duration // default 2s
	HealthTimeout  time.Duration // default 2s (at most HealthInterval)
	Rise           int           // good checks to mark up; default 2
	Fall           int           // bad checks to mark down; default 3
	Affinity       bool          // cookie affinity (Zope temp_folder sessions); default off
	CookieName     string        // default "zenpatch_zope"
	DialTimeout    time.Duration // connect to a backend; default 3s
	BackendTimeout time.Duration // a backend's whole answer, from sending the request; default 300s (long Zenoss reports)
	// SpoolDir holds the spool files of bodies too big for memory (each
	// unlinked as soon as it is made). Set, it is the balancer's own: made
	// (mode 0700) and emptied of old spool files by New. Empty: the system's
	// temporary directory, left as it is.
	SpoolDir   string
	BodyMemory int64        // bytes of bodies held in memory at once; default 32 MiB
	SpoolLimit int64        // bytes of spool files at once; default 2 GiB
	Logger     *slog.Logger // default: discard
	// Keys is object affinity (affinity.go): on unless Keys.Off, with
	// Zenoss's key rules unless Keys.Rules is set.
	Keys KeyAffinity
}

// Defaults of Config, for those who show them (a front end's config).
const (
	DefaultSlowStart    = 30 * time.Second
	DefaultQueueSize    = 1024
	DefaultQueueTimeout = 30 * time.Second
)

// WithDefaults returns c with every zero field set to its default: the one
// place the balancer's defaults are set.
func (c Config) WithDefaults() Config {
	c.defaults()
	return c
}

// Override returns c with every non-zero field of over in its place (the
// command line over the settings file); Affinity is on if either has it;
// over's Keys.Off or Keys.On wins over c's Keys.Off.
func (c Config) Override(over Config) Config {
	dur := func(d *time.Duration, v time.Duration) {
		if v != 0 {
			*d = v
		}
	}
	dur(&c.SlowStart, over.SlowStart)
	dur(&c.QueueTimeout, over.QueueTimeout)
	dur(&c.RetryAfter, over.RetryAfter)
	dur(&c.HealthInterval, over.HealthInterval)
	dur(&c.HealthTimeout, over.HealthTimeout)
	dur(&c.DialTimeout, over.DialTimeout)
	dur(&c.BackendTimeout, over.BackendTimeout)
	for _, f := range []struct {
		dst *int
		v   int
	}{{&c.QueueSize, over.QueueSize}, {&c.Rise, over.Rise}, {&c.Fall, over.Fall}} {
		if f.v != 0 {
			*f.dst = f.v
		}
	}
	if over.HealthPath != "" {
		c.HealthPath = over.HealthPath
	}
	if over.CookieName != "" {
		c.CookieName = over.CookieName
	}
	if over.SpoolDir != "" {
		c.SpoolDir = over.SpoolDir
	}
	if over.BodyMemory != 0 {
		c.BodyMemory = over.BodyMemory
	}
	if over.SpoolLimit != 0 {
		c.SpoolLimit = over.SpoolLimit
	}
	if over.Logger != nil {
		c.Logger = over.Logger
	}
	c.Affinity = c.Affinity || over.Affinity
	switch {
	case over.Keys.Off:
		c.Keys.Off = true
	case over.Keys.On:
		c.Keys.Off = false
	}
	if over.Keys.Rules != nil {
		c.Keys.Rules = over.Keys.Rules
	}
	if over.Keys.Factor != 0 {
		c.Keys.Factor = over.Keys.Factor
	}
	if over.Keys.MaxWait != 0 {
		c.Keys.MaxWait = over.Keys.MaxWait
	}
	if over.Keys.SpillBelow != 0 {
		c.Keys.SpillBelow = over.Keys.SpillBelow
	}
	return c
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.SlowStart, DefaultSlowStart)
	if c.SlowStart < 0 {
		c.SlowStart = 0
	}
	if c.QueueSize == 0 {
		c.QueueSize = DefaultQueueSize
	}
	def(&c.QueueTimeout, DefaultQueueTimeout)
	def(&c.RetryAfter, 5*time.Second)
	if c.HealthPath == "" {
		c.HealthPath = "/"
	}
	def(&c.HealthInterval, 2*time.Second)
	def(&c.HealthTimeout, 2*time.Second)
	c.HealthTimeout = min(c.HealthTimeout, c.HealthInterval)
	if c.Rise == 0 {
		c.Rise = 2
	}
	if c.Fall == 0 {
		c.Fall = 3
	}
	if c.CookieName == "" {
		c.CookieName = "zenpatch_zope"
	}
	def(&c.DialTimeout, 3*time.Second)
	def(&c.BackendTimeout, 300*time.Second)
	if c.BodyMemory == 0 {
		c.BodyMemory = DefaultBodyMemory
	}
	if c.SpoolLimit == 0 {
		c.SpoolLimit = DefaultSpoolLimit
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Balancer is an http.Handler that spreads requests over backends.
type Balancer struct {
	cfg        Config
	mu         sync.Mutex
	backends   []*Backend
	queue      []*waiter
	rr         int
	health     *http.Client
	m          *metrics
	bodies     *bodyStore
	retryAfter string // Retry-After on 503, in seconds
	stopCheck  context.CancelFunc
	checks     sync.WaitGroup
	aff        *affinity // object affinity; nil: off
}

// New makes a balancer over specs. Backends start up (optimistically, so a
// restart of the balancer does not drop traffic) without slow start; Fall
// failed checks in a row, or one connect error, mark them down.
func New(cfg Config, specs []BackendSpec) (*Balancer, error) {
	cfg = cfg.WithDefaults()
	if cfg.SpoolDir != "" {
		if err := prepareSpool(cfg.SpoolDir); err != nil {
			return nil, err
		}
	}
	lb := &Balancer{cfg: cfg, m: newMetrics(), bodies: newBodyStore(cfg.SpoolDir, cfg.BodyMemory, cfg.SpoolLimit),
		retryAfter: strconv.Itoa(int(cfg.RetryAfter.Seconds())), aff: newAffinity(cfg.Keys)}
	lb.m.reg.MustRegister(gauges{lb})
	lb.health = &http.Client{
		Timeout:   cfg.HealthTimeout,
		Transport: &http.Transport{DisableKeepAlives: true, DialContext: (&net.Dialer{Timeout: cfg.HealthTimeout}).DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse // a Zope redirect to the login page is healthy
		},
	}
	if err := lb.SetBackends(specs); err != nil {
		return nil, err
	}
	return lb, nil
}

// SetBackends replaces the backend set (SIGHUP reload). Backends whose
// addresses are unchanged keep their state and connections; removed ones
// stop taking requests at once and finish what they have. Every backend
// has as many Extra addresses as the others.
func (lb *Balancer) SetBackends(specs []BackendSpec) error {
	if len(specs) == 0 {
		return errors.New("no backends")
	}
	seen := map[string]bool{}
	for i, s := range specs {
		for _, a := range append([]string{s.Addr}, s.Extra...) {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return fmt.Errorf("backend %q: want host:port", a)
			}
			if seen[a] {
				return fmt.Errorf("backend %s given twice", a)
			}
			seen[a] = true
		}
		if len(s.Extra) != len(specs[0].Extra) {
			return fmt.Errorf("backend %s has %d extra addresses, backend %s has %d: each backend needs one per extra listener", s.Addr, len(s.Extra), specs[0].Addr, len(specs[0].Extra))
		}
		if s.Name == "" {
			specs[i].Name = strconv.Itoa(i + 1)
		}
		if s.Cap <= 0 {
			specs[i].Cap = 4
		}
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	old := map[string]*Backend{}
	for _, b := range lb.backends {
		old[strings.Join(append([]string{b.Addr}, b.Extra...), ",")] = b
	}
	var next []*Backend
	for _, s := range specs {
		key := strings.Join(append([]string{s.Addr}, s.Extra...), ",")
		if b, ok := old[key]; ok {
			b.Name, b.Cap = s.Name, s.Cap
			next = append(next, b)
			delete(old, key)
			continue
		}
		b := &Backend{BackendSpec: s, up: true, addrs: append([]string{s.Addr}, s.Extra...)}
		for _, a := range b.addrs {
			b.upstreams = append(b.upstreams, newUpstream(a, lb.cfg.DialTimeout))
		}
		lb.m.register(b)
		next = append(next, b)
	}
	for _, b := range old {
		lb.m.unregister(b)
		b.closeIdle()
	}
	lb.backends = next
	lb.aff.setBackends(next)
	lb.dispatchLocked()
	return nil
}

// listeners is how many public listeners the backends have addresses for.
func (lb *Balancer) listeners() int {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return 1 + len(lb.backends[0].Extra)
}
