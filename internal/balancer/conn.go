package balancer

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// clientConn is a client's connection as net/http's server reads it: every
// byte goes through framing (see framing.go), which lets the balancer
// refuse what net/http would wait for or accept.
type clientConn struct {
	net.Conn
	fr        framing
	inHandler atomic.Bool // a handler runs for a request of this connection
	// deadline is the kind of read deadline net/http set last: deadlineNone
	// before its background read (while a handler runs), deadlinePast to
	// cancel that read, deadlineFuture before it reads a request (the
	// header or idle deadline: a response is then complete).
	deadline atomic.Int32
	answered atomic.Bool // the connection got a refusal from here
	ip       string      // the client's address, for X-Forwarded-For

	pmu     sync.Mutex
	parking bool          // net/http's background read waits in park
	closed  bool          // Close was called
	wake    chan struct{} // ends the wait in park
}

// errRefused is what net/http's server reads after the connection was
// refused here: a read error it closes the connection on without writing
// anything (the refusal is written already).
var errRefused = &net.OpError{Op: "read", Net: "tcp", Err: errors.New("request refused by the balancer")}

// Kinds of read deadline.
const (
	deadlineNone int32 = iota
	deadlineFuture
	deadlinePast
)

// Read gives net/http the client's bytes up to where a request cannot
// start; after that it refuses the connection with 400 when net/http next
// reads a request (the responses before are sent by then). A head left
// half-sent past its deadline gets 408.
func (c *clientConn) Read(p []byte) (int, error) {
	if len(p) == 1 && c.park() {
		return 0, os.ErrDeadlineExceeded
	}
	for {
		if c.fr.bad.Load() {
			if !c.inHandler.Load() && c.deadline.Load() == deadlineFuture {
				c.refuse("400 Bad Request", "Bad request.\n")
				return 0, errRefused
			}
			// net/http reads in the background while a handler works on the
			// request before: the refusal waits for its response. What comes
			// meanwhile is dropped (it is after the bad byte).
			var scratch [512]byte
			if _, err := c.Conn.Read(scratch[:]); err != nil {
				return 0, err
			}
			continue
		}
		n, err := c.Conn.Read(p)
		if n > 0 {
			if ok := c.fr.feed(p[:n]); ok < n {
				n = ok
				if n == 0 {
					continue
				}
				err = nil
			}
		}
		if n == 0 && err != nil && !c.inHandler.Load() && c.deadline.Load() == deadlineFuture && c.fr.midHead() {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.refuse("408 Request Timeout", "Request timeout.\n")
			}
		}
		return n, err
	}
}

// park holds net/http's background read while a handler works on a
// request, until net/http cancels it (it always does when the handler is
// done), instead of a read on the socket: net/http starts one for every
// request, to notice a client that goes away, and the balancer does not
// need it (it asks the socket itself, before it sends a request that had
// to wait to an instance: see gone). A read on the socket and its
// cancellation cost a system call and two wake-ups per request, taken from
// the Zopes' CPUs. The background read is told apart by its one-byte
// buffer and no deadline (net/http clears it just before); park returns
// false for any other read.
func (c *clientConn) park() bool {
	c.pmu.Lock()
	if c.deadline.Load() != deadlineNone || c.closed {
		c.pmu.Unlock()
		return false
	}
	if c.wake == nil {
		c.wake = make(chan struct{}, 1)
	}
	c.parking = true
	c.pmu.Unlock()
	<-c.wake
	return true
}

// unpark ends park's wait (pmu held).
func (c *clientConn) unparkLocked() {
	if c.parking {
		c.parking = false
		c.wake <- struct{}{}
	}
}

// Close implements net.Conn; a background read held in park ends.
func (c *clientConn) Close() error {
	c.pmu.Lock()
	c.closed = true
	c.unparkLocked()
	c.pmu.Unlock()
	return c.Conn.Close()
}

// gone says whether the client has closed its connection (or sent no more
// and reset it): a peek at the socket, which does not block. Pipelined
// bytes waiting count as a client still there.
func (c *clientConn) gone() bool {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	g := false
	_ = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		g = err == nil && n == 0 || err != nil && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, syscall.EINTR)
		return true
	})
	return g
}

// refuse writes a refusal (status line and text) and marks the connection
// to be closed; once only.
func (c *clientConn) refuse(status, text string) {
	if c.answered.Swap(true) {
		return
	}
	_ = c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c.Conn, "HTTP/1.1 "+status+"\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "+
		strconv.Itoa(len(text))+"\r\nConnection: close\r\n\r\n"+text)
}

// SetReadDeadline notes what kind of read net/http is about to do (see
// deadline).
func (c *clientConn) SetReadDeadline(t time.Time) error {
	c.setKind(deadlineKind(t))
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline: see SetReadDeadline.
func (c *clientConn) SetDeadline(t time.Time) error {
	c.setKind(deadlineKind(t))
	return c.Conn.SetDeadline(t)
}

// setKind notes the kind of read deadline; one in the past (net/http
// cancelling its background read) ends park's wait.
func (c *clientConn) setKind(k int32) {
	c.pmu.Lock()
	c.deadline.Store(k)
	if k == deadlinePast {
		c.unparkLocked()
	}
	c.pmu.Unlock()
}

func deadlineKind(t time.Time) int32 {
	switch {
	case t.IsZero():
		return deadlineNone
	case t.Unix() < 1e6: // net/http's "a long time ago"
		return deadlinePast
	}
	return deadlineFuture
}

// ReadFrom lets net/http send a spool file with sendfile.
func (c *clientConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite lets net/http close its side first after a refusal (so that
// the client reads the answer before the connection goes).
func (c *clientConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// clientIP is the client's address without port, IPv4-mapped addresses as
// IPv4.
func clientIP(remote string) string {
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		return ap.Addr().Unmap().String()
	}
	if h, _, err := net.SplitHostPort(remote); err == nil {
		return h
	}
	return remote
}

// clientListener wraps each accepted connection in a clientConn.
type clientListener struct{ net.Listener }

// Accept implements net.Listener.
func (l clientListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &clientConn{Conn: c, ip: clientIP(c.RemoteAddr().String())}, nil
}

type connKey struct{}

// withConn puts the connection in the context net/http gives its requests.
func withConn(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}
