package balancer

import (
	"slices"
	"time"
)

// Object affinity in the scheduler: a request with a key (KeyRules) goes
// to its key's home on the Ring unless the home is full, or busier than
// Factor × the average (Bound); then to the next backend in the key's
// ring order. Everything else stays as it is: the per-backend caps, the
// one FIFO queue (a free slot is never left idle while a request waits),
// health, slow start, drain and cookie affinity (a cookie wins over a
// key).
//
// What is new is how a slot freed on a backend is handed on (see
// dispatchKeyedLocked): to the first waiter that wants this backend (its
// key's home is here, or it has no key), else, only when the backend is
// about to idle, to the first waiter as before. Under saturation that is
// where affinity is won or lost: handed on FIFO, a queued request takes
// whichever slot frees first, half of them on the wrong instance of two
// (see the simulation in affinity_sim_test.go).

// KeyAffinity configures object affinity. Zero values take the defaults,
// chosen with the simulation in affinity_sim_test.go (bench/zenoss-ui.lua
// over two zodbzope.py instances of cap 4, 16 clients).
type KeyAffinity struct {
	Off bool // no keys: every request goes to the least busy backend
	// On, in the over argument of Config.Override, turns object affinity
	// back on where c has it off (a command line's "on" over a settings
	// file's "off"). Elsewhere it changes nothing.
	On bool
	// Rules give requests their keys; nil: DefaultKeyRules (Zenoss).
	Rules *KeyRules
	// Factor is the bounded-loads balance factor c ≥ 1: a key's home takes
	// it while the home's outstanding requests are under Bound (about
	// c × the average). Default DefaultBalanceFactor. It decides below
	// saturation; at saturation every backend is at its cap and the
	// hand-on of freed slots decides.
	Factor float64
	// MaxWait: a request that has waited this long for its key's home
	// takes any free slot. Default 50ms: it bounds the extra wait when one
	// instance's keys are much hotter, or it is slow; in the simulation
	// the longest waits were about 20 ms and it never came into play,
	// while 10 ms served 5–6 % less.
	MaxWait time.Duration
	// SpillBelow: a request goes elsewhere than its key's home (full, or
	// over the bound) only to a backend with fewer than this many requests
	// outstanding; otherwise it waits for its home. Default 1: only to an
	// idle backend. A GIL-bound Zope is fully busy with one request, and a
	// spilled request finds none of its objects cached and pushes others
	// out: spilling to any free slot served 3–4 % less (simulation). A value
	// of the caps or more spills to any free slot.
	SpillBelow int
}

// Defaults of KeyAffinity.
const (
	DefaultBalanceFactor = 1.25
	DefaultMaxWait       = 50 * time.Millisecond
	DefaultSpillBelow    = 1
)

// WithDefaults returns k with every zero field set to its default.
func (k KeyAffinity) WithDefaults() KeyAffinity {
	if k.Rules == nil {
		k.Rules = DefaultKeyRules()
	}
	if k.Factor == 0 {
		k.Factor = DefaultBalanceFactor
	}
	if k.MaxWait == 0 {
		k.MaxWait = DefaultMaxWait
	}
	if k.SpillBelow == 0 {
		k.SpillBelow = DefaultSpillBelow
	}
	return k
}

// affinity is the scheduler's object-affinity state, guarded by the
// balancer's mutex. A nil *affinity is affinity off.
type affinity struct {
	cfg  KeyAffinity
	ring *Ring // node i is the balancer's backends[i]
	// homeOnly sends a key to its home and nowhere else, waiting for it
	// while it is full: plain consistent hashing, for comparison in the
	// simulation only.
	homeOnly bool
	clock    func() time.Time // time.Now; the simulation's own clock
}

// newAffinity returns the state for cfg (nil when cfg.Off).
func newAffinity(cfg KeyAffinity) *affinity {
	if cfg.Off {
		return nil
	}
	return &affinity{cfg: cfg.WithDefaults(), ring: NewRing(nil, 0), clock: time.Now}
}

// setBackends places the backends on the ring by address, the identity
// under which SetBackends keeps a backend (and so its warm cache); call it
// whenever the balancer's backends change.
func (a *affinity) setBackends(bs []*Backend) {
	if a == nil {
		return
	}
	ids := make([]string, len(bs))
	for i, b := range bs {
		ids[i] = b.Addr
	}
	a.ring = NewRing(ids, 0)
}

// ready reports whether a routes by key for lb: it is on, and its ring
// is over lb's backends (setBackends was called since they changed; if
// not, no homes rather than wrong ones).
func (a *affinity) ready(lb *Balancer) bool {
	return a != nil && a.ring.Nodes() == len(lb.backends)
}

// requestKey is the hash of a request's key, and whether it has one.
func (a *affinity) requestKey(method string, path, contentType, body []byte) (uint64, bool) {
	if a == nil {
		return 0, false
	}
	return a.cfg.Rules.Hash(method, path, contentType, body)
}

// usable reports whether b takes new requests.
func usable(b *Backend) bool { return b.up && !b.draining }

// fits reports whether w may go to b (usable): a cookie preference that
// can be honoured allows only that backend; a backend that failed w is out.
func (w *waiter) fits(b *Backend) bool {
	if p := w.prefer; p != nil && usable(p) && w.accepts(p) {
		return b == p
	}
	return w.accepts(b)
}

// homeLocked is the home of a keyed waiter's key: the first usable backend
// in its ring order (one that failed this request included: a retry
// elsewhere is a spill), or nil.
func (lb *Balancer) homeLocked(a *affinity, w *waiter) *Backend {
	if !a.ready(lb) {
		return nil
	}
	for i := range a.ring.Walk(w.hash) {
		if b := lb.backends[i]; usable(b) {
			return b
		}
	}
	return nil
}

// pickKeyedLocked is pickLocked for a keyed waiter without a cookie
// preference. In the key's ring order, among the backends w may use: its
// home when it has a free slot and is under the bound; else the first
// other one with a free slot, under the bound and under SpillBelow; else
// the home if it has a free slot; else nil (w waits: dispatchKeyedLocked
// gives it its home's next free slot, or spills it when another backend
// runs low). It sets w.home.
func (lb *Balancer) pickKeyedLocked(a *affinity, w *waiter, now *time.Time) *Backend {
	w.home = false
	if !a.ready(lb) { // least outstanding, as without keys
		return lb.pickLocked(&waiter{exclude: w.exclude}, now)
	}
	n, total := 0, 0
	for _, b := range lb.backends {
		if usable(b) {
			n++
			total += b.outstanding
		}
	}
	bound := Bound(a.cfg.Factor, total, n)
	var home *Backend
	homeFree := false
	first := true
	for i := range a.ring.Walk(w.hash) {
		b := lb.backends[i]
		if !usable(b) {
			continue
		}
		isHome := first
		first = false
		if isHome && !w.accepts(b) { // a retry: its home failed it; anywhere
			return lb.pickLocked(&waiter{exclude: w.exclude}, now)
		}
		if !w.accepts(b) {
			continue
		}
		free := b.outstanding < lb.capLocked(b, now)
		if isHome {
			home, homeFree = b, free
			if free && (b.outstanding < bound || a.homeOnly) {
				w.home = true
				return b
			}
			if a.homeOnly {
				return nil
			}
			continue
		}
		if free && b.outstanding < bound && b.outstanding < a.cfg.SpillBelow {
			return b
		}
	}
	if homeFree {
		w.home = true
		return home
	}
	return nil
}

// dispatchKeyedLocked is dispatchLocked with object affinity. While slots
// are free, in two passes over the queue in FIFO order:
//
//  1. each waiter takes what it wants, if free: a keyed one its key's home
//     (a retry whose home failed it, or one that has waited MaxWait: any
//     backend); one with a cookie, or without a key, what pickLocked gives
//     it (least busy). A slot freed on a backend thus goes to the first
//     waiter whose home it is, however far back: the ones before it want
//     another backend, and lose nothing by it;
//  2. keyed waiters still waiting spill, in FIFO order, to the least busy
//     backend with fewer than SpillBelow requests (one about to idle).
//
// Granted waiters get w.home set. Without keys, and when a is not ready
// (nil, or its ring is stale), it grants what dispatchLocked grants; like
// it, it answers at once (nil) the waiters for which no backend is up.
func (lb *Balancer) dispatchKeyedLocked(a *affinity) {
	if len(lb.queue) == 0 {
		return
	}
	var now, clock time.Time // capLocked's clock; MaxWait's, read once if needed
	free := 0
	for _, b := range lb.backends {
		if usable(b) {
			free += max(0, lb.capLocked(b, &now)-b.outstanding)
		}
	}
	ready := a.ready(lb)
	anyUp := slices.ContainsFunc(lb.backends, func(b *Backend) bool { return b.up })
	for pass := 1; pass <= 2; pass++ {
		if pass == 2 && (free == 0 || !ready || a.homeOnly) {
			break
		}
		keep := lb.queue[:0]
		for _, w := range lb.queue {
			if pass == 1 && (!anyUp || len(w.exclude) > 0 && !lb.upFor(w)) {
				w.done = true // no instance up that it would take: answered at once
				w.ch <- nil
				continue
			}
			if free > 0 {
				var b *Backend
				home := false
				if pass == 1 {
					b, home = lb.wantedLocked(a, ready, w, &now, &clock)
				} else if w.keyed {
					b = lb.lowLocked(a, w, &now)
				}
				if b != nil {
					b.outstanding++
					w.home = home
					w.done = true
					w.ch <- b
					free--
					continue
				}
			}
			keep = append(keep, w)
		}
		clear(lb.queue[len(keep):])
		lb.queue = keep
	}
}

// wantedLocked is the backend w takes in the first pass of
// dispatchKeyedLocked, if any, and whether it is its key's home.
func (lb *Balancer) wantedLocked(a *affinity, ready bool, w *waiter, now, clock *time.Time) (*Backend, bool) {
	if !ready || !w.keyed {
		return lb.pickLocked(w, now), false
	}
	h := lb.homeLocked(a, w)
	if p := w.prefer; p != nil && usable(p) && w.accepts(p) { // the cookie wins
		b := lb.pickLocked(w, now)
		return b, b != nil && b == h
	}
	if h == nil {
		return nil, false
	}
	if !w.accepts(h) { // a retry: its home failed it; anywhere
		return lb.pickLocked(&waiter{exclude: w.exclude}, now), false
	}
	if h.outstanding < lb.capLocked(h, now) {
		return h, true
	}
	if a.homeOnly {
		return nil, false
	}
	if clock.IsZero() {
		*clock = a.clock()
	}
	if clock.Sub(w.since) >= a.cfg.MaxWait { // waited long enough: anywhere
		b := lb.pickLocked(&waiter{exclude: w.exclude}, now)
		return b, false
	}
	return nil, false
}

// lowLocked is the least busy backend w may use that has a free slot and
// fewer than SpillBelow requests, or nil.
func (lb *Balancer) lowLocked(a *affinity, w *waiter, now *time.Time) *Backend {
	var best *Backend
	for _, b := range lb.backends {
		if !usable(b) || !w.fits(b) || b.outstanding >= a.cfg.SpillBelow || b.outstanding >= lb.capLocked(b, now) {
			continue
		}
		if best == nil || b.outstanding < best.outstanding {
			best = b
		}
	}
	return best
}

// recordPick counts a request served by b: at its key's home, spilled to
// another backend, or without a key (keyed false). The proxy path calls it
// once per request answered.
func (lb *Balancer) recordPick(b *Backend, home, keyed bool) {
	switch {
	case !keyed:
		b.picks[pickNoKey].Add(1)
	case home:
		b.picks[pickHome].Add(1)
	default:
		b.picks[pickSpilled].Add(1)
	}
}

// Kinds of pick, counted per backend (Backend.picks).
const (
	pickHome    = iota // a keyed request at its key's home
	pickSpilled        // a keyed request elsewhere (home full, busy or failed)
	pickNoKey          // a request without a key
)
