package balancer

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// upstream is the keep-alive connection pool to one backend address and
// the client that sends requests over it. It speaks HTTP/1.1 with
// net/http's own wire code (Request.Write, ReadResponse), one request at a
// time on a connection, in the goroutine of the request: no goroutines of
// its own per connection, as net/http's Transport has (its reader and
// writer goroutines cost about a quarter of the balancer's CPU per request
// on instant backends; see README, "Balancer figures").
//
// A pooled connection is checked before it is used again (see get): if the Zope has
// closed it while it was idle (its keep-alive timeout, a restart), a peek
// at the socket finds the end of the stream, and the connection is
// dropped. A connection that closes just as a request goes out is replaced
// by a fresh one when nothing of the request was written, or when the
// request is idempotent and no byte of an answer came (net/http's rules).
type upstream struct {
	addr    string
	dialer  net.Dialer
	mu      sync.Mutex
	idle    []*upConn // most recently used last
	maxIdle int
}

// upConn is one connection to a backend.
type upConn struct {
	u       *upstream
	c       net.Conn
	rc      syscall.RawConn
	br      *bufio.Reader
	bw      *bufio.Writer
	idleAt  time.Time // when it went back to the pool
	reused  bool      // it served a request before
	written int64     // bytes written for the current request
	read    int64     // bytes read for the current request
}

// Errors of one exchange on a connection.
var (
	errNothingWritten = errors.New("connection closed before the request was written")
	errNoAnswer       = errors.New("connection closed before any answer")
)

func newUpstream(addr string, dialTimeout time.Duration) *upstream {
	return &upstream{addr: addr, dialer: net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}, maxIdle: 1024}
}

// recentIdle is how long a pooled connection may have been idle and still
// be used for an idempotent request without the peek (see get).
const recentIdle = time.Second

// get returns a live pooled connection, or a new one. For an idempotent
// request (idem), a connection idle less than recentIdle is used without
// the peek at its socket (a system call per request under load): if the
// instance closed it meanwhile, no byte of an answer comes and exchange
// sends the request again on another connection, as net/http's rules
// allow. A connection idle longer is peeked at, as for any other request:
// a server may have answered on it unasked before closing (a timeout
// response), which must not be taken for the answer to this request.
func (u *upstream) get(now time.Time, idem bool) (*upConn, error) {
	u.mu.Lock()
	for n := len(u.idle); n > 0; n = len(u.idle) {
		pc := u.idle[n-1]
		u.idle[n-1] = nil
		u.idle = u.idle[:n-1]
		if now.Sub(pc.idleAt) >= IdleTimeout {
			pc.c.Close()
			continue
		}
		u.mu.Unlock()
		if idem && now.Sub(pc.idleAt) < recentIdle && pc.br.Buffered() == 0 || pc.alive() {
			pc.reused = true
			return pc, nil
		}
		pc.c.Close()
		u.mu.Lock()
	}
	u.mu.Unlock()
	c, err := u.dialer.Dial("tcp", u.addr)
	if err != nil {
		return nil, &dialError{err}
	}
	pc := &upConn{u: u, c: c}
	if sc, ok := c.(syscall.Conn); ok {
		pc.rc, _ = sc.SyscallConn()
	}
	pc.br = bufio.NewReaderSize(countReader{pc}, 8<<10)
	pc.bw = bufio.NewWriterSize(countWriter{pc}, 8<<10)
	return pc, nil
}

// put gives a connection back to the pool.
func (u *upstream) put(pc *upConn, now time.Time) {
	pc.idleAt = now
	u.mu.Lock()
	if len(u.idle) < u.maxIdle {
		u.idle = append(u.idle, pc)
		pc = nil
	}
	u.mu.Unlock()
	if pc != nil {
		pc.c.Close()
	}
}

// closeIdle closes every pooled connection.
func (u *upstream) closeIdle() {
	u.mu.Lock()
	idle := u.idle
	u.idle = nil
	u.mu.Unlock()
	for _, pc := range idle {
		pc.c.Close()
	}
}

// sweep closes pooled connections that are dead or idle too long (their
// sockets would otherwise linger half-closed until the next request).
func (u *upstream) sweep(now time.Time) {
	u.mu.Lock()
	keep := u.idle[:0]
	var drop []*upConn
	for _, pc := range u.idle {
		if now.Sub(pc.idleAt) >= IdleTimeout || !pc.alive() {
			drop = append(drop, pc)
		} else {
			keep = append(keep, pc)
		}
	}
	for i := len(keep); i < len(u.idle); i++ {
		u.idle[i] = nil
	}
	u.idle = keep
	u.mu.Unlock()
	for _, pc := range drop {
		pc.c.Close()
	}
}

// alive says whether an idle connection is still open, with nothing
// unasked for waiting on it: a peek at the socket, which does not block.
func (pc *upConn) alive() bool {
	if pc.br.Buffered() > 0 {
		return false // bytes nobody asked for
	}
	if pc.rc == nil {
		return true // not a socket (tests): nothing to peek at
	}
	ok := false
	err := pc.rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = errors.Is(err, syscall.EAGAIN) // no data and no end: alive
		return true
	})
	return err == nil && ok
}

type countReader struct{ pc *upConn }

func (r countReader) Read(p []byte) (int, error) {
	n, err := r.pc.c.Read(p)
	r.pc.read += int64(n)
	return n, err
}

type countWriter struct{ pc *upConn }

func (w countWriter) Write(p []byte) (int, error) {
	n, err := w.pc.c.Write(p)
	w.pc.written += int64(n)
	return n, err
}

// exchange sends req to the backend and reads the whole response body into
// rs, within deadline. done ends the exchange (the connection goes back to
// the pool when the response was read whole and may be followed by
// another); call it once whatever err is. On errNoSpool the response is
// good but the rest of its body is still to be read from resp.Body.
func (u *upstream) exchange(req *http.Request, body *body, idem bool, rs *body, deadline time.Time) (resp *http.Response, done func(), err error) {
	for {
		pc, err := u.get(time.Now(), idem)
		if err != nil {
			return nil, func() {}, err
		}
		resp, err := pc.roundTrip(req, body, deadline)
		if err != nil {
			pc.c.Close()
			// A pooled connection closed under the request: again on a
			// fresh one, when that is safe (see upstream).
			if pc.reused && (errors.Is(err, errNothingWritten) || idem && errors.Is(err, errNoAnswer)) {
				continue
			}
			return nil, func() {}, err
		}
		if resp.Body != http.NoBody {
			err = rs.fill(resp.Body, resp.ContentLength, MaxBody)
		}
		reuse := err == nil && !resp.Close
		return resp, func() {
			if reuse {
				_ = pc.c.SetDeadline(time.Time{})
				u.put(pc, time.Now())
				return
			}
			pc.c.Close()
		}, err
	}
}

// roundTrip writes req (its body from b) and reads the response head;
// 1xx interim responses are passed over.
func (pc *upConn) roundTrip(req *http.Request, b *body, deadline time.Time) (*http.Response, error) {
	pc.written, pc.read = 0, 0
	if err := pc.c.SetDeadline(deadline); err != nil {
		return nil, err
	}
	err := writeHead(pc.bw, req)
	if err == nil && b.n > 0 {
		_, err = io.Copy(pc.bw, b.reader())
	}
	if err == nil {
		err = pc.bw.Flush()
	}
	if err != nil {
		pc.bw.Reset(countWriter{pc})
		if pc.written == 0 {
			return nil, fmt.Errorf("%w: %v", errNothingWritten, err)
		}
		if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
			// the instance had closed the connection (a pooled one taken
			// without the peek, see get): no answer can come
			return nil, fmt.Errorf("%w: %v", errNoAnswer, err)
		}
		return nil, err
	}
	for {
		resp, err := http.ReadResponse(pc.br, req)
		if err != nil {
			if pc.read == 0 && (errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET)) {
				return nil, fmt.Errorf("%w: %v", errNoAnswer, err)
			}
			return nil, err
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			return resp, nil
		}
		// an interim answer (100 Continue, 103 Early Hints): its head only
	}
}

// writeHead writes req's request line and header section in HTTP/1.1 wire
// format, as net/http's Request.Write would (without sorting the header
// names, which costs a tenth of the request's CPU). Names and values come
// from the client connection loop, which has checked them (checkRequest: no
// CR, LF or NUL), or from
// the balancer. The length is req.ContentLength, stated for any body and for
// POST, PUT and PATCH without one.
func writeHead(bw *bufio.Writer, req *http.Request) error {
	target := req.URL.RequestURI()
	for i := 0; i < len(target); i++ {
		if c := target[i]; c < ' ' || c == 0x7f {
			return errors.New("control character in the request target")
		}
	}
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	bw.WriteString(target)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(req.Host)
	bw.WriteString("\r\n")
	for k, vv := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer", "Connection":
			continue
		}
		for _, v := range vv {
			if v == "" && k == "User-Agent" { // an empty one is not sent, as net/http's Request.Write would not
				continue
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if n := req.ContentLength; n > 0 || req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch {
		bw.WriteString("Content-Length: ")
		var num [20]byte
		bw.Write(strconv.AppendInt(num[:0], n, 10))
		bw.WriteString("\r\n")
	}
	_, err := bw.WriteString("\r\n")
	return err
}
