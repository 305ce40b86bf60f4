package balancer

import (
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A body bigger than memory allows goes to the spool directory, unlinked
// at once; old spool files are removed at start.
func TestSpoolDirectory(t *testing.T) {
	dir := t.TempDir() + "/spool"
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(dir+"/"+spoolPrefix+"old", []byte("left by a killed balancer"), 0o600))
	require.NoError(t, os.WriteFile(dir+"/keep.txt", []byte("not ours"), 0o600))
	seen := make(chan [32]byte, 1)
	z := backend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") == "zenpatch-balancer-health" {
			return
		}
		h := sha256.New()
		io.Copy(h, r.Body)
		var s [32]byte
		copy(s[:], h.Sum(nil))
		seen <- s
		io.Copy(w, &pattern{n: 3 << 20})
	})
	lb, front := newLBAt(t, Config{SpoolDir: dir}, z)
	fi, err := os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm())
	ents, _ := os.ReadDir(dir)
	require.Len(t, ents, 1)
	assert.Equal(t, "keep.txt", ents[0].Name(), "old spool files removed, nothing else")
	resp, err := http.Post(front.URL, "application/octet-stream", &pattern{n: 5 << 20})
	require.NoError(t, err)
	h := sha256.New()
	n, _ := io.Copy(h, resp.Body)
	resp.Body.Close()
	assert.Equal(t, int64(3<<20), n)
	want := patternSum(3 << 20)
	assert.Equal(t, want[:], h.Sum(nil))
	assert.Equal(t, patternSum(5<<20), <-seen)
	assert.Equal(t, int64(2), lb.bodies.spooled.Load(), "request and response were spooled")
	ents, _ = os.ReadDir(dir)
	assert.Len(t, ents, 1, "spool files are unlinked")
	require.Eventually(t, func() bool { return lb.bodies.spool.Load() == 0 && lb.bodies.mem.Load() == 0 }, time.Second, time.Millisecond,
		"memory and spool given back")
}

// A request that never reached an instance is sent again whole to
// another, from the spool file.
func TestRetryReplaysSpooledBody(t *testing.T) {
	seen := make(chan string, 1)
	good := backend(t, func(w http.ResponseWriter, r *http.Request) {
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		if r.Header.Get("User-Agent") != "zenpatch-balancer-health" {
			seen <- fmt.Sprintf("%d %x", n, h.Sum(nil))
		}
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	deadAddr := l.Addr().String()
	l.Close() // refuses connections
	lb, err := New(Config{SlowStart: -1, HealthInterval: time.Hour}, []BackendSpec{{Addr: deadAddr, Cap: 4}, {Addr: good, Cap: 4}})
	require.NoError(t, err)
	front := startFront(t, lb)
	resp, err := http.Post(front.URL, "application/octet-stream", &pattern{n: 3 << 20})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, fmt.Sprintf("%d %x", 3<<20, patternSum(3<<20)), <-seen)
}

// With the spool full, a request body that cannot be held is answered 503;
// a response that cannot be held is sent on as it comes, whole.
func TestSpoolLimit(t *testing.T) {
	z := backend(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.Copy(w, &pattern{n: 6 << 20})
	})
	lb, front := newLBAt(t, Config{BodyMemory: 1 << 20, SpoolLimit: 2 << 20}, z)
	resp, err := http.Post(front.URL, "application/octet-stream", &pattern{n: 4 << 20})
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	assert.NotEmpty(t, resp.Header.Get("Retry-After"))

	resp, err = http.Get(front.URL)
	require.NoError(t, err)
	h := sha256.New()
	n, err := io.Copy(h, resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, int64(6<<20), n)
	want := patternSum(6 << 20)
	assert.Equal(t, want[:], h.Sum(nil))
	require.Eventually(t, func() bool { return lb.bodies.spool.Load() == 0 && lb.bodies.mem.Load() == 0 }, time.Second, time.Millisecond,
		"memory and spool given back")
}
