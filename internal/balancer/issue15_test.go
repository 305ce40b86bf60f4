package balancer

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// idleClosingZope answers each request with keep-alive, then closes the
// connection if no further request comes within idle: a Zope's keep-alive
// timeout, or an instance restarted while the balancer's connection to it
// sat in the pool. It counts requests (health checks aside) and gates
// them when gate is set.
func idleClosingZope(t *testing.T, idle time.Duration, gate chan struct{}) (addr string, served *atomic.Int64) {
	served = &atomic.Int64{}
	addr = serveTCP(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			c.SetReadDeadline(time.Now().Add(idle))
			r, err := http.ReadRequest(br)
			if err != nil {
				return // idle too long: closed, as Zope does
			}
			io.Copy(io.Discard, r.Body)
			if r.Header.Get("User-Agent") != "zenpatch-balancer-health" {
				if gate != nil {
					<-gate
				}
				served.Add(1)
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	return addr, served
}

// Issue 15 item 7: a pooled connection the instance closed while idle is
// not used for the next request: a POST (not retried when it reached an
// instance) gets 200, not 502.
func TestPostAfterInstanceClosedIdleConnection(t *testing.T) {
	addr, served := idleClosingZope(t, 100*time.Millisecond, nil)
	lb, err := New(Config{SlowStart: -1, HealthInterval: time.Hour}, []BackendSpec{{Addr: addr, Cap: 4}})
	require.NoError(t, err)
	front := startFront(t, lb)
	for i := range 3 {
		resp, err := http.Post(front.URL+"/zport/dmd/device_router", "application/json", strings.NewReader(`{"action":"DeviceRouter"}`))
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "POST %d", i)
		time.Sleep(300 * time.Millisecond) // the instance closes its side meanwhile
	}
	assert.Equal(t, int64(3), served.Load())
}

// Issue 15 item 7: several stale pooled connections and no other instance:
// a GET still gets 200.
func TestGetAfterSeveralPooledConnectionsWentStale(t *testing.T) {
	gate := make(chan struct{})
	addr, _ := idleClosingZope(t, 150*time.Millisecond, gate)
	lb, err := New(Config{SlowStart: -1, HealthInterval: time.Hour}, []BackendSpec{{Addr: addr, Cap: 4}})
	require.NoError(t, err)
	front := startFront(t, lb)
	var wg sync.WaitGroup
	for range 4 { // four connections at once: four in the pool afterwards
		wg.Go(func() {
			c, _, _ := get(t, front.URL)
			assert.Equal(t, http.StatusOK, c)
		})
	}
	require.Eventually(t, func() bool { return lb.Status().Backends[0].Outstanding == 4 }, 2*time.Second, time.Millisecond)
	for range 4 {
		gate <- struct{}{}
	}
	wg.Wait()
	time.Sleep(400 * time.Millisecond) // the instance closes all four
	go func() { gate <- struct{}{} }()
	c, body, _ := get(t, front.URL)
	assert.Equal(t, http.StatusOK, c)
	assert.Equal(t, "ok", body)
}

// heapInUse is the Go heap in use now, after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// peakHeap samples the heap in use until stop is closed and returns the
// highest sample.
func peakHeap(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	go func() {
		var peak uint64
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// pattern is a reader of n bytes of a repeating pattern, made as it is read.
type pattern struct{ n, off int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.off >= p.n {
		return 0, io.EOF
	}
	k := min(int64(len(b)), p.n-p.off)
	for i := range k {
		b[i] = byte('a' + (p.off+i)%26)
	}
	p.off += k
	return int(k), nil
}

func patternSum(n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, &pattern{n: n})
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// Issue 15 item 8: big bodies do not stay in memory. Two concurrent chunked
// uploads of 48 MB each (the balancer once held both whole: 96 MB and more) go
// through with the heap barely growing; each reaches the Zope whole.
func TestBigUploadsAreNotHeldInMemory(t *testing.T) {
	const size = 48 << 20
	var got sync.Map
	z := backend(t, func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		got.Store(r.URL.Path, fmt.Sprintf("%d %x", n, h.Sum(nil)))
		fmt.Fprint(w, "stored")
	})
	_, front := newLBAt(t, Config{}, z)
	base := heapInUse()
	stop := make(chan struct{})
	peak := peakHeap(stop)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodPost, fmt.Sprintf("%s/upload%d", front.URL, i), io.NopCloser(&pattern{n: size}))
			require.NoError(t, err)
			req.ContentLength = -1 // chunked
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
		})
	}
	wg.Wait()
	close(stop)
	grew := int64(<-peak) - int64(base)
	t.Logf("heap grew by %d MiB at most", grew>>20)
	assert.Less(t, grew, int64(32<<20), "two 48 MB uploads in flight: the heap stays within the body memory budget")
	want := fmt.Sprintf("%d %x", size, patternSum(size))
	for i := range 2 {
		v, _ := got.Load(fmt.Sprintf("/upload%d", i))
		assert.Equal(t, want, v, "upload %d reached the Zope whole", i)
	}
}

// Issue 15 item 8: slow readers of a big response neither hold it in
// memory nor the instance's slot: the slot is free as soon as the Zope has
// answered.
func TestSlowReadersOfBigResponses(t *testing.T) {
	const size = 16 << 20
	z := backend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		io.Copy(w, &pattern{n: size}) // chunked: no length given
	})
	lb, front := newLBAt(t, Config{}, z)
	base := heapInUse()
	stop := make(chan struct{})
	peak := peakHeap(stop)
	var resps []*http.Response
	for range 4 {
		resp, err := http.Get(front.URL + "/report")
		require.NoError(t, err)
		resps = append(resps, resp) // headers read, body not yet
	}
	// Every response was read whole from the Zope before its headers came:
	// no slot is held while the clients take their time.
	assert.Equal(t, 0, lb.Status().Backends[0].Outstanding)
	time.Sleep(100 * time.Millisecond)
	close(stop)
	grew := int64(<-peak) - int64(base)
	t.Logf("heap grew by %d MiB at most", grew>>20)
	assert.Less(t, grew, int64(32<<20), "four 16 MB responses held for slow clients: not in memory")
	want := patternSum(size)
	for _, resp := range resps {
		h := sha256.New()
		n, err := io.Copy(h, resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, int64(size), n)
		assert.Equal(t, want[:], h.Sum(nil))
		assert.Equal(t, fmt.Sprint(size), resp.Header.Get("Content-Length"))
	}
}

// Issue 15 item 9: with every instance down (by health checks), a request
// is answered 503 at once, saying so, not after queue-timeout as "busy".
func TestEveryInstanceDownAnswersAtOnce(t *testing.T) {
	a, b := newZope(t, false), newZope(t, false)
	lb, front := newLB(t, Config{Fall: 1, QueueTimeout: 20 * time.Second, RetryAfter: 3 * time.Second}, a, b)
	a.srv.Close()
	b.srv.Close()
	require.Eventually(t, func() bool {
		st := lb.Status()
		return st.Backends[0].State == Down && st.Backends[1].State == Down
	}, 2*time.Second, 5*time.Millisecond)
	start := time.Now()
	c, body, h := get(t, front.URL)
	assert.Less(t, time.Since(start), time.Second)
	assert.Equal(t, http.StatusServiceUnavailable, c)
	assert.Equal(t, "3", h.Get("Retry-After"))
	assert.Contains(t, body, "no Zope instance is up")
	assert.NotContains(t, body, "busy")
}

// Issue 15 item 9: requests waiting in the queue when the last instance
// goes down are answered at once too.
func TestQueuedRequestsAnsweredWhenLastInstanceGoesDown(t *testing.T) {
	var sick atomic.Bool
	release := make(chan struct{})
	z := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") == "zenpatch-balancer-health" {
			if sick.Load() {
				w.WriteHeader(http.StatusServiceUnavailable)
			}
			return
		}
		<-release
		fmt.Fprint(w, "done")
	})
	lb, err := New(Config{SlowStart: -1, Fall: 1, HealthInterval: 50 * time.Millisecond, QueueTimeout: 20 * time.Second},
		[]BackendSpec{{Addr: z, Cap: 1}})
	require.NoError(t, err)
	front := startFront(t, lb)
	first := make(chan int, 1)
	go func() { c, _, _ := get(t, front.URL); first <- c }()
	require.Eventually(t, func() bool { return lb.Status().Backends[0].Outstanding == 1 }, 2*time.Second, time.Millisecond)
	queued := make(chan int, 3)
	for range 3 {
		go func() { c, _, _ := get(t, front.URL); queued <- c }()
	}
	require.Eventually(t, func() bool { return lb.Status().Queue == 3 }, 2*time.Second, time.Millisecond)
	sick.Store(true)
	start := time.Now()
	for range 3 {
		select {
		case c := <-queued:
			assert.Equal(t, http.StatusServiceUnavailable, c)
		case <-time.After(3 * time.Second):
			t.Fatal("a queued request was not answered when the last instance went down")
		}
	}
	assert.Less(t, time.Since(start), 3*time.Second)
	close(release)
	assert.Equal(t, http.StatusOK, <-first, "the request in progress finishes")
}

// A client that gives up while its request waits in the queue: no Zope
// works on its request.
func TestQueuedRequestOfGoneClientNotSent(t *testing.T) {
	q := queueBehindFullCap(t, "/gone")
	q.c.Close()
	time.Sleep(goneCheckAfter) // a user who gave up
	q.finish(t)                // slots come free: the queued request finds its client gone
	require.Eventually(t, func() bool { return q.lb.Status().Backends[0].Outstanding == 0 }, 2*time.Second, time.Millisecond)
	assert.Zero(t, q.a.cur.Load(), "the gone client's request never reached the Zope")
	assert.NotEqual(t, "/gone", q.a.lastReq.Load().URL.Path)
	assert.Contains(t, metricsText(t, q.lb), "zenpatch_balancer_abandoned_total 1")
}

// metricsText is the balancer's Prometheus exposition.
func metricsText(t *testing.T, lb *Balancer) string {
	rec := httptest.NewRecorder()
	lb.AdminHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	return rec.Body.String()
}

// Issue 15 item 10: parsing as strict as nginx and HAProxy, and what they
// answer, zenpatch answers.
func TestParsingStrictness(t *testing.T) {
	var mu sync.Mutex
	var seen []*http.Request
	addr := scriptedZope(t, func(r *http.Request, body string) (string, bool) {
		mu.Lock()
		seen = append(seen, r)
		mu.Unlock()
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body), false
	})
	lastSeen := func() *http.Request {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 {
			return nil
		}
		r := seen[len(seen)-1]
		seen = nil
		return r
	}
	t.Run("header names with spaces are refused", func(t *testing.T) {
		for _, req := range []string{
			"POST / HTTP/1.1\r\nHost: z\r\nTransfer Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
			"GET / HTTP/1.1\r\nHost: z\r\nX Forwarded For: 6.6.6.6\r\n\r\n",
			"GET / HTTP/1.1\r\nHost: z\r\nX-Name : v\r\n\r\n",
		} {
			c, br := rawFront(t, addr)
			resp, _ := exchange(t, c, br, req, "GET")
			assert.Equal(t, 400, resp.StatusCode, req)
			assert.Nil(t, lastSeen(), "the Zope saw nothing: %q", req)
		}
	})
	t.Run("bare LF line endings are answered", func(t *testing.T) {
		c, br := rawFront(t, addr)
		resp, body := exchange(t, c, br, "POST /lf HTTP/1.1\nHost: z\nContent-Length: 2\n\nhi", "POST")
		assert.Equal(t, 200, resp.StatusCode)
		assert.Equal(t, "hi", body)
	})
	t.Run("garbage after a request is refused at once", func(t *testing.T) {
		for _, tail := range []string{"\x00\x00\x00\x00\x00\x00", "\x00", " GET / HTTP/1.1\r\n", "\x16\x03\x01\x02\x00\x01"} {
			c, br := rawFront(t, addr)
			start := time.Now()
			resp, _ := exchange(t, c, br, "GET /ok HTTP/1.1\r\nHost: z\r\n\r\n"+tail, "GET")
			assert.Equal(t, 200, resp.StatusCode, "the request before is answered: %q", tail)
			resp, _ = readResp(t, br, "GET")
			assert.Equal(t, 400, resp.StatusCode, "%q", tail)
			assert.Less(t, time.Since(start), 2*time.Second, "not left pending for the header timeout: %q", tail)
			_, err := br.ReadByte()
			assert.ErrorIs(t, err, io.EOF)
		}
	})
	t.Run("garbage instead of a request is refused at once", func(t *testing.T) {
		c, br := rawFront(t, addr)
		start := time.Now()
		resp, _ := exchange(t, c, br, "\x00\x00\x00\x00GET / HTTP/1.1\r\n", "GET")
		assert.Equal(t, 400, resp.StatusCode)
		assert.Less(t, time.Since(start), 2*time.Second)
	})
	t.Run("HTTP/1.0 without Host is served, with the instance's address", func(t *testing.T) {
		c, br := rawFront(t, addr)
		resp, _ := exchange(t, c, br, "GET /old HTTP/1.0\r\n\r\n", "GET")
		assert.Equal(t, 200, resp.StatusCode)
		r := lastSeen()
		require.NotNil(t, r)
		assert.Equal(t, addr, r.Host)
		assert.Empty(t, r.Header.Values("X-Forwarded-Host"))
	})
	t.Run("a POST without Content-Type reaches Zope without one", func(t *testing.T) {
		c, br := rawFront(t, addr)
		resp, _ := exchange(t, c, br, "POST /zport/dmd/form HTTP/1.1\r\nHost: z\r\nContent-Length: 3\r\n\r\na=b", "POST")
		assert.Equal(t, 200, resp.StatusCode)
		r := lastSeen()
		require.NotNil(t, r)
		assert.Empty(t, r.Header.Values("Content-Type"))
		assert.Empty(t, r.Header.Values("User-Agent"), "nor any other header the client did not send")
		assert.Empty(t, r.Header.Values("Accept-Encoding"))
	})
	t.Run("CONNECT is refused", func(t *testing.T) {
		c, br := rawFront(t, addr)
		resp, _ := exchange(t, c, br, "CONNECT zenoss:443 HTTP/1.1\r\nHost: zenoss:443\r\n\r\n", "CONNECT")
		assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
		assert.Nil(t, lastSeen())
	})
	t.Run("the request target reaches Zope as sent", func(t *testing.T) {
		c, br := rawFront(t, addr)
		resp, _ := exchange(t, c, br, "GET /zport/dmd/Devices/a%2Fb/x;y?q=%20&r= HTTP/1.1\r\nHost: z\r\n\r\n", "GET")
		assert.Equal(t, 200, resp.StatusCode)
		r := lastSeen()
		require.NotNil(t, r)
		assert.Equal(t, "/zport/dmd/Devices/a%2Fb/x;y?q=%20&r=", r.RequestURI)
	})
}

// Issue 15 item 11: slow start by what the instance shows. After rejoining,
// an instance as fast as its peers is back at full cap within seconds; a
// slow one stays ramped.
func TestSlowStartByLatency(t *testing.T) {
	zope := func(d time.Duration) string {
		return backend(t, func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("User-Agent") != "zenpatch-balancer-health" {
				time.Sleep(d)
			}
		})
	}
	peer, fast, slow := zope(5*time.Millisecond), zope(5*time.Millisecond), zope(150*time.Millisecond)
	lb, err := New(Config{SlowStart: 30 * time.Second, HealthInterval: time.Hour},
		[]BackendSpec{{Name: "peer", Addr: peer, Cap: 4}, {Name: "fast", Addr: fast, Cap: 4}, {Name: "slow", Addr: slow, Cap: 4}})
	require.NoError(t, err)
	front := startFront(t, lb)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 { // steady load
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := http.Get(front.URL)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	defer func() { close(stop); wg.Wait() }()
	require.NoError(t, lb.Drain(context.Background(), "fast"))
	require.NoError(t, lb.Drain(context.Background(), "slow"))
	time.Sleep(200 * time.Millisecond) // the peer's times are known
	require.NoError(t, lb.Undrain("fast"))
	require.NoError(t, lb.Undrain("slow"))
	start := time.Now()
	capOf := func(name string) BackendStatus {
		for _, b := range lb.Status().Backends {
			if b.Name == name {
				return b
			}
		}
		return BackendStatus{}
	}
	require.Eventually(t, func() bool { return capOf("fast").EffectiveCap == 4 }, 5*time.Second, 10*time.Millisecond,
		"a warm instance is back at full cap within seconds (a fixed 30 s ramp would give it 1 after 5 s)")
	t.Logf("fast instance at full cap after %v", time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Until(start.Add(3 * time.Second)))
	st := capOf("slow")
	assert.True(t, st.SlowStart, "the slow instance is still eased in")
	assert.Less(t, st.EffectiveCap, 4)
	assert.Greater(t, st.Served, int64(0), "it did get requests to show its times")
}

// backend runs handler as a backend on loopback and returns its address.
func backend(t *testing.T, handler http.HandlerFunc) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := &http.Server{Handler: handler}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return l.Addr().String()
}

// newLBAt runs a balancer over one backend address with cfg (no slow
// start, no health checks to speak of).
func newLBAt(t *testing.T, cfg Config, addr string) (*Balancer, *front) {
	cfg.SlowStart, cfg.HealthInterval = -1, time.Hour
	lb, err := New(cfg, []BackendSpec{{Addr: addr, Cap: 4}})
	require.NoError(t, err)
	return lb, startFront(t, lb)
}

// A GET on a pooled connection idle for less than recentIdle goes without
// the peek; one idle longer is peeked at, so that an answer the instance
// sent unasked before closing (a timeout response) is not taken for the
// answer to the next request.
func TestGetAfterUnaskedAnswerOnIdleConnection(t *testing.T) {
	var n atomic.Int64
	addr := serveTCP(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			c.SetReadDeadline(time.Now().Add(recentIdle + 200*time.Millisecond))
			r, err := http.ReadRequest(br)
			if err != nil {
				io.WriteString(c, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				return
			}
			io.Copy(io.Discard, r.Body)
			if r.Header.Get("User-Agent") != "zenpatch-balancer-health" {
				n.Add(1)
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	lb, err := New(Config{SlowStart: -1, HealthInterval: time.Hour}, []BackendSpec{{Addr: addr, Cap: 4}})
	require.NoError(t, err)
	front := startFront(t, lb)
	c, body, _ := get(t, front.URL)
	require.Equal(t, http.StatusOK, c)
	require.Equal(t, "ok", body)
	time.Sleep(recentIdle + 500*time.Millisecond) // the 408 waits on the pooled connection
	c, body, _ = get(t, front.URL)
	assert.Equal(t, http.StatusOK, c)
	assert.Equal(t, "ok", body)
	assert.Equal(t, int64(2), n.Load())
}

// A PUT (idempotent) with a body bigger than one write, on a pooled
// connection idle under recentIdle (no peek) that the instance has closed:
// the write fails before any answer, and the request goes again on a
// fresh connection, as a GET's does; not 502.
func TestPutAfterInstanceClosedRecentIdleConnection(t *testing.T) {
	addr, served := idleClosingZope(t, 100*time.Millisecond, nil)
	lb, err := New(Config{SlowStart: -1, HealthInterval: time.Hour}, []BackendSpec{{Addr: addr, Cap: 4}})
	require.NoError(t, err)
	front := startFront(t, lb)
	u := lb.backends[0].upstreams[0]
	body := strings.Repeat("x", 256<<10)
	for i := range 3 {
		req, err := http.NewRequest(http.MethodPut, front.URL+"/zport/dmd/file", strings.NewReader(body))
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode, "PUT %d", i)
		// the instance closes its side of the pooled connection, well
		// within recentIdle
		require.Eventually(t, func() bool {
			u.mu.Lock()
			defer u.mu.Unlock()
			return len(u.idle) == 1 && !u.idle[0].alive()
		}, 2*time.Second, 5*time.Millisecond)
	}
	assert.Equal(t, int64(3), served.Load())
}
