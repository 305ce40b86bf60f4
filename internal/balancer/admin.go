package balancer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// BackendStatus is one backend in Status.
type BackendStatus struct {
	Name         string  `json:"name"`
	Addr         string  `json:"addr"`
	State        State   `json:"state"`
	Outstanding  int     `json:"outstanding"`
	Cap          int     `json:"cap"`
	EffectiveCap int     `json:"effective_cap"`
	SlowStart    bool    `json:"slow_start"`
	Served       int64   `json:"served"`
	Errors       int64   `json:"errors"`
	LatencyMS    float64 `json:"latency_ms"` // moving average
	LastError    string  `json:"last_error,omitempty"`
}

// StatusReport is the balancer's state, as the admin API's /status.
type StatusReport struct {
	Backends []BackendStatus `json:"backends"`
	Queue    int             `json:"queue"`
}

// Status reports the balancer's state.
func (lb *Balancer) Status() StatusReport {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	now := time.Now()
	r := StatusReport{Queue: len(lb.queue)}
	for _, b := range lb.backends {
		ec := b.effCap(now, lb.cfg.SlowStart)
		r.Backends = append(r.Backends, BackendStatus{
			Name: b.Name, Addr: b.Addr, State: b.state(), Outstanding: b.outstanding,
			Cap: b.Cap, EffectiveCap: ec, SlowStart: b.up && ec < b.Cap,
			Served: b.served.Load(), Errors: b.errors.Load(),
			LatencyMS: float64(b.latency.Load()) / 1e6, LastError: b.lastErr,
		})
	}
	return r
}

func (lb *Balancer) find(name string) *Backend {
	for _, b := range lb.backends {
		if b.Name == name || b.Addr == name {
			return b
		}
	}
	return nil
}

// Drain stops new requests to backend name; it returns when its
// outstanding requests are done, or ctx ends.
func (lb *Balancer) Drain(ctx context.Context, name string) error {
	lb.mu.Lock()
	b := lb.find(name)
	if b == nil {
		lb.mu.Unlock()
		return fmt.Errorf("no backend %q", name)
	}
	b.draining = true
	lb.mu.Unlock()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		lb.mu.Lock()
		n := b.outstanding
		lb.mu.Unlock()
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("backend %s still has %d requests: %w", name, n, ctx.Err())
		case <-t.C:
		}
	}
}

// Undrain puts backend name back. The caller has seen it answer, so it is
// marked up at once; its slow start begins now.
func (lb *Balancer) Undrain(name string) error {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	b := lb.find(name)
	if b == nil {
		return fmt.Errorf("no backend %q", name)
	}
	b.draining = false
	b.up, b.failRun, b.okRun, b.upSince = true, 0, lb.cfg.Rise, time.Now()
	b.client.CloseIdleConnections() // a restarted instance: the old ones are dead
	lb.dispatchLocked()
	return nil
}

// AdminHandler serves the admin API: GET /status, POST /drain?backend=N
// [&wait=SECONDS], POST /undrain?backend=N, GET /metrics.
func (lb *Balancer) AdminHandler() http.Handler {
	lb.m.reg.MustRegister(gauges{lb})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, lb.Status())
	})
	mux.HandleFunc("POST /drain", func(w http.ResponseWriter, r *http.Request) {
		wait, _ := strconv.ParseFloat(r.URL.Query().Get("wait"), 64)
		ctx := r.Context()
		if wait > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, time.Duration(wait*float64(time.Second)))
			defer cancel()
		} else {
			var cancel context.CancelFunc
			ctx, cancel = context.WithCancel(ctx)
			cancel() // no wait: set draining and report
		}
		err := lb.Drain(ctx, r.URL.Query().Get("backend"))
		if err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		if err != nil && wait > 0 {
			writeJSON(w, http.StatusGatewayTimeout, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, lb.Status())
	})
	mux.HandleFunc("POST /undrain", func(w http.ResponseWriter, r *http.Request) {
		if err := lb.Undrain(r.URL.Query().Get("backend")); err != nil {
			writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, lb.Status())
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(lb.m.reg, promhttp.HandlerOpts{}))
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// ListenAdmin listens on a unix socket at path, readable by the owner
// only. A stale socket file from a dead balancer is replaced; a live one
// is an error.
func ListenAdmin(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("a balancer already answers on %s", path)
		}
		_ = os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// AdminClient talks to a balancer's admin socket.
func AdminClient(path string) *http.Client {
	return &http.Client{
		Timeout: 5 * time.Minute,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}
}
