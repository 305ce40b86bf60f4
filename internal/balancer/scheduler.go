package balancer

import (
	"context"
	"errors"
	"runtime"
	"time"
)

// Scheduling errors, answered 503 with Retry-After (ErrNoneUp: 502 when
// the request had reached an instance that failed it).
var (
	ErrQueueFull    = errors.New("balancer queue full")
	ErrQueueTimeout = errors.New("no Zope instance free in time")
	ErrNoneUp       = errors.New("no Zope instance up")
)

type waiter struct {
	ch      chan *Backend // receives the backend granted, or nil when none is up
	prefer  *Backend      // cookie affinity: wait for this one while it is up
	exclude []*Backend    // backends that already failed this request
	done    bool

	// Object affinity (affinity.go).
	hash  uint64    // the request's key, hashed (KeyRules.Hash)
	keyed bool      // it has a key
	since time.Time // when it was queued: MaxWait, and the wait acquireWait reports
	home  bool      // set when granted: the backend is its key's home
}

func (w *waiter) accepts(b *Backend) bool {
	for _, x := range w.exclude {
		if x == b {
			return false
		}
	}
	return true
}

// pickLocked returns the eligible backend with the fewest outstanding
// requests (ties go round-robin), or nil. prefer wins while it is up and
// not draining; if it is full, nil is returned so the request waits for it.
// now is read from the clock only when a backend is in its slow start.
func (lb *Balancer) pickLocked(w *waiter, now *time.Time) *Backend {
	if p := w.prefer; p != nil && p.up && !p.draining && w.accepts(p) {
		if p.outstanding < lb.capLocked(p, now) {
			if w.keyed && lb.aff.ready(lb) { // the cookie won: home if it is the key's
				w.home = p == lb.homeLocked(lb.aff, w)
			}
			return p
		}
		return nil
	}
	if w.keyed && lb.aff.ready(lb) {
		return lb.pickKeyedLocked(lb.aff, w, now)
	}
	var best *Backend
	n := len(lb.backends)
	for i := range n {
		b := lb.backends[(lb.rr+i)%n]
		if !b.up || b.draining || !w.accepts(b) || b.outstanding >= lb.capLocked(b, now) {
			continue
		}
		if best == nil || b.outstanding < best.outstanding {
			best = b
		}
	}
	if best != nil {
		lb.rr++
	}
	return best
}

// upFor says whether some backend that w would take is up (draining ones
// count: they are up, and an operator puts them back). When none is, w is
// answered at once rather than left to wait for QueueTimeout.
func (lb *Balancer) upFor(w *waiter) bool {
	for _, b := range lb.backends {
		if b.up && w.accepts(b) {
			return true
		}
	}
	return false
}

// capLocked is b's cap now (effCap). A finished ramp is forgotten, so that
// the clock is not read for it again; *now is read once, when first needed.
func (lb *Balancer) capLocked(b *Backend, now *time.Time) int {
	if lb.cfg.SlowStart <= 0 || b.upSince.IsZero() {
		return b.Cap
	}
	if now.IsZero() {
		*now = time.Now()
	}
	if now.Sub(b.upSince) >= lb.cfg.SlowStart || b.rampCap >= b.Cap {
		b.upSince = time.Time{}
		return b.Cap
	}
	return b.effCap(*now, lb.cfg.SlowStart)
}

// Slow start by what the instance shows: its cap doubles after each round
// of responses (as many as the cap, at least rampRound) whose moving average
// time is at most rampSlack times its peers' average. It answers at lower
// concurrency than they do, so a warm instance clears that at once; a cold
// one, whose first pages take many times longer, does not, and stays on the
// linear ramp over SlowStart until its times come down.
const (
	rampRound = 2
	rampSlack = 1.5
)

// rampLocked takes one response time d of b, in its slow start.
func (lb *Balancer) rampLocked(b *Backend, d time.Duration) {
	if b.upSince.IsZero() {
		return
	}
	if b.rampLat == 0 {
		b.rampLat = int64(d)
	} else {
		b.rampLat += (int64(d) - b.rampLat) / 4
	}
	if b.rampN++; b.rampN < max(rampRound, b.rampCap) {
		return
	}
	ref := lb.peerLatencyLocked(b)
	if ref == 0 || float64(b.rampLat) > rampSlack*float64(ref) {
		return // no peer to compare with, or slower than they are: the linear ramp
	}
	b.rampCap, b.rampN = min(2*b.rampCap, b.Cap), 0
	if b.rampCap >= b.Cap {
		lb.cfg.Logger.Info("backend at full cap", "backend", b.Name, "after", time.Since(b.upSince).Round(time.Millisecond),
			"latency_ms", float64(b.rampLat)/1e6, "peers_ms", float64(ref)/1e6)
		b.upSince = time.Time{}
	}
}

// peerLatencyLocked is the average response time of b's peers that are up
// and have answered (0: none has).
func (lb *Balancer) peerLatencyLocked(b *Backend) int64 {
	var sum, n int64
	for _, p := range lb.backends {
		if p == b || !p.up {
			continue
		}
		if l := p.latency.Load(); l > 0 {
			sum, n = sum+l, n+1
		}
	}
	if n == 0 {
		return 0
	}
	return sum / n
}

// acquireWait reserves a slot on a backend, waiting in the FIFO queue when
// all are full, and says how long the request waited there and whether the
// backend is its key's home (keyed: hash is the request's key).
func (lb *Balancer) acquireWait(ctx context.Context, hash uint64, keyed bool, prefer *Backend, exclude []*Backend) (*Backend, bool, time.Duration, error) {
	w := &waiter{prefer: prefer, exclude: exclude, hash: hash, keyed: keyed}
	lb.mu.Lock()
	if len(lb.queue) == 0 {
		var now time.Time
		if b := lb.pickLocked(w, &now); b != nil {
			b.outstanding++
			lb.mu.Unlock()
			return b, w.home, 0, nil
		}
	}
	if !lb.upFor(w) {
		lb.mu.Unlock()
		return nil, false, 0, ErrNoneUp
	}
	if len(lb.queue) >= lb.cfg.QueueSize {
		lb.mu.Unlock()
		lb.m.rejected.Inc()
		return nil, false, 0, ErrQueueFull
	}
	w.since = time.Now() // the wait's start: MaxWait, and the time waited
	w.ch = make(chan *Backend, 1)
	lb.queue = append(lb.queue, w)
	lb.dispatchLocked() // a slot may be free for this one (queue was not empty)
	lb.mu.Unlock()

	t := time.NewTimer(lb.cfg.QueueTimeout)
	defer t.Stop()
	select {
	case b := <-w.ch:
		if b == nil {
			return nil, false, time.Since(w.since), ErrNoneUp
		}
		return b, w.home, time.Since(w.since), nil
	case <-t.C:
	case <-ctx.Done():
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if w.done { // granted just as we gave up: hand the slot back
		if b := <-w.ch; b != nil {
			b.outstanding--
			lb.dispatchLocked()
		}
	} else {
		lb.removeLocked(w)
	}
	if ctx.Err() != nil {
		return nil, false, time.Since(w.since), ctx.Err()
	}
	lb.m.timeouts.Inc()
	return nil, false, time.Since(w.since), ErrQueueTimeout
}

func (lb *Balancer) removeLocked(w *waiter) {
	for i, x := range lb.queue {
		if x == w {
			lb.queue = append(lb.queue[:i], lb.queue[i+1:]...)
			return
		}
	}
}

// release frees a slot and hands it on; ok says b answered, in d (its
// slow start goes by that).
//
// When the slot went to a queued request, the caller yields: the waiter's
// goroutine was made to run next on this P, but would otherwise only run
// once the caller blocks, after it has written its own response to the
// client. Yielding sends the queued request to the Zope first, so that a
// Zope's thread waits the less for its next request (bench/interleave.sh,
// GIL-bound: the machine's idle share 3.2-3.9 % instead of 4.0-6.1 %, and
// 3 % more requests a second, 2026-11-29).
func (lb *Balancer) release(b *Backend, d time.Duration, ok bool) {
	lb.mu.Lock()
	b.outstanding--
	if ok && !b.upSince.IsZero() {
		lb.rampLocked(b, d)
	}
	queued := len(lb.queue)
	lb.dispatchLocked()
	handedOn := len(lb.queue) < queued
	lb.mu.Unlock()
	if handedOn {
		runtime.Gosched()
	}
}

// dispatchLocked grants free slots to waiters in FIFO order, and answers
// those for which no backend is up. A waiter held back by its affinity does
// not block the ones behind it.
func (lb *Balancer) dispatchLocked() {
	if len(lb.queue) == 0 {
		return
	}
	if lb.aff.ready(lb) {
		lb.dispatchKeyedLocked(lb.aff)
		return
	}
	var now time.Time
	keep := lb.queue[:0]
	full := false // no slot for a waiter without preferences: none for the others either
	for _, w := range lb.queue {
		plain := w.prefer == nil && len(w.exclude) == 0
		if full && plain {
			keep = append(keep, w)
			continue
		}
		if b := lb.pickLocked(w, &now); b != nil {
			b.outstanding++
			w.done = true
			w.ch <- b
			continue
		}
		if !lb.upFor(w) {
			w.done = true
			w.ch <- nil
			continue
		}
		full = full || plain
		keep = append(keep, w)
	}
	for i := len(keep); i < len(lb.queue); i++ {
		lb.queue[i] = nil
	}
	lb.queue = keep
}
