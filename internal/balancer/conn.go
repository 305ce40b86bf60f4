package balancer

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

// clientConn is a client's connection as the balancer's connection loop
// (serve.go) reads it: every byte goes through framing (see framing.go),
// which lets the balancer refuse what net/http's parser would wait for or
// accept.
type clientConn struct {
	net.Conn
	fr        framing
	inHandler atomic.Bool // a handler runs for a request of this connection
	// timed says a read deadline is set: before a request is read (the
	// header or idle deadline: the responses before are complete) and
	// while a body is read; none while a handler waits for a Zope.
	timed    atomic.Bool
	answered atomic.Bool // the connection got a refusal from here
	ip       string      // the client's address, for X-Forwarded-For
}

// errRefused is what the connection loop reads after the connection was
// refused here: a read error it closes the connection on without writing
// anything (the refusal is written already).
var errRefused = &net.OpError{Op: "read", Net: "tcp", Err: errors.New("request refused by the balancer")}

// Read gives the connection loop the client's bytes up to where a request
// cannot start; after that it refuses the connection with 400 when the
// loop next reads a request (the responses before are sent by then). A head left
// half-sent past its deadline gets 408.
func (c *clientConn) Read(p []byte) (int, error) {
	for {
		if c.fr.bad.Load() {
			if !c.inHandler.Load() && c.timed.Load() {
				c.refuse("400 Bad Request", "Bad request.\n")
				return 0, errRefused
			}
			// A read while a handler works on the request before: the
			// refusal waits for its response. What comes meanwhile is
			// dropped (it is after the bad byte).
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
		if n == 0 && err != nil && !c.inHandler.Load() && c.timed.Load() && c.fr.midHead() {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				c.refuse("408 Request Timeout", "Request timeout.\n")
			}
		}
		return n, err
	}
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

// SetReadDeadline notes whether a read deadline is set (see timed).
func (c *clientConn) SetReadDeadline(t time.Time) error {
	c.timed.Store(!t.IsZero())
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline: see SetReadDeadline.
func (c *clientConn) SetDeadline(t time.Time) error {
	c.timed.Store(!t.IsZero())
	return c.Conn.SetDeadline(t)
}

// ReadFrom lets the response writer send a spool file with sendfile.
func (c *clientConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// CloseWrite lets the connection loop close its side first after a refusal (so that
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
