package balancer

import (
	"context"
	"io"
	"net/http"
	"time"
)

// Start runs the active health checks until ctx ends or Stop is called.
func (lb *Balancer) Start(ctx context.Context) {
	ctx, lb.stopCheck = context.WithCancel(ctx)
	lb.checks.Go(func() {
		t := time.NewTicker(lb.cfg.HealthInterval)
		defer t.Stop()
		// During slow start, caps grow with time: waiting requests are
		// re-dispatched a few times a second.
		ramp := time.NewTicker(100 * time.Millisecond)
		defer ramp.Stop()
		lb.checkAll(ctx)
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				lb.checkAll(ctx)
				lb.sweepIdle()
			case <-ramp.C:
				lb.mu.Lock()
				lb.dispatchLocked()
				lb.mu.Unlock()
			}
		}
	})
}

// Stop ends the health checks.
func (lb *Balancer) Stop() {
	if lb.stopCheck != nil {
		lb.stopCheck()
	}
	lb.checks.Wait()
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for _, b := range lb.backends {
		b.closeIdle()
	}
}

// sweepIdle drops pooled connections their Zope has closed, or idle too
// long.
func (lb *Balancer) sweepIdle() {
	lb.mu.Lock()
	bs := append([]*Backend(nil), lb.backends...)
	lb.mu.Unlock()
	now := time.Now()
	for _, b := range bs {
		for _, u := range b.upstreams {
			u.sweep(now)
		}
	}
}

func (lb *Balancer) checkAll(ctx context.Context) {
	lb.mu.Lock()
	bs := append([]*Backend(nil), lb.backends...)
	lb.mu.Unlock()
	done := make(chan struct{}, len(bs))
	for _, b := range bs {
		go func() {
			lb.record(b, lb.probe(ctx, b))
			done <- struct{}{}
		}()
	}
	for range bs {
		<-done
	}
}

// probe is one active check: GET HealthPath answered below 500.
func (lb *Balancer) probe(ctx context.Context, b *Backend) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.Addr+lb.cfg.HealthPath, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", "zenpatch-balancer-health")
	resp, err := lb.health.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 500 {
		return &statusError{resp.StatusCode}
	}
	return nil
}

type statusError struct{ code int }

// Error implements error.
func (e *statusError) Error() string { return "health check answered " + http.StatusText(e.code) }

// record applies one check result with rise/fall hysteresis.
func (lb *Balancer) record(b *Backend, err error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if err != nil {
		b.okRun, b.failRun = 0, b.failRun+1
		b.lastErr = err.Error()
		if b.up && b.failRun >= lb.cfg.Fall {
			b.up = false
			lb.cfg.Logger.Warn("backend down", "backend", b.Name, "addr", b.Addr, "err", err)
			lb.dispatchLocked() // the last one down: the waiting are answered
		}
		return
	}
	b.failRun, b.okRun = 0, b.okRun+1
	if !b.up && b.okRun >= lb.cfg.Rise {
		b.up = true
		b.startSlow(time.Now())
		b.closeIdle() // they lead to the process that went down
		lb.cfg.Logger.Info("backend up", "backend", b.Name, "addr", b.Addr, "slow_start", lb.cfg.SlowStart)
		lb.dispatchLocked()
	}
}

// passiveFail marks a backend down at once after a connect error: a Zope
// that refuses connections is not coming back within a request's time.
func (lb *Balancer) passiveFail(b *Backend, err error) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	b.lastErr = err.Error()
	b.okRun = 0
	b.closeIdle()
	if b.up {
		b.up = false
		lb.cfg.Logger.Warn("backend down (connect failed)", "backend", b.Name, "addr", b.Addr, "err", err)
		lb.dispatchLocked()
	}
}
