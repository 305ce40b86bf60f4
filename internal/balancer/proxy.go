package balancer

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The proxy path runs on the standard library's HTTP/1 parsers: a
// connection loop of the balancer's own around http.ReadRequest in front
// (serve.go, with the checks of framing.go on each connection), and to each backend
// address a pool of connections spoken to with net/http's own request
// writer and response reader (upstream.go). Request bodies are read whole before an
// instance is chosen and responses whole before the client gets them (in
// memory or spooled, see body.go), so an instance's slot is freed as soon as
// the Zope has answered, however slowly the client reads, and a request can
// be sent again when that is safe.

// dialError marks a failure to connect: the request never reached the
// backend, so any method may be sent to another.
type dialError struct{ err error }

// Error implements error.
func (e *dialError) Error() string { return "connect: " + e.err.Error() }

// Unwrap returns the underlying error.
func (e *dialError) Unwrap() error { return e.err }

func isDialError(err error) bool {
	var de *dialError
	return errors.As(err, &de)
}

// hopByHop are the headers that concern one connection only (RFC 9110 7.6.1,
// RFC 2616 13.5.1), as net/http spells them (it canonicalizes names on both
// sides, so "keep-alive" arrives as "Keep-Alive").
var hopByHop = [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

func isHopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// Header values shared by every request (net/http only reads them).
var (
	valHTTP      = []string{"http"}
	valHTTPS     = []string{"https"}
	valPlainText = []string{"text/plain; charset=utf-8"}
	valClose     = []string{"close"}
)

// goneCheckAfter is how long a request waits in the queue before the
// balancer checks, as it leaves, that its client is still there (users
// give up after seconds, not milliseconds; the check is a system call).
const goneCheckAfter = 100 * time.Millisecond

// queueLeaver is a queue context (see queueCtx) that watches the client
// while its request waits in the queue, until told the request left it.
type queueLeaver interface{ leftQueue() }

// ServeHTTP proxies a request as if it came on the public listener.
func (lb *Balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lb.serve(r.Context(), w, r, 0, nil)
}

// serve proxies one request that came on listener k over client
// connection cc (nil: not known), waiting in the queue with ctx (which
// ends when the client goes).
func (lb *Balancer) serve(ctx context.Context, w http.ResponseWriter, r *http.Request, k int, cc *clientConn) {
	ip := ""
	if cc != nil {
		cc.inHandler.Store(true)
		defer cc.inHandler.Store(false)
		if f := cc.fr.takeHead(); f != 0 {
			lb.cfg.Logger.Debug("request refused", "client", cc.ip, "why", f.String())
			answer(w, http.StatusBadRequest, "Bad request.\n", true, "")
			return
		}
		ip = cc.ip
	} else {
		ip = clientIP(r.RemoteAddr)
	}
	if r.Method == http.MethodConnect {
		answer(w, http.StatusMethodNotAllowed, "Method not allowed.\n", true, "")
		return
	}
	rb := body{st: lb.bodies}
	defer rb.release()
	if r.ContentLength != 0 && !lb.readRequestBody(w, r, &rb) {
		return
	}

	h := r.Header
	stripHopByHop(h)
	delete(h, "Expect") // 100-continue: net/http answered it as the body was read
	// X-Forwarded-*: set from this connection; inbound values are replaced
	// so a client cannot forge its address.
	h["X-Forwarded-For"] = []string{ip}
	host := r.Host // HTTP/1.0 may have none: then the instance's address
	if host == "" {
		delete(h, "X-Forwarded-Host")
	} else {
		h["X-Forwarded-Host"] = []string{host}
	}
	if r.TLS != nil {
		h["X-Forwarded-Proto"] = valHTTPS
	} else {
		h["X-Forwarded-Proto"] = valHTTP
	}
	out := &http.Request{
		Method: r.Method, URL: targetURL(r), Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Host: host, ContentLength: rb.n,
	}

	var prefer *Backend
	if lb.cfg.Affinity {
		if c, err := r.Cookie(lb.cfg.CookieName); err == nil {
			prefer = lb.affinity(c.Value)
		}
	}
	idem := idempotent(r.Method)
	var hash uint64
	keyed := false
	if lb.aff != nil {
		var keyBody []byte // a key in the body only when it is in memory (small)
		if rb.f == nil {
			keyBody = rb.buf
		}
		hash, keyed = lb.aff.requestKey(r.Method, []byte(r.URL.Path), []byte(h.Get("Content-Type")), keyBody)
	}
	rs := body{st: lb.bodies}
	defer rs.release()
	var tried []*Backend
	reached := false
	for {
		b, home, waited, err := lb.acquireWait(ctx, hash, keyed, prefer, tried)
		if q, ok := ctx.(queueLeaver); ok {
			q.leftQueue() // no more checks on the client while a Zope works
		}
		if err == nil && waited >= goneCheckAfter && cc != nil && cc.gone() {
			// Its client went away while it waited: no Zope works on it.
			lb.release(b, 0, false)
			lb.m.abandoned.Inc()
			panic(http.ErrAbortHandler) // no answer: the connection is closed
		}
		if err != nil {
			switch {
			case ctx.Err() != nil: // the client went away while it waited
				// No answer, the connection closed: a client that only
				// shut its sending side must not take an empty 200 for
				// the answer (nginx closes too, and logs 499).
				lb.m.abandoned.Inc()
				panic(http.ErrAbortHandler)
			case errors.Is(err, ErrNoneUp) && !reached:
				lb.unavailable(w)
			case errors.Is(err, ErrNoneUp), len(tried) > 0 && errors.Is(err, ErrQueueTimeout):
				lb.badGateway(w)
			default:
				lb.busy(w)
			}
			return
		}
		addr := b.addrs[k]
		out.URL.Host = addr
		if host == "" {
			out.Host = addr
		}
		start := time.Now()
		resp, done, err := b.upstreams[k].exchange(out, &rb, idem, &rs, start.Add(lb.cfg.BackendTimeout))
		if err == nil || errors.Is(err, errNoSpool) {
			var ck *http.Cookie
			if lb.cfg.Affinity && prefer != b {
				ck = &http.Cookie{Name: lb.cfg.CookieName, Value: b.Name, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode}
			}
			if err == nil {
				done()
				d := time.Since(start)
				lb.release(b, d, true)
				b.answered(resp.StatusCode, d)
				lb.recordPick(b, home, keyed)
				lb.respond(w, r, resp, &rs, ck)
				return
			}
			// no room to hold the rest: sent on as it comes, the slot held
			lb.cfg.Logger.Warn("response streamed: no spool room", "backend", b.Name, "err", err)
			lb.stream(w, r, resp, &rs, ck, func() {
				done()
				d := time.Since(start)
				lb.release(b, d, true)
				b.answered(resp.StatusCode, d)
				lb.recordPick(b, home, keyed)
			})
			return
		}
		done()
		lb.release(b, 0, false)
		rs.release()
		b.errors.Add(1)
		b.classes[0].Inc()
		hit := !isDialError(err)
		if hit {
			reached = true
			lb.setLastErr(b, err)
		} else {
			lb.passiveFail(b, err)
		}
		tried = append(tried, b)
		// Never reached: any method may go elsewhere. Reached: only an
		// idempotent one (nothing has been sent to the client yet), and not
		// when the answer itself was the trouble.
		if (hit && (!idem || errors.Is(err, errBodyTooLarge))) || len(tried) >= lb.count() {
			lb.cfg.Logger.Warn("proxy error", "method", r.Method, "path", r.URL.Path, "backend", b.Name, "err", err)
			lb.badGateway(w)
			return
		}
		lb.m.retries.Inc()
		prefer = nil
	}
}

// readRequestBody reads the request's body into rb (within ReadTimeout,
// at most MaxBody); on failure it answers the client and returns false.
func (lb *Balancer) readRequestBody(w http.ResponseWriter, r *http.Request, rb *body) bool {
	if r.ContentLength > MaxBody {
		answer(w, http.StatusRequestEntityTooLarge, "Request body too large.\n", true, "")
		return false
	}
	dl, _ := w.(interface{ SetReadDeadline(time.Time) error })
	if dl != nil {
		_ = dl.SetReadDeadline(time.Now().Add(ReadTimeout))
	}
	err := rb.fill(r.Body, r.ContentLength, MaxBody)
	if dl != nil {
		_ = dl.SetReadDeadline(time.Time{})
	}
	if err == nil {
		return true
	}
	var ne net.Error
	switch {
	case errors.Is(err, errBodyTooLarge):
		answer(w, http.StatusRequestEntityTooLarge, "Request body too large.\n", true, "")
	case errors.As(err, &ne) && ne.Timeout():
		answer(w, http.StatusRequestTimeout, "Request timeout.\n", true, "")
	case errors.Is(err, errNoSpool), errors.Is(err, errSpoolWrite):
		lb.cfg.Logger.Warn("request body not held", "err", err)
		lb.m.rejected.Inc()
		answer(w, http.StatusServiceUnavailable, "Zenoss is busy: the balancer cannot hold more request bodies now. Try again shortly.\n", true, lb.retryAfter)
	default:
		answer(w, http.StatusBadRequest, "Bad request: "+err.Error()+"\n", true, "")
	}
	return false
}

// targetURL is the URL the request goes to the instance with: the request
// target as the client sent it (origin form), or, for any other form, its
// path and query.
func targetURL(r *http.Request) *url.URL {
	if ru := r.RequestURI; strings.HasPrefix(ru, "/") && !strings.HasPrefix(ru, "//") {
		return &url.URL{Scheme: "http", Opaque: ru}
	}
	return &url.URL{Scheme: "http", Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery, ForceQuery: r.URL.ForceQuery}
}

// respond sends a response read whole.
func (lb *Balancer) respond(w http.ResponseWriter, r *http.Request, resp *http.Response, rs *body, ck *http.Cookie) {
	wh := w.Header()
	copyResponseHeader(wh, resp.Header)
	if bodyAllowed(r.Method, resp.StatusCode) {
		wh["Content-Length"] = []string{strconv.FormatInt(rs.n, 10)}
	}
	if ck != nil {
		http.SetCookie(w, ck)
	}
	writeDeadline(w)
	w.WriteHeader(resp.StatusCode)
	if rs.n > 0 && r.Method != http.MethodHead {
		_ = rs.writeTo(w)
	}
}

// stream sends a response whose body could not all be held: what was held,
// then the rest as it comes; finish is called when the body is read.
func (lb *Balancer) stream(w http.ResponseWriter, r *http.Request, resp *http.Response, rs *body, ck *http.Cookie, finish func()) {
	finished := false
	defer func() {
		if !finished {
			finish()
		}
	}()
	wh := w.Header()
	copyResponseHeader(wh, resp.Header)
	if resp.ContentLength >= 0 && bodyAllowed(r.Method, resp.StatusCode) {
		wh["Content-Length"] = []string{strconv.FormatInt(resp.ContentLength, 10)}
	}
	if ck != nil {
		http.SetCookie(w, ck)
	}
	writeDeadline(w)
	w.WriteHeader(resp.StatusCode)
	err := rs.writeTo(w)
	if err == nil {
		_, err = io.Copy(w, resp.Body)
	}
	finish()
	finished = true
	if err != nil {
		// The client must not take a cut-off body for a whole one.
		panic(http.ErrAbortHandler)
	}
}

// writeDeadline gives the client WriteTimeout to take the response.
func writeDeadline(w http.ResponseWriter) {
	if d, ok := w.(interface{ SetWriteDeadline(time.Time) error }); ok {
		_ = d.SetWriteDeadline(time.Now().Add(WriteTimeout))
	}
}

// bodyAllowed says whether a response to method with this status has a
// body whose length the balancer states.
func bodyAllowed(method string, code int) bool {
	return method != http.MethodHead && code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified
}

// stripHopByHop removes hop-by-hop headers, and those the Connection header
// names, from a request's headers (in place; no allocation when there are
// none).
func stripHopByHop(h http.Header) {
	if c, ok := h["Connection"]; ok {
		for _, v := range c {
			for tok := range strings.SplitSeq(v, ",") {
				if t := textproto.TrimString(tok); t != "" && !strings.EqualFold(t, "close") && !strings.EqualFold(t, "keep-alive") {
					delete(h, textproto.CanonicalMIMEHeaderKey(t))
				}
			}
		}
	}
	for _, k := range hopByHop {
		delete(h, k)
	}
}

// copyResponseHeader copies an instance's response headers but the
// hop-by-hop ones (and those its Connection header names) into dst. A
// response without Content-Type gets none (net/http would guess one).
func copyResponseHeader(dst, src http.Header) {
	for k, v := range src {
		if !isHopByHop(k) {
			dst[k] = v
		}
	}
	if c, ok := src["Connection"]; ok {
		for _, v := range c {
			for tok := range strings.SplitSeq(v, ",") {
				if t := textproto.TrimString(tok); t != "" {
					delete(dst, textproto.CanonicalMIMEHeaderKey(t))
				}
			}
		}
	}
	if _, ok := dst["Content-Type"]; !ok {
		dst["Content-Type"] = nil
	}
}

// answer writes the balancer's own short answer: text with code, then the
// connection closed if closeConn, with Retry-After if retryAfter is set.
func answer(w http.ResponseWriter, code int, text string, closeConn bool, retryAfter string) {
	h := w.Header()
	h["Content-Type"] = valPlainText
	h["Content-Length"] = []string{strconv.Itoa(len(text))}
	if retryAfter != "" {
		h["Retry-After"] = []string{retryAfter}
	}
	if closeConn {
		h["Connection"] = valClose
	}
	writeDeadline(w)
	w.WriteHeader(code)
	_, _ = io.WriteString(w, text)
}

// busy answers 503 with Retry-After: the queue was full, or no slot came
// free within QueueTimeout.
func (lb *Balancer) busy(w http.ResponseWriter) {
	answer(w, http.StatusServiceUnavailable, "Zenoss is busy: every Zope instance is working on other requests. Try again shortly.\n", false, lb.retryAfter)
}

// unavailable answers 503 with Retry-After at once: no instance is up.
func (lb *Balancer) unavailable(w http.ResponseWriter) {
	lb.m.unavailable.Inc()
	answer(w, http.StatusServiceUnavailable, "Zenoss is unavailable: no Zope instance is up (each one fails its health checks or refuses connections). Try again shortly.\n", false, lb.retryAfter)
}

// badGateway answers 502: the request could not be served by any backend.
func (lb *Balancer) badGateway(w http.ResponseWriter) {
	answer(w, http.StatusBadGateway, "Bad gateway: the Zope instance did not answer.\n", false, "")
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

func idempotent(method string) bool {
	switch method {
	case "GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE":
		return true
	}
	return false
}

// affinity returns the backend named by the affinity cookie's value.
func (lb *Balancer) affinity(value string) *Backend {
	if value == "" {
		return nil
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	for _, b := range lb.backends {
		if b.Name == value {
			return b
		}
	}
	return nil
}

// String names the flags, for the log.
func (f headFlags) String() string {
	var s []string
	if f&headCLTE != 0 {
		s = append(s, "Content-Length with Transfer-Encoding")
	}
	if f&headTE10 != 0 {
		s = append(s, "Transfer-Encoding in HTTP/1.0")
	}
	if f&headFolded != 0 {
		s = append(s, "folded header line")
	}
	return strings.Join(s, ", ")
}
