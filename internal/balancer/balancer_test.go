package balancer

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// zope is a test backend that counts concurrency and can block requests.
type zope struct {
	srv     *httptest.Server
	cur     atomic.Int64
	peak    atomic.Int64
	served  atomic.Int64
	gate    chan struct{} // when non-nil, requests wait for a value
	lastReq atomic.Pointer[http.Request]
}

func newZope(t *testing.T, gate bool) *zope {
	z := &zope{}
	if gate {
		z.gate = make(chan struct{})
	}
	z.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") == "zenpatch-balancer-health" {
			return
		}
		z.lastReq.Store(r)
		c := z.cur.Add(1)
		for {
			p := z.peak.Load()
			if c <= p || z.peak.CompareAndSwap(p, c) {
				break
			}
		}
		if z.gate != nil {
			<-z.gate
		}
		z.cur.Add(-1)
		z.served.Add(1)
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Connection", "keep-alive")
		fmt.Fprintf(w, "from %s", z.srv.Listener.Addr())
	}))
	t.Cleanup(func() {
		if z.gate != nil {
			close(z.gate)
		}
		z.srv.Close()
	})
	return z
}

func (z *zope) addr() string { return z.srv.Listener.Addr().String() }

// front serves a balancer on loopback with Server, as zenpatch balance does.
type front struct{ URL string }

func startFront(t *testing.T, lb *Balancer) *front {
	return &front{URL: "http://" + runServer(t, lb, 0)}
}

// runServer runs a Server for lb on loopback until the test ends (0: the
// default header deadline) and returns its address.
func runServer(t *testing.T, lb *Balancer, headerTimeout time.Duration) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &Server{LB: lb, Public: l, ReadHeaderTimeout: headerTimeout}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); assert.NoError(t, <-done) })
	return l.Addr().String()
}

func newLB(t *testing.T, cfg Config, zs ...*zope) (*Balancer, *front) {
	var specs []BackendSpec
	for _, z := range zs {
		specs = append(specs, BackendSpec{Addr: z.addr(), Cap: 2})
	}
	if cfg.SlowStart == 0 {
		cfg.SlowStart = -1
	}
	if cfg.HealthInterval == 0 {
		cfg.HealthInterval = 50 * time.Millisecond
	}
	lb, err := New(cfg, specs)
	require.NoError(t, err)
	return lb, startFront(t, lb) // Server.Run starts and stops the health checks
}

func get(t *testing.T, url string) (int, string, http.Header) {
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestCapAndLeastOutstanding(t *testing.T) {
	a, b := newZope(t, true), newZope(t, true)
	lb, front := newLB(t, Config{}, a, b)
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() { get(t, front.URL) })
	}
	require.Eventually(t, func() bool { return lb.Status().Queue == 2 }, 2*time.Second, 5*time.Millisecond)
	// The 4 dispatched requests are on their way; wait until each backend's
	// handler has them (the balancer counts them before they arrive).
	require.Eventually(t, func() bool { return a.cur.Load()+b.cur.Load() == 4 }, 2*time.Second, 5*time.Millisecond)
	assert.Equal(t, int64(2), a.cur.Load(), "cap 2 each, spread evenly")
	assert.Equal(t, int64(2), b.cur.Load())
	assert.Equal(t, 2, lb.Status().Queue, "the other 2 still wait")
	for range 6 {
		select {
		case a.gate <- struct{}{}:
		case b.gate <- struct{}{}:
		}
	}
	wg.Wait()
	assert.LessOrEqual(t, a.peak.Load(), int64(2), "never more than the cap")
	assert.LessOrEqual(t, b.peak.Load(), int64(2))
	assert.Equal(t, int64(6), a.served.Load()+b.served.Load())
}

func TestQueueFullAndTimeoutAnswer503(t *testing.T) {
	a := newZope(t, true)
	lb, front := newLB(t, Config{QueueSize: 1, QueueTimeout: 200 * time.Millisecond, RetryAfter: 7 * time.Second}, a)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() { get(t, front.URL) }) // fill the cap
	}
	require.Eventually(t, func() bool { return a.cur.Load() == 2 }, time.Second, 5*time.Millisecond)
	codes := make(chan int, 2)
	wg.Go(func() { c, _, h := get(t, front.URL); assert.Equal(t, "7", h.Get("Retry-After")); codes <- c }) // waits, times out
	require.Eventually(t, func() bool { return lb.Status().Queue == 1 }, time.Second, 5*time.Millisecond)
	c, body, h := get(t, front.URL) // queue full: at once
	assert.Equal(t, http.StatusServiceUnavailable, c)
	assert.Equal(t, "7", h.Get("Retry-After"))
	assert.Contains(t, body, "busy")
	assert.Equal(t, http.StatusServiceUnavailable, <-codes)
	a.gate <- struct{}{}
	a.gate <- struct{}{}
	wg.Wait()
	// It recovers: the next request is served.
	go func() { a.gate <- struct{}{} }()
	c, _, _ = get(t, front.URL)
	assert.Equal(t, http.StatusOK, c)
}

func TestDialErrorRetriedElsewhereAnyMethod(t *testing.T) {
	good := newZope(t, false)
	dead := newZope(t, false)
	deadAddr := dead.addr()
	dead.srv.Close()
	lb, err := New(Config{SlowStart: -1}, []BackendSpec{{Addr: deadAddr, Cap: 2}, {Addr: good.addr(), Cap: 2}})
	require.NoError(t, err)
	front := startFront(t, lb)
	for range 4 {
		resp, err := http.Post(front.URL, "text/plain", strings.NewReader("form=1"))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "a POST that never reached a backend is retried")
	}
	st := lb.Status()
	assert.Equal(t, Down, st.Backends[0].State, "passive check: marked down at the connect error")
	assert.Contains(t, st.Backends[0].LastError, "connect")
}

// A backend that accepts the request and then drops the connection: GET is
// retried, POST is not (it may have had effects).
func TestReachedRetriedOnlyIfIdempotent(t *testing.T) {
	good := newZope(t, false)
	bad := serveTCP(t, func(c net.Conn) {
		req, err := http.ReadRequest(bufio.NewReader(c))
		if err == nil {
			io.Copy(io.Discard, req.Body)
		}
		c.Close() // reached, then no answer
	})
	lb, err := New(Config{SlowStart: -1}, []BackendSpec{{Name: "bad", Addr: bad, Cap: 8}, {Name: "good", Addr: good.addr(), Cap: 1}})
	require.NoError(t, err)
	front := startFront(t, lb)
	gets, posts502 := 0, 0
	for range 10 {
		c, _, _ := get(t, front.URL)
		if c == http.StatusOK {
			gets++
		}
		resp, err := http.Post(front.URL, "text/plain", strings.NewReader("x"))
		require.NoError(t, err)
		resp.Body.Close()
		if resp.StatusCode == http.StatusBadGateway {
			posts502++
		}
	}
	assert.Equal(t, 10, gets, "every GET succeeds, retried on the good backend")
	assert.Greater(t, posts502, 0, "a POST that reached the bad backend is not sent again")
}

func TestSlowStartRamps(t *testing.T) {
	b := &Backend{BackendSpec: BackendSpec{Cap: 8}, up: true}
	now := time.Now()
	b.upSince = now
	assert.Equal(t, 1, b.effCap(now, 10*time.Second))
	assert.Equal(t, 4, b.effCap(now.Add(5*time.Second), 10*time.Second))
	assert.Equal(t, 8, b.effCap(now.Add(11*time.Second), 10*time.Second))
	assert.Equal(t, 8, b.effCap(now, 0), "no slow start")
}

func TestCapLockedReadsTheClockOnlyDuringSlowStart(t *testing.T) {
	lb := &Balancer{cfg: Config{SlowStart: 10 * time.Second}}
	b := &Backend{BackendSpec: BackendSpec{Cap: 8}, up: true}
	var now time.Time
	assert.Equal(t, 8, lb.capLocked(b, &now))
	assert.True(t, now.IsZero(), "no ramp: the clock is not read")

	b.upSince = time.Now().Add(-5 * time.Second)
	assert.InDelta(t, 4, lb.capLocked(b, &now), 1, "half-way up the ramp")
	assert.False(t, now.IsZero(), "read once, for the ramp")

	b.upSince = time.Now().Add(-11 * time.Second)
	now = time.Time{}
	assert.Equal(t, 8, lb.capLocked(b, &now))
	assert.True(t, b.upSince.IsZero(), "a finished ramp is forgotten")
	now = time.Time{}
	assert.Equal(t, 8, lb.capLocked(b, &now))
	assert.True(t, now.IsZero(), "and the clock is not read for it again")
}

func TestHealthChecksRiseAndFall(t *testing.T) {
	a, b := newZope(t, false), newZope(t, false)
	lb, _ := newLB(t, Config{Rise: 2, Fall: 2, SlowStart: time.Hour}, a, b)
	addr := b.addr()
	b.srv.Close()
	require.Eventually(t, func() bool { return lb.Status().Backends[1].State == Down }, 2*time.Second, 10*time.Millisecond)
	// it comes back on the same port
	l, err := net.Listen("tcp", addr)
	require.NoError(t, err)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})}
	go srv.Serve(l)
	defer srv.Close()
	require.Eventually(t, func() bool { return lb.Status().Backends[1].State == Up }, 2*time.Second, 10*time.Millisecond)
	st := lb.Status().Backends[1]
	assert.True(t, st.SlowStart, "a backend that came back starts slow")
	assert.Equal(t, 1, st.EffectiveCap)
}

func TestDrainWaitsForInFlight(t *testing.T) {
	a, b := newZope(t, true), newZope(t, false)
	lb, front := newLB(t, Config{}, a, b)
	lb.mu.Lock()
	lb.backends[1].draining = true // force the first request onto a
	lb.mu.Unlock()
	done := make(chan int)
	go func() { c, _, _ := get(t, front.URL); done <- c }()
	require.Eventually(t, func() bool { return a.cur.Load() == 1 }, time.Second, 5*time.Millisecond)
	require.NoError(t, lb.Undrain("2"))
	drained := make(chan error)
	go func() { drained <- lb.Drain(context.Background(), "1") }()
	require.Eventually(t, func() bool { return lb.Status().Backends[0].State == Draining }, time.Second, time.Millisecond)
	for range 5 { // new requests go to the other backend meanwhile
		c, body, _ := get(t, front.URL)
		assert.Equal(t, http.StatusOK, c)
		assert.Contains(t, body, b.addr())
	}
	select { // five round trips after the drain began, it still waits
	case <-drained:
		t.Fatal("drain returned with a request in flight")
	default:
	}
	a.gate <- struct{}{}
	require.NoError(t, <-drained)
	assert.Equal(t, http.StatusOK, <-done)
	assert.Equal(t, Draining, lb.Status().Backends[0].State)
	assert.Error(t, lb.Drain(context.Background(), "nope"))
}

func TestCookieAffinity(t *testing.T) {
	a, b := newZope(t, false), newZope(t, false)
	_, front := newLB(t, Config{Affinity: true}, a, b)
	_, body, h := get(t, front.URL)
	cookie := h.Get("Set-Cookie")
	require.Contains(t, cookie, "zenpatch_zope=")
	req, _ := http.NewRequest(http.MethodGet, front.URL, nil)
	req.Header.Set("Cookie", strings.Split(cookie, ";")[0])
	for range 10 {
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, body, string(got), "the same instance every time")
		assert.Empty(t, resp.Header.Get("Set-Cookie"), "no new cookie while it holds")
	}
}

func TestForwardedAndHopByHopHeaders(t *testing.T) {
	a := newZope(t, false)
	_, front := newLB(t, Config{}, a)
	req, _ := http.NewRequest(http.MethodGet, front.URL+"/zport/dmd", nil)
	req.Host = "zenoss.example.com"
	req.Header.Set("X-Forwarded-For", "6.6.6.6") // spoofed: replaced
	req.Header.Set("Connection", "X-Secret")
	req.Header.Set("X-Secret", "hop")
	req.Header.Set("Keep-Alive", "timeout=5")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	got := a.lastReq.Load()
	assert.Equal(t, "127.0.0.1", got.Header.Get("X-Forwarded-For"))
	assert.Equal(t, "zenoss.example.com", got.Header.Get("X-Forwarded-Host"))
	assert.Equal(t, "http", got.Header.Get("X-Forwarded-Proto"))
	assert.Equal(t, "zenoss.example.com", got.Host, "Zope sees the Host users typed")
	assert.Empty(t, got.Header.Get("X-Secret"))
	assert.Empty(t, got.Header.Get("Keep-Alive"))
	assert.Equal(t, "/zport/dmd", got.URL.Path)
}

func TestSetBackendsKeepsState(t *testing.T) {
	a, b, c := newZope(t, false), newZope(t, false), newZope(t, false)
	lb, _ := newLB(t, Config{}, a, b)
	require.NoError(t, lb.Drain(context.Background(), "2"))
	require.NoError(t, lb.SetBackends([]BackendSpec{{Name: "1", Addr: a.addr()}, {Name: "2", Addr: b.addr()}, {Name: "3", Addr: c.addr()}}))
	st := lb.Status()
	require.Len(t, st.Backends, 3)
	assert.Equal(t, Draining, st.Backends[1].State, "kept across reload")
	assert.Error(t, lb.SetBackends(nil))
	assert.Error(t, lb.SetBackends([]BackendSpec{{Addr: "nohostport"}}))
}

func TestAdminAPI(t *testing.T) {
	a := newZope(t, false)
	lb, front := newLB(t, Config{}, a)
	get(t, front.URL)
	sock := t.TempDir() + "/b.sock"
	l, err := ListenAdmin(sock)
	require.NoError(t, err)
	srv := &http.Server{Handler: lb.AdminHandler()}
	go srv.Serve(l)
	defer srv.Close()
	cl := NewAdminClient(sock)
	ctx := context.Background()
	m, err := cl.Metrics(ctx)
	require.NoError(t, err)
	assert.Contains(t, m, `zenpatch_balancer_requests_total{backend="1",class="2xx"} 1`)
	assert.Contains(t, m, `zenpatch_balancer_backend_up{backend="1"} 1`)
	require.NoError(t, cl.Drain(ctx, "1", time.Second))
	assert.Equal(t, Draining, lb.Status().Backends[0].State)
	st, err := cl.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, Draining, st.Backends[0].State)
	assert.ErrorContains(t, cl.Undrain(ctx, "9"), `no backend "9"`)
	// The handler can be built again (each Server.Run builds one).
	assert.NotPanics(t, func() { lb.AdminHandler() })
	// Not on the public listener: there it is just a Zope URL.
	require.NoError(t, lb.Undrain("1"))
	resp2, err := http.Post(front.URL+"/drain?backend=1", "", nil)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	assert.Contains(t, string(body), "from "+a.addr(), "proxied to Zope")
	assert.Equal(t, Up, lb.Status().Backends[0].State, "not drained")
	// A live socket is not replaced.
	_, err = ListenAdmin(sock)
	assert.ErrorContains(t, err, "already answers")
}

// dialServer runs a Server (as `zenpatch balance` does, with the given
// header deadline) over one backend, and connects to it.
func dialServer(t *testing.T, cfg Config, addr string, headerTimeout time.Duration) net.Conn {
	lb, err := New(cfg, []BackendSpec{{Addr: addr}})
	require.NoError(t, err)
	c, err := net.Dial("tcp", runServer(t, lb, headerTimeout))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestSlowlorisIsCut(t *testing.T) {
	c := dialServer(t, Config{SlowStart: -1}, newZope(t, false).addr(), 300*time.Millisecond)
	_, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n")) // and never finishes the headers
	require.NoError(t, err)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	b, err := io.ReadAll(c)
	assert.NoError(t, err, "the server closed the connection")
	assert.Contains(t, string(b), "408 Request Timeout")
	assert.Less(t, time.Since(start), 3*time.Second)
}

// rawZope answers every request with the given raw header lines (lowercase
// names, as some servers send them) and records the header block of the
// last request that was not a health check.
func rawZope(t *testing.T, respHeaders string) (addr string, last *atomic.Pointer[string]) {
	last = &atomic.Pointer[string]{}
	addr = serveTCP(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			var head strings.Builder
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if line == "\r\n" {
					break
				}
				head.WriteString(line)
			}
			if h := head.String(); !strings.Contains(h, "zenpatch-balancer-health") {
				last.Store(&h)
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n%s\r\nok", respHeaders)
		}
	})
	return addr, last
}

// serveTCP accepts connections on loopback until the test ends, each
// handled by handle in its own goroutine, and returns the address.
func serveTCP(t testing.TB, handle func(net.Conn)) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return l.Addr().String()
}

func TestHopByHopHeadersAnyCase(t *testing.T) {
	addr, last := rawZope(t, "keep-alive: timeout=5\r\nconnection: X-Hop\r\nx-hop: secret\r\nupgrade: foo\r\nproxy-authenticate: Basic\r\nx-keep: yes\r\n")
	c, br := rawFront(t, addr)
	_, err := io.WriteString(c, "GET /zport/dmd HTTP/1.1\r\nHost: zenoss\r\nconnection: x-secret, keep-alive\r\nx-secret: 1\r\nkeep-alive: 300\r\nte: trailers\r\nproxy-authorization: Basic Zm9v\r\nproxy-connection: keep-alive\r\nx-mine: kept\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	for _, h := range []string{"Keep-Alive", "X-Hop", "Upgrade", "Proxy-Authenticate"} {
		assert.Empty(t, resp.Header.Values(h), "response header %s is hop-by-hop", h)
	}
	assert.Equal(t, "yes", resp.Header.Get("X-Keep"))
	assert.NotEqual(t, "close", resp.Header.Get("Connection"), "the backend's connection handling is not the client's")

	require.NotNil(t, last.Load())
	got := strings.ToLower(*last.Load())
	for _, h := range []string{"x-secret:", "keep-alive:", "te:", "proxy-authorization:", "proxy-connection:", "connection:"} {
		assert.NotContains(t, got, h, "request header %s is hop-by-hop", h)
	}
	assert.Contains(t, got, "x-mine: kept")
}

func TestStripHopByHopCheap(t *testing.T) {
	h := http.Header{"Host": {"zenoss"}, "Cookie": {"a=b"}, "Accept": {"*/*"}}
	allocs := testing.AllocsPerRun(100, func() { stripHopByHop(h) })
	assert.Zero(t, allocs, "no allocation when there is nothing to strip (every request)")
	assert.Len(t, h, 3)
}

func TestClientIP(t *testing.T) {
	for in, want := range map[string]string{"127.0.0.1:80": "127.0.0.1", "[::1]:8080": "::1", "[::ffff:10.0.0.5]:1": "10.0.0.5", "[2001:db8::7]:9": "2001:db8::7", "odd": "odd"} {
		assert.Equal(t, want, clientIP(in), in)
	}
}

// The header deadline covers the headers only: a body sent slowly, and a
// Zope that answers slowly, both outlast it.
func TestHeaderDeadlineOnlyCoversHeaders(t *testing.T) {
	a := newZope(t, true) // answers when the test says so
	c := dialServer(t, Config{SlowStart: -1, HealthInterval: time.Hour}, a.addr(), 200*time.Millisecond)
	br := bufio.NewReader(c)

	// a body that trickles in over 3 header deadlines
	_, err := io.WriteString(c, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n")
	require.NoError(t, err)
	for _, part := range []string{"ab", "cd", "ef"} {
		time.Sleep(200 * time.Millisecond)
		_, err = io.WriteString(c, part)
		require.NoError(t, err)
	}
	a.gate <- struct{}{}
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)

	// a GET whose Zope takes 3 header deadlines to answer, on the same connection
	_, err = io.WriteString(c, "GET /report HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	time.Sleep(600 * time.Millisecond)
	a.gate <- struct{}{}
	resp, err = http.ReadResponse(br, nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
}

// A Zope with two <http-server> sections: the balancer listens on both
// addresses; a request on the second goes to an instance's second port;
// the instance's cap counts requests from both.
func TestExtraListeners(t *testing.T) {
	a1, a2, b1, b2 := newZope(t, true), newZope(t, false), newZope(t, false), newZope(t, false)
	lb, err := New(Config{SlowStart: -1, HealthInterval: 50 * time.Millisecond}, []BackendSpec{
		{Addr: a1.addr(), Extra: []string{a2.addr()}, Cap: 1},
		{Addr: b1.addr(), Extra: []string{b2.addr()}, Cap: 1},
	})
	require.NoError(t, err)
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	extra, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{LB: lb, Public: pub, Extra: []net.Listener{extra}}).Run(ctx) }()
	t.Cleanup(func() { cancel(); assert.NoError(t, <-done) })

	// a's only slot is taken by a request on the first listener...
	first := make(chan int)
	lb.mu.Lock()
	lb.backends[1].draining = true
	lb.mu.Unlock()
	go func() { c, _, _ := get(t, "http://"+pub.Addr().String()); first <- c }()
	require.Eventually(t, func() bool { return a1.cur.Load() == 1 }, time.Second, time.Millisecond)
	require.NoError(t, lb.Undrain("2"))
	// ...so requests on the second listener go to b's second port.
	for range 3 {
		c, body, _ := get(t, "http://"+extra.Addr().String())
		assert.Equal(t, http.StatusOK, c)
		assert.Contains(t, body, "from "+b2.addr())
	}
	a1.gate <- struct{}{}
	assert.Equal(t, http.StatusOK, <-first)
	assert.Zero(t, a2.served.Load()+b1.served.Load(), "nothing crossed listeners")

	// Every backend needs an address per listener; a server needs a
	// listener per address.
	_, err = New(Config{}, []BackendSpec{{Addr: a1.addr(), Extra: []string{a2.addr()}}, {Addr: b1.addr()}})
	assert.ErrorContains(t, err, "one per extra listener")
	lb2, err := New(Config{}, []BackendSpec{{Addr: a1.addr(), Extra: []string{a2.addr()}}})
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	assert.ErrorContains(t, (&Server{LB: lb2, Public: l}).Run(context.Background()), "0 extra listeners for backends with 1 extra addresses")
}
