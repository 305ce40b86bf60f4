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
func (lb *Balancer) pickLocked(w *waiter, now time.Time) *Backend {
	if p := w.prefer; p != nil && p.up && !p.draining && w.accepts(p) {
		if p.outstanding < p.effCap(now, lb.cfg.SlowStart) {
			return p
		}
		return nil
	}
	var best *Backend
	n := len(lb.backends)
	for i := range n {
		b := lb.backends[(lb.rr+i)%n]
		if !b.up || b.draining || !w.accepts(b) || b.outstanding >= b.effCap(now, lb.cfg.SlowStart) {
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

// acquire reserves a slot on a backend, waiting in the FIFO queue when all
// are full.
func (lb *Balancer) acquire(ctx context.Context, prefer *Backend, exclude []*Backend) (*Backend, error) {
	w := &waiter{prefer: prefer, exclude: exclude}
	lb.mu.Lock()
	if len(lb.queue) == 0 {
		if b := lb.pickLocked(w, time.Now()); b != nil {
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
	now := time.Now()
	keep := lb.queue[:0]
	full := false // no slot for a waiter without preferences: none for the others either
	for _, w := range lb.queue {
		plain := w.prefer == nil && len(w.exclude) == 0
		if full && plain {
			keep = append(keep, w)
			continue
		}
		if b := lb.pickLocked(w, now); b != nil {
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
