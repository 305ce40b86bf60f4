package balancer

import (
	"context"
	"errors"
	"time"
)

// Scheduling errors, answered 503 with Retry-After.
var (
	ErrQueueFull    = errors.New("balancer queue full")
	ErrQueueTimeout = errors.New("no Zope instance free in time")
)

type waiter struct {
	ch      chan *Backend // receives the backend granted
	prefer  *Backend      // cookie affinity: wait for this one while it is up
	exclude []*Backend    // backends that already failed this request
	done    bool

	// Object affinity (affinity.go).
	hash  uint64    // the request's key, hashed (KeyRules.Hash)
	keyed bool      // it has a key
	since time.Time // when it was queued: MaxWait
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
			return p
		}
		return nil
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

// capLocked is b's cap now (effCap). A finished ramp is forgotten, so that
// the clock is not read for it again; *now is read once, when first needed.
func (lb *Balancer) capLocked(b *Backend, now *time.Time) int {
	if lb.cfg.SlowStart <= 0 || b.upSince.IsZero() {
		return b.Cap
	}
	if now.IsZero() {
		*now = time.Now()
	}
	if now.Sub(b.upSince) >= lb.cfg.SlowStart {
		b.upSince = time.Time{}
		return b.Cap
	}
	return b.effCap(*now, lb.cfg.SlowStart)
}

// acquire reserves a slot on a backend, waiting in the FIFO queue when all
// are full.
func (lb *Balancer) acquire(ctx context.Context, prefer *Backend, exclude []*Backend) (*Backend, error) {
	w := &waiter{prefer: prefer, exclude: exclude}
	lb.mu.Lock()
	if len(lb.queue) == 0 {
		var now time.Time
		if b := lb.pickLocked(w, &now); b != nil {
			b.outstanding++
			lb.mu.Unlock()
			return b, nil
		}
	}
	if len(lb.queue) >= lb.cfg.QueueSize {
		lb.mu.Unlock()
		lb.m.rejected.Inc()
		return nil, ErrQueueFull
	}
	w.ch = make(chan *Backend, 1)
	lb.queue = append(lb.queue, w)
	lb.dispatchLocked() // a slot may be free for this one (queue was not empty)
	lb.mu.Unlock()

	t := time.NewTimer(lb.cfg.QueueTimeout)
	defer t.Stop()
	select {
	case b := <-w.ch:
		return b, nil
	case <-t.C:
	case <-ctx.Done():
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if w.done { // granted just as we gave up: hand the slot back
		b := <-w.ch
		b.outstanding--
		lb.dispatchLocked()
	} else {
		lb.removeLocked(w)
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	lb.m.timeouts.Inc()
	return nil, ErrQueueTimeout
}

func (lb *Balancer) removeLocked(w *waiter) {
	for i, x := range lb.queue {
		if x == w {
			lb.queue = append(lb.queue[:i], lb.queue[i+1:]...)
			return
		}
	}
}

// release frees a slot and hands it on.
func (lb *Balancer) release(b *Backend) {
	lb.mu.Lock()
	b.outstanding--
	lb.dispatchLocked()
	lb.mu.Unlock()
}

// dispatchLocked grants free slots to waiters in FIFO order. A waiter held
// back by its affinity does not block the ones behind it.
func (lb *Balancer) dispatchLocked() {
	if len(lb.queue) == 0 {
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
		full = full || plain
		keep = append(keep, w)
	}
	for i := len(keep); i < len(lb.queue); i++ {
		lb.queue[i] = nil
	}
	lb.queue = keep
}
