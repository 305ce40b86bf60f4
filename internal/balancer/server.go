package balancer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Server timeouts and limits: slow or idle clients cannot pin the balancer.
const (
	ReadHeaderTimeout = 10 * time.Second // a request's headers must arrive within this (then 408)
	ReadTimeout       = 5 * time.Minute  // its body then (uploads)
	IdleTimeout       = 60 * time.Second // keep-alive connections idle longer are closed
	WriteTimeout      = 5 * time.Minute  // a client must take the (buffered) response within this
	MaxHeaderBytes    = 64 << 10         // request line and headers at most (431 beyond)
	ShutdownTimeout   = 30 * time.Second // graceful stop: in-flight requests get this long
)

// Server runs a balancer on a public listener (and, for a Zope with more
// than one <http-server>, extra ones) and, optionally, its admin API on
// another (a unix socket).
type Server struct {
	LB     *Balancer
	Public net.Listener
	Extra  []net.Listener // served with the backends' Extra addresses, in order
	Admin  net.Listener   // nil: no admin API
	Logger *slog.Logger
	// ReadHeaderTimeout overrides the package default (tests).
	ReadHeaderTimeout time.Duration
}

// Run serves until ctx ends, then stops gracefully: no new connections,
// in-flight requests finish (up to ShutdownTimeout).
func (s *Server) Run(ctx context.Context) error {
	log := s.Logger
	if log == nil {
		log = s.LB.cfg.Logger
	}
	rht := s.ReadHeaderTimeout
	if rht == 0 {
		rht = ReadHeaderTimeout
	}
	if want := s.LB.listeners() - 1; len(s.Extra) != want {
		return fmt.Errorf("%d extra listeners for backends with %d extra addresses", len(s.Extra), want)
	}
	// The body's read deadline and the client's write deadline are set per
	// request by the handler: the body's once the headers are in, the
	// client's to take the response once it is ready (a server-wide one
	// would also count the time the request waits for, and at, a Zope).
	listeners := append([]net.Listener{s.Public}, s.Extra...)
	var fronts []*frontServer
	errc := make(chan error, len(listeners)+1)
	for k, l := range listeners {
		fs := &frontServer{lb: s.LB, k: k, ln: l, rht: rht, log: log, conns: map[*frontConn]struct{}{}}
		fronts = append(fronts, fs)
		go func() { errc <- fs.serve() }()
	}
	var adm *http.Server
	if s.Admin != nil {
		adm = &http.Server{Handler: s.LB.AdminHandler(), ReadHeaderTimeout: ReadHeaderTimeout}
		go func() { errc <- adm.Serve(s.Admin) }()
	}
	s.LB.Start(ctx)
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	for _, fs := range fronts {
		if e := fs.shutdown(sctx); e != nil && err == nil {
			err = e
		}
	}
	if adm != nil {
		_ = adm.Shutdown(sctx)
	}
	s.LB.Stop()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// ParseBackends reads a comma-separated host:port list into backends named
// 1, 2, … with the given cap each.
func ParseBackends(list string, capEach int) ([]BackendSpec, error) {
	var specs []BackendSpec
	seen := map[string]bool{}
	for i, b := range strings.Split(list, ",") {
		addr := strings.TrimSpace(b)
		_, port, err := net.SplitHostPort(addr)
		if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q: want host:port, port 1-65535", addr)
		}
		if seen[addr] {
			return nil, fmt.Errorf("%s given twice", addr)
		}
		seen[addr] = true
		specs = append(specs, BackendSpec{Name: strconv.Itoa(i + 1), Addr: addr, Cap: capEach})
	}
	return specs, nil
}

// ListenAndServe runs a standalone balancer over specs on listen until ctx
// ends, with at most procs CPUs (0: the default), and its admin API on the
// unix socket admin (empty: none; the socket is removed as it closes).
func ListenAndServe(ctx context.Context, cfg Config, specs []BackendSpec, listen, admin string, procs int) error {
	lb, err := New(cfg, specs)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", listen, err)
	}
	var adm net.Listener
	if admin != "" {
		if adm, err = ListenAdmin(admin); err != nil {
			l.Close()
			return fmt.Errorf("--admin %s: %w", admin, err)
		}
		// closing the listener removes the socket file (net.UnixListener)
	}
	log := lb.cfg.Logger
	nofile := RaiseOpenFileLimit(log)
	log.Info("balancing", "listen", l.Addr().String(), "backends", len(specs), "cap", specs[0].Cap, "procs", StartProcs(ctx, log, procs), "runtime", RuntimeTuning(), "nofile", nofile)
	return (&Server{LB: lb, Public: l, Admin: adm}).Run(ctx)
}
