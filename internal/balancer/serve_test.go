package balancer

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The connection loop answers what net/http's server answers, and keeps
// or closes the connection as it would.
func TestServeConnectionRules(t *testing.T) {
	addr := echoZope(t)
	for name, tc := range map[string]struct {
		req       string
		code      int
		keepAlive string // the response's Connection header, close taken out
		open      bool   // the connection stays open
	}{
		"HTTP/1.1":                 {"GET /a HTTP/1.1\r\nHost: z\r\n\r\n", 200, "", true},
		"HTTP/1.1 close":           {"GET /a HTTP/1.1\r\nHost: z\r\nConnection: close\r\n\r\n", 200, "", false},
		"HTTP/1.0 keep-alive":      {"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 200, "keep-alive", true},
		"HTTP/1.0":                 {"GET /a HTTP/1.0\r\n\r\n", 200, "", false},
		"HTTP/2.0":                 {"GET /a HTTP/2.0\r\nHost: z\r\n\r\n", 505, "", false},
		"no Host":                  {"GET /a HTTP/1.1\r\n\r\n", 400, "", false},
		"bad Host":                 {"GET /a HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "", false},
		"two Host headers":         {"GET /a HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 400, "", false},
		"empty Host":               {"GET /a HTTP/1.1\r\nHost:\r\n\r\n", 400, "", false},
		"empty Host, HTTP/1.0":     {"GET /a HTTP/1.0\r\nHost:\r\n\r\n", 200, "", false},
		"absolute form, two Hosts": {"GET http://z/a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, "", false},
		"bad header name":          {"GET /a HTTP/1.1\r\nHost: z\r\nX\x01Y: 1\r\n\r\n", 400, "", false},
		"space in a header name":   {"GET /a HTTP/1.1\r\nHost: z\r\nX Y: 1\r\n\r\n", 400, "", false},
		"control byte in a value":  {"GET /a HTTP/1.1\r\nHost: z\r\nX: a\x01b\r\n\r\n", 400, "", false},
		"control byte in the path": {"GET /a\x01 HTTP/1.1\r\nHost: z\r\n\r\n", 400, "", false},
		"control byte, HTTP/1.0":   {"GET /a\x01 HTTP/1.0\r\n\r\n", 400, "", false},
		"unknown Expect":           {"PUT /a HTTP/1.1\r\nHost: z\r\nExpect: later\r\nContent-Length: 1\r\n\r\nx", 417, "", false},
		"unknown transfer coding":  {"PUT /a HTTP/1.1\r\nHost: z\r\nTransfer-Encoding: gzip\r\n\r\n", 501, "", false},
		"chunked body, keep-alive": {"PUT /a HTTP/1.1\r\nHost: z\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nbc\r\n0\r\n\r\n", 200, "", true},
	} {
		t.Run(name, func(t *testing.T) {
			c, br := rawFront(t, addr)
			resp, _ := exchange(t, c, br, tc.req, "GET")
			assert.Equal(t, tc.code, resp.StatusCode)
			assert.Equal(t, tc.keepAlive, resp.Header.Get("Connection"))
			assert.Equal(t, !tc.open, resp.Close)
			if tc.code == 200 {
				assert.NotEmpty(t, resp.Header.Get("Date"))
			}
			if tc.open {
				resp, body := exchange(t, c, br, "GET /next HTTP/1.1\r\nHost: z\r\n\r\n", "GET")
				assert.Equal(t, 200, resp.StatusCode)
				assert.Equal(t, "/next", body)
			} else {
				_, err := br.ReadByte()
				assert.ErrorIs(t, err, io.EOF)
			}
		})
	}
}

// A response whose length is not known is sent chunked to an HTTP/1.1
// client and up to the connection's end to an HTTP/1.0 one.
func TestServeUnknownLength(t *testing.T) {
	for name, tc := range map[string]struct {
		req     string
		chunked bool
	}{
		"HTTP/1.1": {"GET / HTTP/1.1\r\nHost: z\r\n\r\n", true},
		"HTTP/1.0": {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", false},
	} {
		t.Run(name, func(t *testing.T) {
			req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tc.req)))
			require.NoError(t, err)
			var out bytes.Buffer
			fc := &frontConn{s: &frontServer{}, body: reqBody{done: true}}
			w := &frontWriter{fc: fc, bw: bufio.NewWriter(&out), h: http.Header{}}
			w.reset(req)
			w.Header()["Content-Type"] = valPlainText
			_, err = io.WriteString(w, "hello ")
			require.NoError(t, err)
			_, err = io.WriteString(w, "world")
			require.NoError(t, err)
			w.finish()
			require.NoError(t, w.err)
			raw := out.String()
			if tc.chunked {
				assert.True(t, strings.HasPrefix(raw, "HTTP/1.1 200 OK\r\n"), "%q", raw)
				assert.Contains(t, raw, "Transfer-Encoding: chunked\r\n")
				assert.True(t, strings.HasSuffix(raw, "\r\n\r\n6\r\nhello \r\n5\r\nworld\r\n0\r\n\r\n"), "%q", raw)
				assert.True(t, w.keep)
			} else {
				assert.True(t, strings.HasPrefix(raw, "HTTP/1.1 200 OK\r\n"), "HTTP/1.1 to an HTTP/1.0 client too (RFC 9110 6.2): %q", raw)
				assert.NotContains(t, raw, "Transfer-Encoding")
				assert.NotContains(t, raw, "Connection: keep-alive")
				assert.True(t, strings.HasSuffix(raw, "\r\n\r\nhello world"), "%q", raw)
				assert.False(t, w.keep, "the body ends with the connection")
			}
		})
	}
}

// A request whose client goes away while it waits in the queue leaves the
// queue then, not only when a slot comes free.
func TestServeGoneClientLeavesQueue(t *testing.T) {
	q := queueBehindFullCap(t, "/gone")
	q.c.Close()
	require.Eventually(t, func() bool { return q.lb.Status().Queue == 0 }, 2*time.Second, time.Millisecond, "no slot came free")
	assert.Contains(t, metricsText(t, q.lb), "zenpatch_balancer_abandoned_total 1")
	q.finish(t)
}

// Shutdown closes idle connections at once and lets a request in flight
// finish, its connection then closed.
func TestServeShutdown(t *testing.T) {
	a := newZope(t, true)
	lb, err := New(Config{SlowStart: -1, HealthInterval: time.Hour}, []BackendSpec{{Addr: a.addr(), Cap: 2}})
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- (&Server{LB: lb, Public: l}).Run(ctx) }()

	idle, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer idle.Close()
	busy, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer busy.Close()
	_, err = io.WriteString(busy, "GET / HTTP/1.1\r\nHost: z\r\n\r\n")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return a.cur.Load() == 1 }, 2*time.Second, time.Millisecond)

	cancel()
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = idle.Read(make([]byte, 1))
	assert.ErrorIs(t, err, io.EOF, "the idle connection is closed")
	select {
	case <-stopped:
		t.Fatal("Run returned with a request in flight")
	default:
	}
	a.gate <- struct{}{}
	busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, body := readResp(t, bufio.NewReader(busy), "GET")
	assert.Equal(t, 200, resp.StatusCode)
	assert.NotEmpty(t, body)
	assert.True(t, resp.Close, "the connection closes after its last response")
	require.NoError(t, <-stopped)
}

// The queue's watch on the client asks the socket only while the request
// waits: it stops when the request leaves the queue, and what it saw stays.
func TestQueueCtxWatch(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	client, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	server, err := l.Accept()
	require.NoError(t, err)
	defer server.Close()

	q := &queueCtx{c: &clientConn{Conn: server}}
	done := q.Done()
	gw := q.w
	require.NotNil(t, gw, "Done starts the watch")
	q.leftQueue()
	require.NoError(t, client.Close())
	time.Sleep(3 * goneCheckAfter) // checks would have seen it by now
	gw.mu.Lock()
	assert.False(t, gw.t.Stop(), "the watch's timer is still armed after the request left the queue")
	gw.mu.Unlock()
	select {
	case <-done:
		t.Fatal("the watch went on checking after the request left the queue")
	default:
	}
	assert.NoError(t, q.Err())

	q = &queueCtx{c: &clientConn{Conn: server}}
	done = q.Done() // its client closed above
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("a gone client was not noticed")
	}
	assert.ErrorIs(t, q.Err(), context.Canceled)
	q.leftQueue()
	assert.ErrorIs(t, q.Err(), context.Canceled, "the verdict stays once the watch ended")
}

// leaverCtx records when the proxy says the request left the queue.
type leaverCtx struct {
	context.Context
	left atomic.Bool
}

func (c *leaverCtx) leftQueue() { c.left.Store(true) }

// The proxy tells the queue context that its request left the queue before
// it sends the request to a Zope (no checks on the client while a Zope
// works on it).
func TestProxyLeavesQueueBeforeZope(t *testing.T) {
	a := newZope(t, true)
	lb, _ := newLB(t, Config{}, a)
	ctx := &leaverCtx{Context: context.Background()}
	req, err := http.NewRequest(http.MethodGet, "http://z/zport/dmd", nil)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	served := make(chan struct{})
	go func() { lb.serve(ctx, rec, req, 0, nil); close(served) }()
	require.Eventually(t, func() bool { return a.cur.Load() == 1 }, 2*time.Second, time.Millisecond)
	assert.True(t, ctx.left.Load(), "the request reached its Zope with the watch still on")
	a.gate <- struct{}{}
	<-served
	assert.Equal(t, http.StatusOK, rec.Code)
}

// lockedBuf is a log destination that tests can read while the balancer
// writes to it.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FuzzServeConn sends arbitrary bytes as a client's connection through the
// connection loop to a Zope and reads what comes back until the balancer
// closes: no handler panics, every answer is a well-formed HTTP/1.1
// response, and the Zope gets no more requests than the client got
// answers.
func FuzzServeConn(f *testing.F) {
	var got atomic.Int64
	addr := scriptedZope(f, func(*http.Request, string) (string, bool) {
		got.Add(1)
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
	})
	var logs lockedBuf
	lb, err := New(Config{SlowStart: -1, HealthInterval: time.Hour}, []BackendSpec{{Addr: addr, Cap: 4}})
	require.NoError(f, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(f, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- (&Server{LB: lb, Public: l, Logger: slog.New(slog.NewTextHandler(&logs, nil))}).Run(ctx)
	}()
	f.Cleanup(func() { cancel(); <-done })
	for _, s := range framingSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n",
		"PUT /a HTTP/1.1\r\nHost: z\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
		"GET /a HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
		"GET /a HTTP/2.0\r\nHost: z\r\n\r\n",
		"HEAD /a HTTP/1.1\r\nHost: z\r\n\r\n",
		"\x16\x03\x01\x00\xa5\x01\x00",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("tcp", l.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
		before := got.Load()
		if _, err := c.Write(in); err != nil {
			return // the balancer refused and closed early
		}
		require.NoError(t, c.(*net.TCPConn).CloseWrite())
		out, err := io.ReadAll(c)
		if err != nil && !errors.Is(err, syscall.ECONNRESET) {
			require.NoError(t, err)
		}
		br := bufio.NewReader(bytes.NewReader(out))
		answers := 0
		for {
			if _, err := br.Peek(1); err != nil {
				break
			}
			resp, err := http.ReadResponse(br, nil)
			require.NoError(t, err, "an answer that is not HTTP: %q", out)
			assert.True(t, resp.StatusCode >= 100 && resp.StatusCode <= 599, "status %d", resp.StatusCode)
			if resp.StatusCode < 200 {
				continue // 100 Continue
			}
			answers++
			if bytes.Contains(in, []byte("HEAD")) {
				break // a HEAD answer has a length and no body: the rest cannot be framed without the requests
			}
			_, err = io.Copy(io.Discard, resp.Body)
			require.NoError(t, err, "a body cut short: %q", out)
		}
		assert.LessOrEqual(t, got.Load()-before, int64(answers)+int64(bytes.Count(in, []byte("HEAD"))), "the Zope got requests whose answers the client did not get")
		assert.NotContains(t, logs.String(), "panic")
	})
}

// RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request is
// ignored (net/http's server serves it; no 417, no 100 Continue).
func TestServeExpectContinueIgnoredInHTTP10(t *testing.T) {
	addr := echoZope(t)
	c, br := rawFront(t, addr)
	resp, body := exchange(t, c, br, "PUT /a HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx", "PUT")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "/ax", body)
}

// RFC 9112 2.2: empty lines before a request line are ignored; old clients
// send a CRLF after a POST body, which net/http's server passes over.
func TestServeEmptyLinesBeforeRequest(t *testing.T) {
	addr := echoZope(t)
	c, br := rawFront(t, addr)
	resp, body := exchange(t, c, br, "POST /a HTTP/1.1\r\nHost: z\r\nContent-Length: 1\r\n\r\nx\r\n", "POST")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "/ax", body)
	resp, body = exchange(t, c, br, "GET /next HTTP/1.1\r\nHost: z\r\n\r\n", "GET")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the CRLF after the POST body is not a request")
	assert.Equal(t, "/next", body)
	resp, body = exchange(t, c, br, "\r\n\r\nGET /third HTTP/1.1\r\nHost: z\r\n\r\n", "GET")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "/third", body)
}

// shortWriteConn gives every write deadline set on it 100 ms at most (as
// if WriteTimeout were 100 ms).
type shortWriteConn struct{ net.Conn }

func (c shortWriteConn) SetWriteDeadline(t time.Time) error {
	if !t.IsZero() {
		t = time.Now().Add(100 * time.Millisecond)
	}
	return c.Conn.SetWriteDeadline(t)
}

type shortWriteListener struct{ net.Listener }

func (l shortWriteListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return shortWriteConn{c}, nil
}

// The write deadline a response was sent with ends with it, as in
// net/http's server: a later request on the connection that expects 100
// Continue gets it, however long ago the response before was sent.
func TestServeWriteDeadlineEndsWithResponse(t *testing.T) {
	addr := echoZope(t)
	lb, err := New(Config{SlowStart: -1, HealthInterval: time.Hour}, []BackendSpec{{Addr: addr}})
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (&Server{LB: lb, Public: shortWriteListener{l}}).Run(ctx) }()
	t.Cleanup(func() { cancel(); assert.NoError(t, <-done) })
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(c)

	resp, _ := exchange(t, c, br, "GET /a HTTP/1.1\r\nHost: z\r\n\r\n", "GET")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	time.Sleep(300 * time.Millisecond) // the response's write deadline passes
	_, err = io.WriteString(c, "PUT /b HTTP/1.1\r\nHost: z\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	require.NoError(t, err)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "HTTP/1.1 100 Continue\r\n", line)
	line, err = br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "\r\n", line)
	resp, body := exchange(t, c, br, "body", "PUT")
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "/bbody", body)
}

// Past its deadline, shutdown closes the connections whose requests are
// still at a Zope and returns (Run's ShutdownTimeout, after which zenpatch
// kills the balancer): it does not wait for the Zope's answer.
func TestServeShutdownDeadline(t *testing.T) {
	a := newZope(t, true)
	lb, err := New(Config{SlowStart: -1, HealthInterval: time.Hour}, []BackendSpec{{Addr: a.addr(), Cap: 2}})
	require.NoError(t, err)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	fs := &frontServer{lb: lb, ln: l, rht: 5 * time.Second, log: lb.cfg.Logger, conns: map[*frontConn]struct{}{}}
	served := make(chan error, 1)
	go func() { served <- fs.serve() }()

	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	_, err = io.WriteString(c, "GET / HTTP/1.1\r\nHost: z\r\n\r\n")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return a.cur.Load() == 1 }, 2*time.Second, time.Millisecond)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- fs.shutdown(ctx) }()
	select {
	case err := <-stopped:
		assert.ErrorIs(t, err, context.DeadlineExceeded)
	case <-time.After(5 * time.Second):
		a.gate <- struct{}{}
		<-stopped
		t.Fatal("shutdown waited for the Zope past its deadline")
	}
	require.NoError(t, <-served)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = c.Read(make([]byte, 1))
	assert.Error(t, err, "the busy connection is closed")
	a.gate <- struct{}{} // the handler finishes
}

// A client that shuts its sending side while its request waits in the
// queue counts as gone (as with nginx): its request leaves the queue and the
// connection is closed without an answer, not with an empty 200.
func TestServeHalfClosedClientGetsNoFakeAnswer(t *testing.T) {
	q := queueBehindFullCap(t, "/half")
	defer q.c.Close()
	require.NoError(t, q.c.(*net.TCPConn).CloseWrite())
	require.NoError(t, q.c.SetReadDeadline(time.Now().Add(5*time.Second)))
	out, err := io.ReadAll(q.c)
	require.NoError(t, err)
	assert.Empty(t, string(out), "no answer for a request no Zope worked on")
	assert.Equal(t, 0, q.lb.Status().Queue)
	assert.Contains(t, metricsText(t, q.lb), "zenpatch_balancer_abandoned_total 1")
	q.finish(t)
}

// queued is a request waiting in the queue behind a Zope whose cap (2) is
// taken by two gated requests.
type queued struct {
	lb   *Balancer
	a    *zope
	c    net.Conn // the queued request's client connection
	done chan int // the two gated requests' status codes
}

// queueBehindFullCap fills the cap of one gated Zope and sends a request
// for path on a connection of its own, once it waits in the queue.
func queueBehindFullCap(t *testing.T, path string) *queued {
	a := newZope(t, true)
	lb, front := newLB(t, Config{QueueTimeout: 20 * time.Second}, a)
	q := &queued{lb: lb, a: a, done: make(chan int, 2)}
	for range 2 { // the cap
		go func() { c, _, _ := get(t, front.URL); q.done <- c }()
	}
	require.Eventually(t, func() bool { return a.cur.Load() == 2 }, 2*time.Second, time.Millisecond)
	c, err := net.Dial("tcp", strings.TrimPrefix(front.URL, "http://"))
	require.NoError(t, err)
	q.c = c
	_, err = io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: z\r\n\r\n")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return lb.Status().Queue == 1 }, 2*time.Second, time.Millisecond)
	return q
}

// finish lets the two gated requests go and checks they were answered.
func (q *queued) finish(t *testing.T) {
	q.a.gate <- struct{}{}
	q.a.gate <- struct{}{}
	assert.Equal(t, http.StatusOK, <-q.done)
	assert.Equal(t, http.StatusOK, <-q.done)
}

// echoZope answers each request with its path and body.
func echoZope(t *testing.T) string {
	return scriptedZope(t, func(r *http.Request, body string) (string, bool) {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(r.URL.Path+body), r.URL.Path+body), false
	})
}
