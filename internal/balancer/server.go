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

	"github.com/valyala/fasthttp"
)

// Server timeouts and limits: slow or idle clients cannot pin the balancer.
const (
	ReadHeaderTimeout = 10 * time.Second // a request's headers must arrive within this
	ReadTimeout       = 5 * time.Minute  // its body then (uploads)
	IdleTimeout       = 60 * time.Second // keep-alive connections idle longer are closed
	WriteTimeout      = 5 * time.Minute  // a client must take the (buffered) response within this
	MaxHeaderBytes    = 64 << 10         // request header size limit (431 beyond)
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

type fastLogger struct{ l *slog.Logger }

// Printf implements fasthttp.Logger, at debug level.
func (f fastLogger) Printf(format string, args ...any) { f.l.Debug(fmt.Sprintf(format, args...)) }

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
	newServer := func(handler fasthttp.RequestHandler) *fasthttp.Server {
		return &fasthttp.Server{
			Handler:     handler,
			ReadTimeout: rht, // until the headers are in; then HeaderReceived extends it
			HeaderReceived: func(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
				if h.ContentLength() == 0 {
					return fasthttp.RequestConfig{} // no body to wait for: no deadline to move
				}
				return fasthttp.RequestConfig{ReadTimeout: ReadTimeout}
			},
			WriteTimeout:          WriteTimeout,
			IdleTimeout:           IdleTimeout,
			ReadBufferSize:        MaxHeaderBytes,
			MaxRequestBodySize:    MaxBody,
			NoDefaultServerHeader: true,
			NoDefaultContentType:  true,
			ErrorHandler:          requestError,
			CloseOnShutdown:       true,
			Logger:                fastLogger{log},
		}
	}
	servers := []*fasthttp.Server{newServer(s.LB.serve)}
	for k := range s.Extra {
		servers = append(servers, newServer(func(ctx *fasthttp.RequestCtx) { s.LB.serveOn(ctx, k+1) }))
	}
	listeners := append([]net.Listener{s.Public}, s.Extra...)
	errc := make(chan error, len(servers)+1)
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
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
	for _, srv := range servers {
		if e := srv.ShutdownWithContext(sctx); e != nil && err == nil {
			err = e
		}
	}
	if adm != nil {
		_ = adm.Shutdown(sctx)
	}
	s.LB.Stop()
	if err == http.ErrServerClosed {
		err = nil
	}
	return err
}

// requestError answers a request that could not be read, and the
// connection is closed: 413 for a body beyond MaxBody (fasthttp's default
// handler says 400), 431 for a header beyond MaxHeaderBytes, 408 when it
// did not arrive in time, else 400.
func requestError(ctx *fasthttp.RequestCtx, err error) {
	var small *fasthttp.ErrSmallBuffer
	var ne *net.OpError
	switch {
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		ctx.Error("Request body too large.\n", fasthttp.StatusRequestEntityTooLarge)
	case errors.As(err, &small):
		ctx.Error("Request header too large.\n", fasthttp.StatusRequestHeaderFieldsTooLarge)
	case errors.As(err, &ne) && ne.Timeout():
		ctx.Error("Request timeout.\n", fasthttp.StatusRequestTimeout)
	default:
		ctx.Error("Bad request.\n", fasthttp.StatusBadRequest)
	}
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

// ListenAndServe runs a standalone balancer (no admin API) over specs on
// listen until ctx ends, with at most procs CPUs (0: the default).
func ListenAndServe(ctx context.Context, cfg Config, specs []BackendSpec, listen string, procs int) error {
	lb, err := New(cfg, specs)
	if err != nil {
		return err
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", listen, err)
	}
	log := lb.cfg.Logger
	nofile := RaiseOpenFileLimit(log)
	log.Info("balancing", "listen", l.Addr().String(), "backends", len(specs), "cap", specs[0].Cap, "procs", StartProcs(ctx, log, procs), "runtime", RuntimeTuning(), "nofile", nofile)
	return (&Server{LB: lb, Public: l}).Run(ctx)
}
