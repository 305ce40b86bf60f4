// Command conncheck checks that an HTTP server holds many connections at
// once, each of them answered; the old-kernel CI step (../ci.sh) runs it
// against zenpatch's balancer under the 2.6.32 model.
//
//	conncheck backend --listen 127.0.0.1:0 --addr-file FILE
//	conncheck clients --url http://127.0.0.1:PORT/ --conns 2000 --requests 5
//
// backend is the stand-in backend: every request gets 200 "ok". It writes
// the address it listens on to FILE and runs until SIGTERM or SIGINT.
//
// clients opens --conns keep-alive connections to --url, all at once, and
// sends one request on each; only when every connection has had its answer
// (so all were open together) does each send --requests more; then all are
// closed. It prints the figures and exits 1 if any connection could not be
// opened or any request failed or was not answered 200. It only connects to
// the URL given, and stops by itself at --timeout.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	usage := "usage: conncheck backend --listen ADDR --addr-file FILE\n       conncheck clients --url URL [--conns N] [--requests N] [--timeout D]\n"
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	switch args[0] {
	case "backend":
		err = runBackend(ctx, args[1:], stderr)
	case "clients":
		err = runClients(ctx, args[1:], stdout, stderr)
	default:
		fmt.Fprint(stderr, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "conncheck: error: %v\n", err)
		return 1
	}
	return 0
}

func runBackend(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("conncheck backend", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:0", "listen on `ADDR`")
	addrFile := fs.String("addr-file", "", "write the address listened on to `FILE`")
	if err := fs.Parse(args); err != nil {
		return err
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	if *addrFile != "" {
		// Whole or not at all: the CI script polls for the file.
		tmp := filepath.Join(filepath.Dir(*addrFile), "."+filepath.Base(*addrFile)+".tmp")
		if err := os.WriteFile(tmp, []byte(l.Addr().String()+"\n"), 0o644); err != nil {
			return err
		}
		if err := os.Rename(tmp, *addrFile); err != nil {
			return err
		}
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "ok\n")
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// tally counts what the clients saw.
type tally struct {
	opened, answeredFirst, answered, open, peak atomic.Int64
	mu                                          sync.Mutex
	errs                                        map[string]int
	firstLat                                    []time.Duration
}

func (t *tally) fail(what string, err error) {
	kind := what
	if err != nil {
		kind += ": " + errKind(err)
	}
	t.mu.Lock()
	t.errs[kind]++
	t.mu.Unlock()
}

func (t *tally) failures() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, c := range t.errs {
		n += c
	}
	return n
}

func runClients(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("conncheck clients", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rawURL := fs.String("url", "", "`URL` to send GET requests to (http only)")
	conns := fs.Int("conns", 2000, "connections held open at once")
	requests := fs.Int("requests", 5, "requests on each connection after the first")
	timeout := fs.Duration("timeout", 60*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(*rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return fmt.Errorf("--url %q: want http://HOST:PORT/PATH", *rawURL)
	}
	if *conns < 1 || *requests < 0 {
		return errors.New("--conns must be 1 or more, --requests 0 or more")
	}
	// This process needs a descriptor per connection too.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(*conns)+64 {
		return fmt.Errorf("this process's open-file limit is %d, too low for --conns %d (raise the hard limit: ulimit -Hn)", lim.Cur, *conns)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	deadline, _ := ctx.Deadline()

	path := u.RequestURI()
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nUser-Agent: zenpatch-conncheck\r\n\r\n")
	t := &tally{errs: map[string]int{}}
	var firstRound, lastRound, closed sync.WaitGroup
	allAnswered, allDone := make(chan struct{}), make(chan struct{})
	firstRound.Add(*conns)
	lastRound.Add(*conns)
	start := time.Now()
	for range *conns {
		closed.Go(func() {
			c := client{t: t, req: req}
			ok := c.open(ctx, u.Host, deadline)
			if ok {
				ok = c.ask(true)
			}
			firstRound.Done()
			if !ok {
				lastRound.Done()
				c.close()
				return
			}
			select {
			case <-allAnswered:
			case <-ctx.Done():
			}
			for i := 0; i < *requests && ok && ctx.Err() == nil; i++ {
				ok = c.ask(false)
			}
			lastRound.Done()
			select { // hold the connection until every client is through
			case <-allDone:
			case <-ctx.Done():
			}
			c.close()
		})
	}
	firstRound.Wait()
	allOpen := time.Since(start)
	close(allAnswered)
	lastRound.Wait()
	close(allDone)
	closed.Wait()
	elapsed := time.Since(start)

	want := int64(*conns) * int64(*requests+1)
	answered := t.answered.Load()
	if ctx.Err() != nil && answered < want {
		t.fail("timed out after "+timeout.String(), nil)
	}
	slices.Sort(t.firstLat)
	p99 := time.Duration(0)
	if n := len(t.firstLat); n > 0 {
		p99 = t.firstLat[min(n-1, n*99/100)]
	}
	fmt.Fprintf(stdout, "conncheck: %d connections to %s: %d opened, %d open at once at the peak, %d answered while all were open (first answers within %s, p99 %s)\n",
		*conns, u, t.opened.Load(), t.peak.Load(), t.answeredFirst.Load(), allOpen.Round(time.Millisecond), p99.Round(time.Millisecond))
	fmt.Fprintf(stdout, "conncheck: %d of %d requests answered 200, %d errors, in %s (%.0f req/s)\n",
		answered, want, t.failures(), elapsed.Round(time.Millisecond), float64(answered)/elapsed.Seconds())
	if n := t.failures(); n > 0 || answered != want || t.peak.Load() != int64(*conns) {
		kinds := make([]string, 0, len(t.errs))
		for k, c := range t.errs {
			kinds = append(kinds, fmt.Sprintf("%d× %s", c, k))
		}
		sort.Strings(kinds)
		for _, k := range kinds {
			fmt.Fprintf(stdout, "conncheck: failed: %s\n", k)
		}
		return fmt.Errorf("%d of %d requests answered, %d of %d connections open at once", answered, want, t.peak.Load(), *conns)
	}
	return nil
}

// client is one keep-alive connection.
type client struct {
	t    *tally
	req  []byte
	conn net.Conn
	br   *bufio.Reader
}

func (c *client) open(ctx context.Context, host string, deadline time.Time) bool {
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", host)
	if err != nil {
		c.t.fail("connect", err)
		return false
	}
	_ = conn.SetDeadline(deadline)
	c.conn, c.br = conn, bufio.NewReader(conn)
	c.t.opened.Add(1)
	if n := c.t.open.Add(1); n > c.t.peak.Load() {
		for p := c.t.peak.Load(); n > p && !c.t.peak.CompareAndSwap(p, n); p = c.t.peak.Load() {
		}
	}
	return true
}

// ask sends one request and reads its answer.
func (c *client) ask(first bool) bool {
	t0 := time.Now()
	if _, err := c.conn.Write(c.req); err != nil {
		c.t.fail("send", err)
		return false
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.fail("read answer", err)
		return false
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	switch {
	case err != nil:
		c.t.fail("read body", err)
		return false
	case resp.StatusCode != http.StatusOK:
		c.t.fail(fmt.Sprintf("status %d", resp.StatusCode), nil)
		return false
	case resp.Close:
		c.t.fail("server closed the keep-alive connection", nil)
		return false
	}
	c.t.answered.Add(1)
	if first {
		c.t.answeredFirst.Add(1)
		c.t.mu.Lock()
		c.t.firstLat = append(c.t.firstLat, time.Since(t0))
		c.t.mu.Unlock()
	}
	return true
}

func (c *client) close() {
	if c.conn != nil {
		c.conn.Close()
		c.t.open.Add(-1)
	}
}

// errKind names an error without its addresses, so like failures group.
func errKind(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se.Err
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "timed out"
	}
	return strings.TrimSpace(err.Error())
}
