// Package loadtest sends a steady HTTP load (a fixed number of keep-alive
// connections, each sending its next request as soon as the last is
// answered) and reports requests per second, latency percentiles and
// failures. The demo and the end-to-end tests use it; it is bounded in
// time and targets only the URL it is given.
package loadtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config of a run.
type Config struct {
	URL      string
	Conns    int           // concurrent connections; default 16
	Duration time.Duration // default 5s; the run also ends with ctx
	Timeout  time.Duration // per request; default 10s
	// Progress, when set, is called about every Every with the figures
	// so far.
	Progress func(Result)
	Every    time.Duration // default 1s
}

// Result is what a run measured.
type Result struct {
	Requests int64            // answered 2xx/3xx
	Failures int64            // transport errors and 5xx answers
	ByKind   map[string]int64 // failures by kind ("503", "connection refused"…)
	Elapsed  time.Duration
	P50, P99 time.Duration
	Max      time.Duration
}

// RPS is answered requests per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// String implements fmt.Stringer.
func (r Result) String() string {
	return fmt.Sprintf("%.0f req/s, p50 %s, p99 %s, %d failed", r.RPS(), r.P50.Round(100*time.Microsecond), r.P99.Round(100*time.Microsecond), r.Failures)
}

type recorder struct {
	mu       sync.Mutex
	lat      []time.Duration
	byKind   map[string]int64
	ok, fail atomic.Int64
	start    time.Time
}

func (rec *recorder) result() Result {
	rec.mu.Lock()
	lat := slices.Clone(rec.lat)
	kinds := make(map[string]int64, len(rec.byKind))
	for k, v := range rec.byKind {
		kinds[k] = v
	}
	rec.mu.Unlock()
	slices.Sort(lat)
	r := Result{Requests: rec.ok.Load(), Failures: rec.fail.Load(), ByKind: kinds, Elapsed: time.Since(rec.start)}
	if n := len(lat); n > 0 {
		r.P50, r.P99, r.Max = lat[n/2], lat[min(n-1, n*99/100)], lat[n-1]
	}
	return r
}

// Run sends the load and returns the figures.
func Run(ctx context.Context, cfg Config) Result {
	if cfg.Conns <= 0 {
		cfg.Conns = 16
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 5 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Duration)
	defer cancel()
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second}).DialContext,
		MaxIdleConnsPerHost: cfg.Conns, MaxConnsPerHost: cfg.Conns, DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	rec := &recorder{byKind: map[string]int64{}, start: time.Now()}
	var wg sync.WaitGroup
	for range cfg.Conns {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL, nil)
				t0 := time.Now()
				resp, err := client.Do(req)
				kind := ""
				if err != nil {
					if ctx.Err() != nil {
						return // the run ended mid-request: not a failure
					}
					kind = errKind(err)
				} else {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					switch {
					case err != nil && ctx.Err() != nil:
						return
					case err != nil:
						kind = errKind(err)
					case resp.StatusCode >= 500:
						kind = fmt.Sprint(resp.StatusCode)
					}
				}
				d := time.Since(t0)
				rec.mu.Lock()
				if kind != "" {
					rec.byKind[kind]++
				} else {
					rec.lat = append(rec.lat, d)
				}
				rec.mu.Unlock()
				if kind != "" {
					rec.fail.Add(1)
					time.Sleep(10 * time.Millisecond) // do not spin on a dead target
				} else {
					rec.ok.Add(1)
				}
			}
		})
	}
	if cfg.Progress != nil {
		wg.Go(func() {
			t := time.NewTicker(cfg.Every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					cfg.Progress(rec.result())
				}
			}
		})
	}
	wg.Wait()
	return rec.result()
}

func errKind(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Op + ": " + op.Err.Error()
	}
	return err.Error()
}
