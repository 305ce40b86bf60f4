package balancer

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"
)

// The proxy path runs on fasthttp: on two cores shared with the Zopes, the
// balancer's CPU per request is taken from them, and fasthttp needs about
// half of net/http's (see README, "Balancer figures"). Requests and
// responses are buffered whole (MaxBody), so a backend's slot is freed as
// soon as the Zope has answered, however slowly the client reads.

// MaxBody is the largest request or response body the balancer carries.
const MaxBody = 256 << 20

// dialError marks a failure to connect: the request never reached the
// backend, so any method may be sent to another.
type dialError struct{ err error }

// Error implements error.
func (e *dialError) Error() string { return "connect: " + e.err.Error() }

// Unwrap returns the underlying error.
func (e *dialError) Unwrap() error { return e.err }

func isDialError(err error) bool {
	var de *dialError
	return errors.As(err, &de) || errors.Is(err, fasthttp.ErrDialTimeout)
}

// newClient is the connection pool to one backend. Retries on another
// backend are the balancer's business; the client only replaces a stale
// pooled connection. Whenever a backend restarts or fails, its idle
// connections are dropped (they lead to the old process).
func (lb *Balancer) newClient(addr string) *fasthttp.HostClient {
	d := &net.Dialer{Timeout: lb.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	return &fasthttp.HostClient{
		Addr: addr,
		Dial: func(a string) (net.Conn, error) {
			c, err := d.Dial("tcp", a)
			if err != nil {
				return nil, &dialError{err}
			}
			return c, nil
		},
		MaxConns:            1 << 16, // the balancer's caps limit concurrency
		MaxIdleConnDuration: 60 * time.Second,
		// One retry, on a fresh connection, only for an idempotent request
		// whose pooled keep-alive connection the backend had closed.
		MaxIdemponentCallAttempts: 2,
		RetryIfErr: func(req *fasthttp.Request, attempts int, err error) (bool, bool) {
			return false, attempts < 2 && idempotent(req.Header.Method()) &&
				(errors.Is(err, fasthttp.ErrConnectionClosed) || errors.Is(err, io.EOF))
		},
		ReadTimeout:              lb.cfg.BackendTimeout,
		WriteTimeout:             lb.cfg.BackendTimeout,
		MaxResponseBodySize:      MaxBody,
		ReadBufferSize:           MaxHeaderBytes,
		NoDefaultUserAgentHeader: true,
		DisablePathNormalizing:   true,
		// DisableHeaderNamesNormalizing stays off: response header names
		// are normalized ("keep-alive" becomes "Keep-Alive"), so that
		// stripResponseHopByHop finds them in any case.
	}
}

// hopByHop are the headers that concern one connection only (RFC 9110 7.6.1,
// RFC 2616 13.5.1).
var hopByHop = [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// serve proxies one request that came on the public listener.
func (lb *Balancer) serve(ctx *fasthttp.RequestCtx) { lb.serveOn(ctx, 0) }

// serveOn proxies one request that came on listener k (0: Server.Public,
// k: Server.Extra[k-1]) to the backend's address for that listener.
func (lb *Balancer) serveOn(ctx *fasthttp.RequestCtx, k int) {
	req := &ctx.Request
	closeAfter := req.Header.ConnectionClose()
	stripRequestHopByHop(&req.Header)
	// X-Forwarded-*: set from this connection; inbound values are replaced
	// so a client cannot forge its address.
	var ipb [64]byte
	req.Header.SetBytesV("X-Forwarded-For", appendIP(ipb[:0], ctx.RemoteIP()))
	noHost := len(req.Header.Host()) == 0 // HTTP/1.0 may have none
	if noHost {
		req.Header.Del("X-Forwarded-Host")
	} else {
		req.Header.SetBytesV("X-Forwarded-Host", req.Header.Host())
	}
	if ctx.IsTLS() {
		req.Header.Set("X-Forwarded-Proto", "https")
	} else {
		req.Header.Set("X-Forwarded-Proto", "http")
	}
	var prefer *Backend
	if lb.cfg.Affinity {
		prefer = lb.affinity(req.Header.Cookie(lb.cfg.CookieName))
	}
	idem := idempotent(req.Header.Method())
	var tried []*Backend
	for {
		b, err := lb.acquire(ctx, prefer, tried)
		if err != nil {
			if len(tried) > 0 && errors.Is(err, ErrQueueTimeout) {
				lb.badGateway(ctx)
			} else {
				lb.busy(ctx)
			}
			break
		}
		if noHost { // fasthttp's client sends none without one: the Zope's own address
			req.Header.SetHost(b.Addr)
		}
		start := time.Now()
		err = b.clients[k].Do(req, &ctx.Response)
		lb.release(b)
		if err == nil {
			b.observe(time.Since(start))
			if c := ctx.Response.StatusCode() / 100; c >= 1 && c <= 5 {
				b.classes[c].Inc()
			}
			stripResponseHopByHop(&ctx.Response.Header)
			if lb.cfg.Affinity && prefer != b {
				var ck fasthttp.Cookie
				ck.SetKey(lb.cfg.CookieName)
				ck.SetValue(b.Name)
				ck.SetPath("/")
				ck.SetHTTPOnly(true)
				ck.SetSameSite(fasthttp.CookieSameSiteLaxMode)
				ctx.Response.Header.SetCookie(&ck)
			}
			break
		}
		b.errors.Add(1)
		b.classes[0].Inc()
		reached := !isDialError(err)
		if !reached {
			lb.passiveFail(b, err)
		} else {
			lb.setLastErr(b, err)
		}
		tried = append(tried, b)
		// Never reached: any method may go elsewhere. Reached: only an
		// idempotent one; nothing has been sent to the client yet.
		if (reached && !idem) || len(tried) >= lb.count() {
			lb.cfg.Logger.Warn("proxy error", "method", string(req.Header.Method()), "path", string(req.URI().Path()), "backend", b.Name, "err", err)
			lb.badGateway(ctx)
			break
		}
		lb.m.retries.Inc()
		ctx.Response.Reset()
		prefer = nil
	}
	if closeAfter {
		ctx.SetConnectionClose()
	}
}

// busy answers 503 with Retry-After (queue full or timed out).
func (lb *Balancer) busy(ctx *fasthttp.RequestCtx) {
	ctx.Response.Reset()
	ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.Response.Header.Set("Retry-After", strconv.Itoa(int(lb.cfg.RetryAfter.Seconds())))
	ctx.SetBodyString("Zenoss is busy: every Zope instance is working on other requests. Try again shortly.\n")
}

// badGateway answers 502: the request could not be served by any backend.
func (lb *Balancer) badGateway(ctx *fasthttp.RequestCtx) {
	ctx.Response.Reset()
	ctx.SetStatusCode(fasthttp.StatusBadGateway)
	ctx.SetContentType("text/plain; charset=utf-8")
	ctx.SetBodyString("Bad gateway: the Zope instance did not answer.\n")
}

// stripRequestHopByHop and stripResponseHopByHop remove hop-by-hop
// headers and those the Connection header names. Header names are
// normalized on both sides (the server's requests and the client's
// responses), so "keep-alive" is found as "Keep-Alive". One pass over the
// headers, which does not allocate, finds which are there: usually none, or
// only Connection.
func stripRequestHopByHop(h *fasthttp.RequestHeader) {
	var s hopScan
	for k := range h.All() {
		s.see(k)
	}
	s.strip(h)
}

// stripResponseHopByHop: see stripRequestHopByHop.
func stripResponseHopByHop(h *fasthttp.ResponseHeader) {
	var s hopScan
	for k := range h.All() {
		s.see(k)
	}
	s.strip(h)
}

// hopScan records which hop-by-hop headers a header has.
type hopScan struct {
	found [len(hopByHop)]bool
	any   bool
}

func (s *hopScan) see(k []byte) {
	for i, x := range hopByHop {
		if string(k) == x {
			s.found[i], s.any = true, true
			return
		}
	}
}

// headers is what hopScan.strip needs of fasthttp's request and response
// headers.
type headers interface {
	Peek(string) []byte
	Del(string)
}

func (s *hopScan) strip(h headers) {
	if !s.any {
		return
	}
	if s.found[0] { // Connection: the headers it names go too
		for tok := range bytes.SplitSeq(h.Peek("Connection"), []byte(",")) {
			if t := bytes.TrimSpace(tok); len(t) > 0 && !bytes.EqualFold(t, []byte("close")) && !bytes.EqualFold(t, []byte("keep-alive")) {
				h.Del(string(t))
			}
		}
	}
	for i, k := range hopByHop {
		if s.found[i] {
			h.Del(k)
		}
	}
}

// appendIP appends ip's text form (IPv4-mapped addresses as IPv4).
func appendIP(dst []byte, ip net.IP) []byte {
	a, ok := netip.AddrFromSlice(ip)
	if !ok {
		return append(dst, ip.String()...)
	}
	return a.Unmap().AppendTo(dst)
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

func idempotent(method []byte) bool {
	switch string(method) {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// affinity returns the backend named by the affinity cookie's value.
func (lb *Balancer) affinity(value []byte) *Backend {
	if len(value) == 0 {
		return nil
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for _, b := range lb.backends {
		if b.Name == string(value) {
			return b
		}
	}
	return nil
}
