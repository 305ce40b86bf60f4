package balancer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The balancer serves its client connections with a loop of its own
// around net/http's request parser (http.ReadRequest) and writes the
// responses itself. net/http's Server would cost, per request, a
// background read that is started and cancelled, a context, its response
// writer and buffers; here a connection has one reader, one writer and one
// header map, used again for each of its requests. The rules are
// net/http's server's: keep-alive, HTTP/1.0, pipelined requests answered in
// order, Expect: 100-continue, the header deadline and size limit, the
// idle timeout, and a graceful shutdown.

// frontServer serves the client connections of one listener.
type frontServer struct {
	lb  *Balancer
	k   int // the listener's index (see Balancer.handler)
	ln  net.Listener
	rht time.Duration // the header deadline
	log *slog.Logger

	closing atomic.Bool
	mu      sync.Mutex
	conns   map[*frontConn]struct{}
	wg      sync.WaitGroup
}

// serve accepts connections until the listener is closed (nil after
// shutdown) or fails.
func (s *frontServer) serve() error {
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return nil
			}
			var te interface{ Temporary() bool }
			if errors.As(err, &te) && te.Temporary() { // EMFILE and the like: wait, then go on
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed", "err", err, "retry in", delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		fc := &frontConn{s: s, c: &clientConn{Conn: c, ip: clientIP(c.RemoteAddr().String())}}
		s.mu.Lock()
		if s.closing.Load() {
			s.mu.Unlock()
			c.Close()
			return nil
		}
		s.conns[fc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go fc.serve()
	}
}

// shutdown stops accepting, closes the idle connections and waits for the
// others to finish their request; when ctx ends first, it closes them and
// returns, as net/http's Server.Close does (a handler still waiting for a
// Zope ends on its own; it has no client left to answer).
func (s *frontServer) shutdown(ctx context.Context) error {
	s.closing.Store(true)
	err := s.ln.Close()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	s.mu.Lock()
	for fc := range s.conns {
		fc.closeIfIdle()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return err
	case <-ctx.Done():
	}
	s.mu.Lock()
	for fc := range s.conns {
		fc.c.Close()
	}
	s.mu.Unlock()
	return ctx.Err()
}

// frontConn is one client connection.
type frontConn struct {
	s    *frontServer
	c    *clientConn
	lim  headLimiter
	body reqBody
	qc   queueCtx

	mu     sync.Mutex
	idle   bool // waiting for a request (shutdown closes it)
	closed bool // closed by shutdown
}

// closeIfIdle closes the connection if it waits for a request.
func (fc *frontConn) closeIfIdle() {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.idle && !fc.closed {
		fc.closed = true
		fc.c.Close()
	}
}

// setIdle marks the connection idle or busy; false: shutdown closed it,
// or is under way and it is idle.
func (fc *frontConn) setIdle(idle bool) bool {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	fc.idle = idle
	return !fc.closed && !(idle && fc.s.closing.Load())
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

// headLimiter passes reads to the connection while remain lasts (the header
// size limit), as net/http's server does.
type headLimiter struct {
	c      *clientConn
	remain int64
}

// Read implements io.Reader.
func (l *headLimiter) Read(p []byte) (int, error) {
	if l.remain <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > l.remain {
		p = p[:l.remain]
	}
	n, err := l.c.Read(p)
	l.remain -= int64(n)
	return n, err
}

// serve reads and answers the connection's requests, one after the other.
func (fc *frontConn) serve() {
	s, c := fc.s, fc.c
	br := readerPool.Get().(*bufio.Reader)
	bw := writerPool.Get().(*bufio.Writer)
	fc.lim.c = c
	br.Reset(&fc.lim)
	bw.Reset(c)
	w := &frontWriter{fc: fc, bw: bw, h: make(http.Header, 8)}
	defer func() {
		if v := recover(); v != nil && v != http.ErrAbortHandler {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			s.log.Warn("panic serving a request", "client", c.ip, "panic", fmt.Sprint(v), "stack", string(buf))
		}
		fc.qc.leftQueue() // a handler that panicked left it running
		c.Close()
		br.Reset(nil)
		readerPool.Put(br)
		bw.Reset(nil)
		writerPool.Put(bw)
		s.mu.Lock()
		delete(s.conns, fc)
		s.mu.Unlock()
		s.wg.Done()
	}()
	remote := c.RemoteAddr().String()
	first := true
	for {
		// the next request: its first byte within the header deadline
		// (the first) or the idle timeout (the others), its head then
		// within the header deadline
		if first {
			_ = c.SetReadDeadline(time.Now().Add(s.rht))
		} else {
			_ = c.SetReadDeadline(time.Now().Add(IdleTimeout))
		}
		if !fc.setIdle(true) {
			return
		}
		fc.lim.remain = MaxHeaderBytes
		// empty lines before the request line are passed over (RFC 9112
		// 2.2; old clients send one after a POST body), as net/http does
		for {
			b, err := br.Peek(1)
			if err != nil {
				return
			}
			if b[0] != '\r' && b[0] != '\n' {
				break
			}
			_, _ = br.Discard(1)
		}
		if !fc.setIdle(false) {
			return
		}
		if !first {
			_ = c.SetReadDeadline(time.Now().Add(s.rht))
		}
		first = false
		req, err := http.ReadRequest(br)
		if err != nil {
			fc.readError(err)
			return
		}
		fc.lim.remain = math.MaxInt64
		_ = c.SetReadDeadline(time.Time{})
		if code, text := checkRequest(req); code != 0 {
			fc.refuseRequest(code, text)
			return
		}
		req.RemoteAddr = remote
		fc.body = reqBody{r: req.Body, done: req.Body == http.NoBody}
		req.Body = &fc.body
		if e, ok := req.Header["Expect"]; ok {
			if len(e) == 1 && strings.EqualFold(strings.TrimSpace(e[0]), "100-continue") {
				// ignored in HTTP/1.0 (RFC 9110 10.1.1), as net/http does
				if req.ProtoAtLeast(1, 1) && !fc.body.done {
					fc.body.cont = bw
				}
			} else {
				fc.refuseRequest(http.StatusExpectationFailed, "")
				return
			}
		}
		w.reset(req)
		fc.qc = queueCtx{c: c}
		s.lb.serve(&fc.qc, w, req, s.k, c) // it stops the queue's watch (leftQueue) once its request leaves the queue
		w.finish()
		_ = c.Conn.SetWriteDeadline(time.Time{}) // the response's (WriteTimeout) ends with it, as in net/http
		if w.err != nil {
			return
		}
		if !fc.body.done || fc.body.cont != nil { // a body left unread (or never asked for)
			fc.closeWriteAndWait()
			return
		}
		if !w.keep {
			return
		}
	}
}

// readError answers a request that could not be read, as net/http does.
func (fc *frontConn) readError(err error) {
	c := fc.c
	if c.answered.Load() {
		fc.closeWriteAndWait()
		return
	}
	if fc.lim.remain <= 0 {
		fc.refuseRequest(http.StatusRequestHeaderFieldsTooLarge, "")
		return
	}
	var ne net.Error
	var ue *url.Error // a malformed request target; it passes for a net.Error too
	if !errors.As(err, &ue) && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) || errors.Is(err, syscall.ECONNRESET)) {
		return // the client went, or its head did not come in time
	}
	if strings.Contains(err.Error(), "unsupported transfer encoding") {
		fc.refuseRequest(http.StatusNotImplemented, "Unsupported transfer encoding")
		return
	}
	fc.refuseRequest(http.StatusBadRequest, "")
}

// checkRequest refuses what net/http's server refuses past the parser:
// another HTTP version than 1.x, a missing or malformed Host, a header name
// that is not a token (the parser keeps names with spaces, such as
// "X Forwarded For"; it refuses control bytes in names and values itself).
// 0: the request is fine.
func checkRequest(req *http.Request) (int, string) {
	if req.ProtoMajor != 1 {
		return http.StatusHTTPVersionNotSupported, "unsupported protocol version"
	}
	// http.ReadRequest refuses a second Host header itself and takes the
	// one into req.Host, so that an empty one cannot be told from none:
	// both are refused in HTTP/1.1, as nginx does (Zope builds its links
	// from the Host it gets; with none, it would name the instance's own
	// address to the user).
	switch {
	case req.ProtoAtLeast(1, 1) && req.Host == "" && req.Method != http.MethodConnect:
		return http.StatusBadRequest, "missing required Host header"
	case !validBytes(req.Host, &hostByte):
		return http.StatusBadRequest, "malformed Host header"
	}
	for k := range req.Header {
		if !validBytes(k, &tokenByte) {
			return http.StatusBadRequest, "invalid header name"
		}
	}
	return 0, ""
}

// refuseRequest answers code (and the reason, if any) and closes the
// connection.
func (fc *frontConn) refuseRequest(code int, reason string) {
	text := strconv.Itoa(code) + " " + http.StatusText(code)
	if reason != "" {
		text += ": " + reason
	}
	fc.c.refuse(text, text)
	fc.closeWriteAndWait()
}

// closeWriteAndWait closes the sending side and reads what the client
// still sends for a moment: closing a connection with unread bytes resets
// it, and the client could lose the answer.
func (fc *frontConn) closeWriteAndWait() {
	c := fc.c
	_ = c.CloseWrite()
	end := time.Now().Add(500 * time.Millisecond)
	_ = c.Conn.SetReadDeadline(end)
	var scratch [4 << 10]byte
	for total := 0; total < 256<<10; {
		n, err := c.Conn.Read(scratch[:])
		total += n
		if err != nil {
			return
		}
	}
	// more is coming: leave it unread a while (the client takes the
	// answer meanwhile), as net/http does
	time.Sleep(time.Until(end))
}

// reqBody is a request's body as the handler reads it: it notes its end,
// and sends 100 Continue before the first read when the client expects it.
type reqBody struct {
	r    io.ReadCloser
	done bool
	cont *bufio.Writer // not nil: 100 Continue is owed
}

// Read implements io.Reader.
func (b *reqBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if b.cont != nil {
		_, _ = b.cont.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		err := b.cont.Flush()
		b.cont = nil
		if err != nil {
			return 0, err
		}
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.done = true
	}
	return n, err
}

// Close implements io.Closer.
func (b *reqBody) Close() error { return nil }

// queueCtx is the context a request waits in the queue with: it ends when
// the client goes away. It asks the socket only while the request is
// queued: the first call of Done (acquireWait makes it once the request
// has to wait) arms a timer that checks every goneCheckAfter, and
// leftQueue (the proxy calls it as soon as acquireWait returns) stops it;
// no check runs while a Zope works on the request. A timer rather than a
// goroutine: most requests leave the queue before the first check, and a
// timer that never fires costs little (a goroutine and a ticker for each
// queued request cost about 1 % of the machine in front of GIL-bound
// Zopes).
type queueCtx struct {
	c    *clientConn
	w    *goneWatch
	gone bool // the watch saw the client gone before it stopped
}

type goneWatch struct {
	done chan struct{} // closed when the client is gone
	mu   sync.Mutex    // held by a check, and to stop
	t    *time.Timer
	stop bool
	gone atomic.Bool
}

// check looks at the client once: gone, it ends Done; else it checks
// again later, unless stopped meanwhile.
func (gw *goneWatch) check(c *clientConn) {
	gw.mu.Lock()
	defer gw.mu.Unlock()
	if gw.stop {
		return
	}
	if c.gone() {
		gw.gone.Store(true)
		close(gw.done)
		return
	}
	gw.t.Reset(goneCheckAfter)
}

// Deadline implements context.Context.
func (q *queueCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done implements context.Context: the first call starts the watch.
func (q *queueCtx) Done() <-chan struct{} {
	if q.w == nil {
		gw := &goneWatch{done: make(chan struct{})}
		c := q.c
		gw.mu.Lock()
		gw.t = time.AfterFunc(goneCheckAfter, func() { gw.check(c) })
		gw.mu.Unlock()
		q.w = gw
	}
	return q.w.done
}

// Err implements context.Context.
func (q *queueCtx) Err() error {
	if q.gone || q.w != nil && q.w.gone.Load() {
		return context.Canceled
	}
	return nil
}

// Value implements context.Context.
func (q *queueCtx) Value(any) any { return nil }

// leftQueue stops the watch (the request is no longer queued): no check
// runs once it returns; what the watch saw stays in Err.
func (q *queueCtx) leftQueue() {
	if gw := q.w; gw != nil {
		gw.mu.Lock()
		gw.stop = true
		gw.t.Stop()
		gw.mu.Unlock()
		q.gone = q.gone || gw.gone.Load()
		q.w = nil
	}
}

// frontWriter writes a response: status line, headers, then the body as
// it is written, with its length, chunked (HTTP/1.1) or up to the
// connection's end (HTTP/1.0).
type frontWriter struct {
	fc      *frontConn
	bw      *bufio.Writer
	req     *http.Request
	h       http.Header
	wrote   bool
	bodyOK  bool
	chunked bool
	keep    bool // the connection stays open after the response
	err     error
	scratch [32]byte
	date    [1]string
}

// Shared header values.
var (
	valChunked   = []string{"chunked"}
	valKeepAlive = []string{"keep-alive"}
)

func (w *frontWriter) reset(req *http.Request) {
	w.req = req
	clear(w.h)
	w.wrote, w.bodyOK, w.chunked, w.keep, w.err = false, false, false, false, nil
}

// Header implements http.ResponseWriter.
func (w *frontWriter) Header() http.Header { return w.h }

// SetReadDeadline sets the client connection's read deadline (the body's).
func (w *frontWriter) SetReadDeadline(t time.Time) error { return w.fc.c.SetReadDeadline(t) }

// SetWriteDeadline sets the client connection's write deadline.
func (w *frontWriter) SetWriteDeadline(t time.Time) error { return w.fc.c.Conn.SetWriteDeadline(t) }

// WriteHeader implements http.ResponseWriter.
func (w *frontWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	req, h := w.req, w.h
	is11 := req.ProtoAtLeast(1, 1)
	keep := !req.Close && !w.fc.s.closing.Load()
	if v, ok := h["Connection"]; ok && hasCloseToken(v) {
		keep = false
	}
	w.bodyOK = code >= 200 && code != http.StatusNoContent && code != http.StatusNotModified && req.Method != http.MethodHead
	if _, ok := h["Content-Length"]; !ok && w.bodyOK {
		if is11 {
			w.chunked = true
			h["Transfer-Encoding"] = valChunked
		} else {
			keep = false
		}
	}
	// The status line says HTTP/1.1 (below), so an HTTP/1.0 client is told
	// in so many words when the connection ends, as nginx does.
	switch {
	case !keep:
		h["Connection"] = valClose
	case !is11:
		h["Connection"] = valKeepAlive
	}
	w.keep = keep
	if _, ok := h["Date"]; !ok {
		w.date[0] = httpDate()
		h["Date"] = w.date[:]
	}
	// HTTP/1.1 whatever the request's minor version: a server answers with
	// the highest it conforms to (RFC 9110 6.2), as net/http and nginx do;
	// the framing above is what an HTTP/1.0 client can read.
	bw := w.bw
	_, _ = bw.WriteString("HTTP/1.1 ")
	_, _ = bw.Write(strconv.AppendInt(w.scratch[:0], int64(code), 10))
	_ = bw.WriteByte(' ')
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	_, _ = bw.WriteString(text)
	_, _ = bw.WriteString("\r\n")
	for k, vv := range h {
		for _, v := range vv {
			_, _ = bw.WriteString(k)
			_, _ = bw.WriteString(": ")
			if strings.ContainsAny(v, "\r\n") {
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			}
			_, _ = bw.WriteString(v)
			_, _ = bw.WriteString("\r\n")
		}
	}
	_, err := bw.WriteString("\r\n")
	w.setErr(err)
}

func (w *frontWriter) setErr(err error) {
	if err != nil && w.err == nil {
		w.err = err
	}
}

// Write implements http.ResponseWriter.
func (w *frontWriter) Write(p []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if !w.bodyOK || len(p) == 0 {
		return len(p), nil
	}
	if w.chunked {
		_, _ = w.bw.Write(strconv.AppendInt(w.scratch[:0], int64(len(p)), 16))
		_, _ = w.bw.WriteString("\r\n")
	}
	n, err := w.bw.Write(p)
	if err == nil && w.chunked {
		_, err = w.bw.WriteString("\r\n")
	}
	w.setErr(err)
	return n, err
}

// ReadFrom sends r's bytes; a spool file goes with sendfile when the body
// is not chunked.
func (w *frontWriter) ReadFrom(r io.Reader) (int64, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if !w.bodyOK || w.chunked {
		return io.Copy(struct{ io.Writer }{w}, r)
	}
	if err := w.bw.Flush(); err != nil {
		w.setErr(err)
		return 0, err
	}
	n, err := w.fc.c.ReadFrom(r)
	w.setErr(err)
	return n, err
}

// finish ends the response and sends what is buffered.
func (w *frontWriter) finish() {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return
	}
	if w.chunked {
		_, _ = w.bw.WriteString("0\r\n\r\n")
	}
	w.setErr(w.bw.Flush())
}

// hasCloseToken says whether a Connection header holds "close".
func hasCloseToken(vv []string) bool {
	for _, v := range vv {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "close") {
				return true
			}
		}
	}
	return false
}

// dateCache holds the Date header value of the current second.
var dateCache atomic.Pointer[dateValue]

type dateValue struct {
	sec int64
	s   string
}

// httpDate is the current time as a Date header value.
func httpDate() string {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.sec == now.Unix() {
		return d.s
	}
	d := &dateValue{sec: now.Unix(), s: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.s
}

// Byte classes of RFC 9110: a token (a header name), and what a Host
// header may hold (that of RFC 3986's host and port, leniently).
var tokenByte, hostByte [256]bool

func init() {
	for c := range 256 {
		alnum := c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		tokenByte[c] = alnum || strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
		hostByte[c] = alnum || strings.IndexByte("!$%&'()*+,-.:;=[]_~", byte(c)) >= 0
	}
}

// validBytes says whether every byte of s is of the class.
func validBytes(s string, class *[256]bool) bool {
	for i := range len(s) {
		if !class[s[i]] {
			return false
		}
	}
	return true
}
