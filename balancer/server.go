package balancer

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// Server timeouts: slow or idle clients cannot pin the balancer.
const (
	ReadHeaderTimeout = 10 * time.Second // a request's headers must arrive within this
	ReadTimeout       = 5 * time.Minute  // the whole request, body included (uploads)
	IdleTimeout       = 60 * time.Second // keep-alive connections idle longer are closed
	WriteStall        = 30 * time.Second // a client that accepts no bytes for this long is cut
	MaxHeaderBytes    = 64 << 10         // request header size limit
	ShutdownTimeout   = 30 * time.Second // graceful stop: in-flight requests get this long
)

// Server runs a balancer on a public listener and, optionally, its admin
// API on another (a unix socket).
type Server struct {
	LB     *Balancer
	Public net.Listener
	Admin  net.Listener // nil: no admin API
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
	pub := &http.Server{
		Handler:           http.HandlerFunc(s.serve),
		ReadHeaderTimeout: rht,
		ReadTimeout:       ReadTimeout,
		IdleTimeout:       IdleTimeout,
		MaxHeaderBytes:    MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	errc := make(chan error, 2)
	go func() { errc <- pub.Serve(s.Public) }()
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
	if e := pub.Shutdown(sctx); e != nil && err == nil {
		err = e
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

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.LB.ServeHTTP(&stallWriter{ResponseWriter: w, rc: http.NewResponseController(w)}, r)
}

// stallWriter moves the write deadline forward before each write, so a
// response may take as long as it needs while a client that stops reading
// is cut after WriteStall and frees its backend slot.
type stallWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
}

func (w *stallWriter) Write(p []byte) (int, error) {
	_ = w.rc.SetWriteDeadline(time.Now().Add(WriteStall))
	return w.ResponseWriter.Write(p)
}

func (w *stallWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
