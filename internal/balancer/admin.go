package balancer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// BackendStatus is one backend in Status.
type BackendStatus struct {
	Name         string       `json:"name"`
	Addr         string       `json:"addr"`
	State        BackendState `json:"state"`
	Outstanding  int          `json:"outstanding"`
	Cap          int          `json:"cap"`
	EffectiveCap int          `json:"effective_cap"`
	SlowStart    bool         `json:"slow_start"`
	Served       int64        `json:"served"`
	Errors       int64        `json:"errors"`
	LatencyMS    float64      `json:"latency_ms"` // moving average
	LastError    string       `json:"last_error,omitempty"`

	// Object affinity (affinity.go): requests served here with a key whose
	// home this is, with a key whose home is another (spilled: that one
	// was full, busy, down or failed), and without a key.
	Home    int64 `json:"home"`
	Spilled int64 `json:"spilled"`
	NoKey   int64 `json:"no_key"`
}

// StatusReport is the balancer's state, as the admin API's /status.
type StatusReport struct {
	Backends []BackendStatus `json:"backends"`
	Queue    int             `json:"queue"`

	// Object affinity, over the backends listed: the share of requests
	// served that had a key, and of those the share served at their key's
	// home (0 before any).
	KeyedShare float64 `json:"keyed_share"`
	HomeShare  float64 `json:"home_share"`
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
			Home: b.picks[pickHome].Load(), Spilled: b.picks[pickSpilled].Load(), NoKey: b.picks[pickNoKey].Load(),
		})
	}
	r.KeyedShare, r.HomeShare = r.shares()
	return r
}

// shares computes StatusReport's KeyedShare and HomeShare.
func (r *StatusReport) shares() (keyed, home float64) {
	var h, s, n int64
	for _, b := range r.Backends {
		h, s, n = h+b.Home, s+b.Spilled, n+b.NoKey
	}
	if h+s+n > 0 {
		keyed = float64(h+s) / float64(h+s+n)
	}
	if h+s > 0 {
		home = float64(h) / float64(h+s)
	}
	return keyed, home
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
	b.up, b.failRun, b.okRun = true, 0, lb.cfg.Rise
	b.startSlow(time.Now())
	b.closeIdle() // a restarted instance: the old ones are dead
	lb.dispatchLocked()
	return nil
}

// AdminHandler serves the admin API: GET /status, POST /drain?backend=N
// [&wait=SECONDS], POST /undrain?backend=N, GET /metrics. AdminClient is
// its client.
func (lb *Balancer) AdminHandler() http.Handler {
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

// AdminClient talks to a running balancer's admin API over its unix
// socket: the client side of AdminHandler.
type AdminClient struct {
	Path string // the socket
	http *http.Client
}

// NewAdminClient returns a client for the admin socket at path.
func NewAdminClient(path string) *AdminClient {
	return &AdminClient{Path: path, http: &http.Client{
		Timeout: 5 * time.Minute, // a drain waits for in-flight requests
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}},
	}}
}

// Status asks for the balancer's state (GET /status).
func (a *AdminClient) Status(ctx context.Context) (*StatusReport, error) {
	var st StatusReport
	return &st, a.call(ctx, http.MethodGet, "status", nil, &st)
}

// Drain stops new requests to backend name and, with wait > 0, waits up to
// that long for its in-flight requests (POST /drain).
func (a *AdminClient) Drain(ctx context.Context, name string, wait time.Duration) error {
	q := url.Values{"backend": {name}}
	if wait > 0 {
		q.Set("wait", strconv.FormatFloat(wait.Seconds(), 'f', -1, 64))
	}
	return a.call(ctx, http.MethodPost, "drain", q, nil)
}

// Undrain puts backend name back (POST /undrain).
func (a *AdminClient) Undrain(ctx context.Context, name string) error {
	return a.call(ctx, http.MethodPost, "undrain", url.Values{"backend": {name}}, nil)
}

// Metrics returns the Prometheus exposition text (GET /metrics).
func (a *AdminClient) Metrics(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://balancer/metrics", nil)
	if err != nil {
		return "", err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func (a *AdminClient) call(ctx context.Context, method, action string, q url.Values, out any) error {
	u := "http://balancer/" + action
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return err
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("balancer %s: %s", action, e.Error)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
