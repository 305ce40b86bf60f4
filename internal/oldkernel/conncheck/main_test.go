package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func clients(t *testing.T, url string, extra ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	args := append([]string{"clients", "--url", url, "--conns", "40", "--requests", "3", "--timeout", "20s"}, extra...)
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestClients(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		code    int
		out     []string
	}{
		{"all answered", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }, 0,
			[]string{"40 opened, 40 open at once at the peak, 40 answered while all were open", "160 of 160 requests answered 200, 0 errors"}},
		{"503s counted", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }, 1,
			[]string{"0 of 160 requests answered 200, 40 errors", "failed: 40× status 503"}},
		{"closed keep-alive counted", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "ok")
		}, 1, []string{"failed: 40× server closed the keep-alive connection"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			code, out, errs := clients(t, srv.URL+"/x")
			assert.Equal(t, tc.code, code, out+errs)
			for _, want := range tc.out {
				assert.Contains(t, out, want)
			}
		})
	}
}

func TestClientsNoServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	l.Close()
	code, out, errs := clients(t, "http://"+addr+"/")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "0 opened")
	assert.Contains(t, out, "40× connect: connection refused")
	assert.Contains(t, errs, "conncheck: error: 0 of 160 requests answered")
}

// TestClientsHoldAll: no connection is answered until all are open, so the
// server sees every connection at once.
func TestClientsHoldAll(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	var mu sync.Mutex
	open, peak := 0, 0
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			open++
			peak = max(peak, open)
		case http.StateClosed, http.StateHijacked:
			open--
		}
	}
	srv.Start()
	defer srv.Close()
	code, out, _ := clients(t, srv.URL)
	require.Equal(t, 0, code, out)
	srv.Close()
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 40, peak, "connections open at once, as the server saw them")
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"nonsense"},
		{"clients", "--url", "https://example.invalid/"},
		{"clients", "--url", "http://127.0.0.1:1/", "--conns", "0"},
	} {
		var out, errb bytes.Buffer
		assert.NotEqual(t, 0, run(args, &out, &errb), "%v", args)
		assert.NotEmpty(t, errb.String(), "%v", args)
	}
}

func TestBackend(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	addrFile := filepath.Join(t.TempDir(), "addr")
	done := make(chan error, 1)
	go func() {
		done <- runBackend(ctx, []string{"--listen", "127.0.0.1:0", "--addr-file", addrFile}, io.Discard)
	}()
	var addr string
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(addrFile)
		addr = strings.TrimSpace(string(b))
		return err == nil && addr != ""
	}, 5*time.Second, 10*time.Millisecond)
	resp, err := http.Get("http://" + addr + "/anything")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok\n", string(body))
	cancel()
	select {
	case err := <-done:
		assert.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("backend did not stop")
	}
}
