// Package balancer is zenpatch's HTTP load balancer for Zope instances.
//
// Each backend takes at most Cap requests at once (a Zope's zserver-threads);
// requests beyond every cap wait in one bounded FIFO queue and are answered
// 503 with Retry-After past QueueTimeout. A request goes to the eligible
// backend with the fewest outstanding requests. Backends are checked
// actively (HTTP GET, rise/fall) and passively (connect errors); a backend
// that comes (back) up starts with a cap of one request, raised as fast as
// its response times keep up with its peers' (a warm instance is back at
// full cap within a few requests), and at least linearly over SlowStart (a
// cold one, slow to answer, is eased in). When no backend is up, a request
// is answered 503 at once. A request that never reached a backend is
// retried on another; one that did is retried only when its method is
// idempotent (nothing has been sent to the client then). An admin API
// (status, drain, undrain, Prometheus metrics) listens on a unix socket only.
//
// Object affinity (keys.go, ring.go, affinity.go) sends the requests about
// one object (a Zenoss device) to one backend, whose cache holds it:
// consistent hashing with bounded loads over the same caps and queue.
//
// It knows nothing of patches, and of Zenoss only the default object
// affinity rules (DefaultKeySpec), which settings replace for other Zope
// applications: backends are host:port pairs.
package balancer

import (
	"math"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// BackendSpec describes one backend.
type BackendSpec struct {
	Name string // shown in status and metrics; e.g. "1"
	Addr string // host:port: for requests that came on Server.Public, and for health checks
	Cap  int    // most requests at once (zserver-threads; default 4), over all its addresses
	// Extra are the backend's addresses for the requests that came on
	// Server.Extra's listeners, in the same order (a Zope with a second
	// <http-server>): one backend, one cap, one health, several ports.
	Extra []string
}

// BackendState is a backend's state: up, down or draining.
type BackendState string

// Backend states.
const (
	Up       BackendState = "up"
	Down     BackendState = "down"
	Draining BackendState = "draining" // up, but takes no new requests
)

// Backend is one Zope instance as the balancer sees it. Fields other than
// the spec are guarded by the balancer's mutex.
type Backend struct {
	BackendSpec
	up          bool
	draining    bool
	upSince     time.Time // start of the slow start; zero: not in it
	rampCap     int       // cap earned in slow start by answering as fast as the peers
	rampN       int       // responses since rampCap was last raised
	rampLat     int64     // moving average of response times since it came up, ns
	outstanding int
	okRun       int // consecutive good health checks
	failRun     int // consecutive bad ones
	lastErr     string

	served  atomic.Int64
	errors  atomic.Int64
	latency atomic.Int64 // EWMA of response time, nanoseconds

	picks [3]atomic.Int64 // object affinity: served at home, spilled, without a key (recordPick)

	classes   [6]prometheus.Counter // by status class 1xx..5xx; [0] = transport error
	seconds   prometheus.Observer
	addrs     []string    // Addr, then each of Extra
	upstreams []*upstream // keep-alive connections to each of addrs
}

// closeIdle drops the pooled connections to every address of the backend.
func (b *Backend) closeIdle() {
	for _, u := range b.upstreams {
		u.closeIdle()
	}
}

// startSlow begins the backend's slow start (mutex held).
func (b *Backend) startSlow(now time.Time) {
	b.upSince, b.rampCap, b.rampN, b.rampLat = now, 1, 0, 0
}

// state is the backend's state (mutex held).
func (b *Backend) state() BackendState {
	switch {
	case !b.up:
		return Down
	case b.draining:
		return Draining
	}
	return Up
}

// effCap is the cap now, lowered during slow start: the cap its response
// times have earned (rampCap), and at least a linear ramp from 1 to Cap over
// window after the backend came up.
func (b *Backend) effCap(now time.Time, window time.Duration) int {
	if window <= 0 || b.upSince.IsZero() {
		return b.Cap
	}
	el := now.Sub(b.upSince)
	if el >= window {
		return b.Cap
	}
	c := int(math.Ceil(float64(b.Cap) * float64(el) / float64(window)))
	return max(1, b.rampCap, min(c, b.Cap))
}

// answered records one response: its status class and duration.
func (b *Backend) answered(code int, d time.Duration) {
	if c := code / 100; c >= 1 && c <= 5 {
		b.classes[c].Inc()
	}
	b.observe(d)
}

// observe records one answered request's duration.
func (b *Backend) observe(d time.Duration) {
	b.served.Add(1)
	for {
		old := b.latency.Load()
		nv := int64(d)
		if old != 0 {
			nv = old + (int64(d)-old)/8
		}
		if b.latency.CompareAndSwap(old, nv) {
			break
		}
	}
	if b.seconds != nil {
		b.seconds.Observe(d.Seconds())
	}
}
