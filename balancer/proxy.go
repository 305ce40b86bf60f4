package balancer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// maxRetryBody is the largest request body kept in memory so that the
// request can be sent again to another backend.
const maxRetryBody = 1 << 20

// roundTripper picks the backend for each request and retries by the
// rules in the package comment.
type roundTripper Balancer

func (rt *roundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	lb := (*Balancer)(rt)
	var prefer *Backend
	if lb.cfg.Affinity {
		prefer = lb.affinity(req)
	}
	resend := req.Body == nil || req.Body == http.NoBody
	if !resend && req.ContentLength >= 0 && req.ContentLength <= maxRetryBody {
		data, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(data))
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
		resend = true
	}
	var tried []*Backend
	for attempt := 0; ; attempt++ {
		b, err := lb.acquire(req.Context(), prefer, tried)
		if err != nil {
			if len(tried) > 0 && errors.Is(err, ErrQueueTimeout) {
				return nil, lastErr(tried)
			}
			return nil, err
		}
		out := req
		if attempt > 0 {
			out = req.Clone(req.Context())
			if req.GetBody != nil {
				out.Body, _ = req.GetBody()
			}
		}
		out.URL.Host = b.Addr
		start := time.Now()
		resp, err := lb.transport.RoundTrip(out)
		if err == nil {
			if lb.cfg.Affinity && (prefer != b) {
				setAffinity(resp, lb.cfg.CookieName, b.Name)
			}
			resp.Body = &releaseBody{ReadCloser: resp.Body, lb: lb, b: b, start: start}
			if c := resp.StatusCode / 100; c >= 1 && c <= 5 {
				b.classes[c].Inc()
			}
			return resp, nil
		}
		lb.release(b)
		b.errors.Add(1)
		b.classes[0].Inc()
		reached := !isDialError(err)
		if !reached {
			lb.passiveFail(b, err)
		}
		if errors.Is(err, context.Canceled) || req.Context().Err() != nil {
			return nil, err
		}
		tried = append(tried, b)
		lb.setLastErr(b, err)
		// Never reached: any method may go elsewhere. Reached: only an
		// idempotent one (the client has been sent nothing yet).
		if !resend || (reached && !idempotent(req.Method)) || len(tried) >= lb.count() {
			return nil, err
		}
		lb.m.retries.Inc()
		prefer = nil
	}
}

func (lb *Balancer) count() int {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return len(lb.backends)
}

func (lb *Balancer) setLastErr(b *Backend, err error) {
	lb.mu.Lock()
	b.lastErr = err.Error()
	lb.mu.Unlock()
}

func lastErr(tried []*Backend) error {
	return errors.New("no Zope instance answered (tried " + tried[len(tried)-1].Addr + " last)")
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// releaseBody frees the backend's slot when the proxy has read the
// response (or given up on it), and times the request.
type releaseBody struct {
	io.ReadCloser
	lb    *Balancer
	b     *Backend
	start time.Time
	once  sync.Once
}

func (r *releaseBody) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err == io.EOF {
		r.done()
	}
	return n, err
}

func (r *releaseBody) Close() error {
	err := r.ReadCloser.Close()
	r.done()
	return err
}

func (r *releaseBody) done() {
	r.once.Do(func() {
		r.b.observe(time.Since(r.start))
		r.lb.release(r.b)
	})
}

// affinity returns the backend named by the request's cookie, if any.
func (lb *Balancer) affinity(req *http.Request) *Backend {
	c, err := req.Cookie(lb.cfg.CookieName)
	if err != nil {
		return nil
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for _, b := range lb.backends {
		if b.Name == c.Value {
			return b
		}
	}
	return nil
}

func setAffinity(resp *http.Response, name, value string) {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
	resp.Header.Add("Set-Cookie", c.String())
}
