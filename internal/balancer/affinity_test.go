package balancer

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// affinityLB is a balancer over n backends of cap capEach (no slow start,
// no health checks) with object affinity cfg, and its affinity state.
func affinityLB(t *testing.T, n, capEach int, cfg KeyAffinity) (*Balancer, *affinity) {
	t.Helper()
	specs := make([]BackendSpec, n)
	for i := range specs {
		specs[i] = BackendSpec{Addr: fmt.Sprintf("127.0.0.1:%d", 19201+i), Cap: capEach}
	}
	lb, err := New(Config{SlowStart: -1}, specs)
	require.NoError(t, err)
	a := newAffinity(cfg)
	a.setBackends(lb.backends)
	return lb, a
}

// keyHome returns the k-th key hash (k ≥ 0) whose home on a's ring is
// backend node, all backends usable.
func keyHome(a *affinity, node, k int) uint64 {
	for i := 0; ; i++ {
		h := KeyHash(fmt.Sprintf("dev%05d", i))
		if a.ring.Home(h) == node {
			if k == 0 {
				return h
			}
			k--
		}
	}
}

func keyed(h uint64) *waiter { return &waiter{hash: h, keyed: true, ch: make(chan *Backend, 1)} }

func plain() *waiter { return &waiter{ch: make(chan *Backend, 1)} }

func TestAffinityDefaults(t *testing.T) {
	assert.Nil(t, newAffinity(KeyAffinity{Off: true}))
	k := KeyAffinity{}.WithDefaults()
	assert.NotNil(t, k.Rules)
	assert.Equal(t, KeyAffinity{Rules: k.Rules, Factor: 1.25, MaxWait: 50 * time.Millisecond, SpillBelow: 1}, k)
	own := KeyAffinity{Factor: 1.5, MaxWait: time.Second, SpillBelow: 3}
	assert.Equal(t, 1.5, own.WithDefaults().Factor)
	assert.Equal(t, 3, own.WithDefaults().SpillBelow)
	// requestKey: the rules' hash; nil affinity has no keys.
	lb, a := affinityLB(t, 2, 4, KeyAffinity{})
	h, ok := a.requestKey("GET", []byte(devUID+"/devicedetail"), nil, nil)
	assert.True(t, ok)
	assert.Equal(t, KeyHash("dev00042"), h)
	var off *affinity
	_, ok = off.requestKey("GET", []byte(devUID), nil, nil)
	assert.False(t, ok)
	assert.False(t, off.ready(lb))
	assert.True(t, a.ready(lb))
}

func TestPickKeyed(t *testing.T) {
	for _, tc := range []struct {
		name       string
		spill      int
		out        [2]int // outstanding on the key's home (0) and the other (1)
		setup      func(home, other *Backend, w *waiter)
		want       int // 0 home, 1 other, -1 none
		wantAtHome bool
	}{
		{name: "home free", out: [2]int{1, 0}, want: 0, wantAtHome: true},
		{name: "home free, other busy", out: [2]int{3, 3}, want: 0, wantAtHome: true},
		// 2 + 0: bound ⌈1.25 × 3 / 2⌉ = 2: the home is at it, the other idle.
		{name: "home at the bound", out: [2]int{2, 0}, want: 1},
		{name: "home full, other idle: spill", out: [2]int{4, 0}, want: 1},
		{name: "home full, other busy: wait for home", out: [2]int{4, 1}, want: -1},
		{name: "home full, spill to any free slot", spill: 4, out: [2]int{4, 3}, want: 1},
		{name: "all full", spill: 4, out: [2]int{4, 4}, want: -1},
		// 3 + 0 outstanding: bound ⌈1.25 × 4 / 2⌉ = 3; home is at it.
		{name: "home over the bound, other idle: spill", out: [2]int{3, 0}, want: 1},
		{name: "home over the bound, other busy: home", out: [2]int{3, 1}, want: 0, wantAtHome: true},
		{name: "home down: the next is home", out: [2]int{0, 2},
			setup: func(h, o *Backend, w *waiter) { h.up = false }, want: 1, wantAtHome: true},
		{name: "home draining: the next is home", out: [2]int{0, 2},
			setup: func(h, o *Backend, w *waiter) { h.draining = true }, want: 1, wantAtHome: true},
		{name: "home failed this request: spill", out: [2]int{0, 2},
			setup: func(h, o *Backend, w *waiter) { w.exclude = []*Backend{h} }, want: 1},
		{name: "both failed it", out: [2]int{0, 0},
			setup: func(h, o *Backend, w *waiter) { w.exclude = []*Backend{h, o} }, want: -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lb, a := affinityLB(t, 2, 4, KeyAffinity{SpillBelow: tc.spill})
			w := keyed(keyHome(a, 0, 0))
			home, other := lb.backends[0], lb.backends[1]
			home.outstanding, other.outstanding = tc.out[0], tc.out[1]
			if tc.setup != nil {
				tc.setup(home, other, w)
			}
			var now time.Time
			got := lb.pickKeyedLocked(a, w, &now)
			switch tc.want {
			case -1:
				assert.Nil(t, got)
			default:
				assert.Same(t, lb.backends[tc.want], got)
			}
			assert.Equal(t, tc.wantAtHome, w.home)
		})
	}
	// A stale ring (backends changed, setBackends not called): least
	// outstanding, no homes.
	lb, a := affinityLB(t, 2, 4, KeyAffinity{})
	a.ring = NewRing([]string{"x:1"}, 0)
	lb.backends[0].outstanding = 3
	w := keyed(keyHome(a, 0, 0))
	var now time.Time
	assert.Same(t, lb.backends[1], lb.pickKeyedLocked(a, w, &now))
	assert.False(t, w.home)
}

// grants returns the backend each waiter was granted (nil: still waiting).
func grants(ws ...*waiter) []*Backend {
	out := make([]*Backend, len(ws))
	for i, w := range ws {
		if w.done {
			out[i] = <-w.ch
			w.ch <- out[i] // leave it for a second look
		}
	}
	return out
}

func TestDispatchKeyed(t *testing.T) {
	t0 := time.Unix(1000, 0)
	setup := func(t *testing.T, cfg KeyAffinity, outA, outB int, queue ...*waiter) (*Balancer, *affinity, *Backend, *Backend) {
		lb, a := affinityLB(t, 2, 4, cfg)
		a.clock = func() time.Time { return t0 }
		A, B := lb.backends[0], lb.backends[1]
		A.outstanding, B.outstanding = outA, outB
		for _, w := range queue {
			if w.since.IsZero() {
				w.since = t0.Add(-time.Millisecond)
			}
		}
		lb.queue = append(lb.queue, queue...)
		lb.dispatchKeyedLocked(a)
		return lb, a, A, B
	}
	t.Run("a freed slot goes to a waiter whose home it is", func(t *testing.T) {
		_, a, _, _ := setup(t, KeyAffinity{}, 0, 0)
		b1, b2, a1 := keyed(keyHome(a, 1, 0)), keyed(keyHome(a, 1, 1)), keyed(keyHome(a, 0, 0))
		lb, _, A, B := setup(t, KeyAffinity{}, 3, 4, b1, b2, a1)
		assert.Equal(t, []*Backend{nil, nil, A}, grants(b1, b2, a1))
		assert.True(t, a1.home)
		assert.Equal(t, []*waiter{b1, b2}, lb.queue, "the others keep their order")
		assert.Equal(t, 4, A.outstanding)
		assert.Equal(t, 4, B.outstanding)
	})
	t.Run("no waiter for it and the backend busy: the slot waits", func(t *testing.T) {
		_, a, _, _ := setup(t, KeyAffinity{}, 0, 0)
		b1, b2 := keyed(keyHome(a, 1, 0)), keyed(keyHome(a, 1, 1))
		lb, _, A, _ := setup(t, KeyAffinity{}, 2, 4, b1, b2)
		assert.Equal(t, []*Backend{nil, nil}, grants(b1, b2))
		assert.Len(t, lb.queue, 2)
		assert.Equal(t, 2, A.outstanding)
	})
	t.Run("an idle backend takes the first waiter", func(t *testing.T) {
		_, a, _, _ := setup(t, KeyAffinity{}, 0, 0)
		b1, b2 := keyed(keyHome(a, 1, 0)), keyed(keyHome(a, 1, 1))
		lb, _, A, _ := setup(t, KeyAffinity{}, 0, 4, b1, b2)
		assert.Equal(t, []*Backend{A, nil}, grants(b1, b2))
		assert.False(t, b1.home, "spilled")
		assert.Len(t, lb.queue, 1)
	})
	t.Run("spill below 3", func(t *testing.T) {
		_, a, _, _ := setup(t, KeyAffinity{}, 0, 0)
		b1, b2, b3 := keyed(keyHome(a, 1, 0)), keyed(keyHome(a, 1, 1)), keyed(keyHome(a, 1, 2))
		_, _, A, _ := setup(t, KeyAffinity{SpillBelow: 3}, 1, 4, b1, b2, b3)
		assert.Equal(t, []*Backend{A, A, nil}, grants(b1, b2, b3))
	})
	t.Run("a waiter without a key is at home anywhere", func(t *testing.T) {
		_, a, _, _ := setup(t, KeyAffinity{}, 0, 0)
		b1, p, a1 := keyed(keyHome(a, 1, 0)), plain(), keyed(keyHome(a, 0, 0))
		_, _, A, _ := setup(t, KeyAffinity{}, 3, 4, b1, p, a1)
		assert.Equal(t, []*Backend{nil, A, nil}, grants(b1, p, a1))
		assert.False(t, p.home)
	})
	t.Run("a waiter past max-wait is not passed over", func(t *testing.T) {
		_, a, _, _ := setup(t, KeyAffinity{}, 0, 0)
		b1, a1 := keyed(keyHome(a, 1, 0)), keyed(keyHome(a, 0, 0))
		b1.since = t0.Add(-51 * time.Millisecond)
		_, _, A, _ := setup(t, KeyAffinity{}, 3, 4, b1, a1)
		assert.Equal(t, []*Backend{A, nil}, grants(b1, a1))
		// Past max-wait, it also takes a slot on a busy backend.
		b1, b2 := keyed(keyHome(a, 1, 0)), keyed(keyHome(a, 1, 1))
		b1.since = t0.Add(-time.Second)
		_, _, A, _ = setup(t, KeyAffinity{}, 3, 4, b1, b2)
		assert.Equal(t, []*Backend{A, nil}, grants(b1, b2))
	})
	t.Run("however far back", func(t *testing.T) {
		_, a, _, _ := setup(t, KeyAffinity{}, 0, 0)
		q := []*waiter{}
		for i := range 40 {
			q = append(q, keyed(keyHome(a, 1, i)))
		}
		a1 := keyed(keyHome(a, 0, 0))
		q = append(q, a1)
		lb, _, A, _ := setup(t, KeyAffinity{}, 3, 4, q...)
		assert.Equal(t, A, grants(a1)[0])
		assert.Len(t, lb.queue, 40)
	})
	t.Run("a retry whose home failed it goes anywhere", func(t *testing.T) {
		lb, a := affinityLB(t, 2, 4, KeyAffinity{})
		A, B := lb.backends[0], lb.backends[1]
		A.outstanding, B.outstanding = 4, 2
		a1 := keyed(keyHome(a, 0, 0))
		a1.exclude, a1.since = []*Backend{A}, time.Now()
		lb.queue = []*waiter{a1}
		lb.dispatchKeyedLocked(a)
		assert.Equal(t, B, grants(a1)[0])
		assert.False(t, a1.home)
	})
	t.Run("cookie and failures are honoured", func(t *testing.T) {
		lb0, a, _, _ := setup(t, KeyAffinity{}, 0, 0)
		_ = lb0
		// A waiter whose cookie names B waits for B even with A idle; one
		// that failed on A does not go there.
		lb, a2 := affinityLB(t, 2, 4, KeyAffinity{})
		a2.clock = func() time.Time { return t0 }
		A, B := lb.backends[0], lb.backends[1]
		B.outstanding = 4
		pw := plain()
		pw.prefer, pw.since = B, t0
		ex := keyed(keyHome(a, 0, 0))
		ex.exclude, ex.since = []*Backend{A}, t0
		lb.queue = []*waiter{pw, ex}
		lb.dispatchKeyedLocked(a2)
		assert.Equal(t, []*Backend{nil, nil}, grants(pw, ex))
		B.outstanding = 3
		lb.dispatchKeyedLocked(a2)
		assert.Equal(t, []*Backend{B, nil}, grants(pw, ex))
		assert.Equal(t, 0, A.outstanding)
	})
}

// With no keys, the affinity hand-on grants what dispatchLocked grants:
// FIFO, least busy backend first, cookies and failures honoured.
func TestDispatchKeyedWithoutKeysIsFIFO(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for trial := range 2000 {
		n, capEach := 2+rng.IntN(3), 1+rng.IntN(4)
		mk := func() (*Balancer, *affinity) { // without New: 2000 of them
			lb := &Balancer{cfg: Config{SlowStart: -1}.WithDefaults()}
			for i := range n {
				lb.backends = append(lb.backends, &Backend{BackendSpec: BackendSpec{Addr: fmt.Sprintf("127.0.0.1:%d", 19201+i), Cap: capEach}, up: true})
			}
			a := newAffinity(KeyAffinity{})
			ids := make([]string, n)
			for i, b := range lb.backends {
				ids[i] = b.Addr
			}
			a.ring = NewRing(ids, 8) // a small ring: keys play no part here
			return lb, a
		}
		lb1, _ := mk()
		lb2, a2 := mk()
		if trial%5 == 0 {
			a2.ring = NewRing(nil, 0) // not ready: FIFO too
		}
		outs := make([]int, n)
		for i := range outs {
			outs[i] = rng.IntN(capEach + 1)
		}
		up := make([]bool, n)
		for i := range up {
			up[i] = rng.IntN(5) > 0
		}
		var q1, q2 []*waiter
		for range rng.IntN(10) {
			pref, excl := -1, -1
			if rng.IntN(4) == 0 {
				pref = rng.IntN(n)
			}
			if rng.IntN(4) == 0 {
				excl = rng.IntN(n)
			}
			for _, p := range []struct {
				lb *Balancer
				q  *[]*waiter
			}{{lb1, &q1}, {lb2, &q2}} {
				w := plain()
				if pref >= 0 {
					w.prefer = p.lb.backends[pref]
				}
				if excl >= 0 {
					w.exclude = []*Backend{p.lb.backends[excl]}
				}
				*p.q = append(*p.q, w)
			}
		}
		for i := range n {
			lb1.backends[i].outstanding, lb2.backends[i].outstanding = outs[i], outs[i]
			lb1.backends[i].up, lb2.backends[i].up = up[i], up[i]
		}
		lb1.queue, lb2.queue = slices.Clone(q1), slices.Clone(q2)
		lb1.dispatchLocked()
		lb2.dispatchKeyedLocked(a2)
		got1, got2 := make([]bool, len(q1)), make([]bool, len(q2))
		for i := range q1 {
			got1[i], got2[i] = q1[i].done, q2[i].done
		}
		require.Equal(t, got1, got2, "trial %d: the same waiters granted", trial)
		o1, o2 := make([]int, n), make([]int, n)
		for i := range n {
			o1[i], o2[i] = lb1.backends[i].outstanding, lb2.backends[i].outstanding
		}
		slices.Sort(o1)
		slices.Sort(o2)
		require.Equal(t, o1, o2, "trial %d: the same loads", trial)
	}
}

func TestRecordPickStatusMetrics(t *testing.T) {
	lb, _ := affinityLB(t, 2, 4, KeyAffinity{})
	st := lb.Status()
	assert.Zero(t, st.KeyedShare)
	assert.Zero(t, st.HomeShare)
	b1, b2 := lb.backends[0], lb.backends[1]
	for range 6 {
		lb.recordPick(b1, true, true)
	}
	lb.recordPick(b1, false, true)
	lb.recordPick(b2, true, true)
	lb.recordPick(b2, false, true)
	lb.recordPick(b2, true, false) // no key: home means nothing
	lb.recordPick(b2, false, false)

	srv := httptest.NewServer(lb.AdminHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/status")
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	resp.Body.Close()
	bs := got["backends"].([]any)
	for i, want := range []map[string]float64{{"home": 6, "spilled": 1, "no_key": 0}, {"home": 1, "spilled": 1, "no_key": 2}} {
		for k, v := range want {
			assert.Equal(t, v, bs[i].(map[string]any)[k], "backend %d %s", i+1, k)
		}
	}
	assert.InDelta(t, 9.0/11, got["keyed_share"], 1e-9)
	assert.InDelta(t, 7.0/9, got["home_share"], 1e-9)

	resp, err = http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	text, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, line := range []string{
		"# TYPE zenpatch_balancer_affinity_requests_total counter",
		`zenpatch_balancer_affinity_requests_total{backend="1",placement="home"} 6`,
		`zenpatch_balancer_affinity_requests_total{backend="1",placement="spilled"} 1`,
		`zenpatch_balancer_affinity_requests_total{backend="1",placement="nokey"} 0`,
		`zenpatch_balancer_affinity_requests_total{backend="2",placement="home"} 1`,
		`zenpatch_balancer_affinity_requests_total{backend="2",placement="nokey"} 2`,
	} {
		assert.Contains(t, string(text), line+"\n")
	}
	// The admin client reads the new fields.
	var st2 StatusReport
	require.NoError(t, json.Unmarshal([]byte(mustJSON(t, lb.Status())), &st2))
	assert.Equal(t, int64(6), st2.Backends[0].Home)
	assert.True(t, strings.Contains(mustJSON(t, st2), `"no_key": 2`))
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.MarshalIndent(v, "", "  ")
	require.NoError(t, err)
	return string(b)
}

// The scheduler's per-request work under its lock: a keyed pick, and a
// hand-on of one freed slot to a queue of 8.
func BenchmarkPickKeyed(b *testing.B) {
	lb, a := affinityLB(&testing.T{}, 2, 4, KeyAffinity{})
	w := keyed(keyHome(a, 0, 0))
	lb.backends[0].outstanding, lb.backends[1].outstanding = 2, 3
	var now time.Time
	b.ReportAllocs()
	for b.Loop() {
		lb.pickKeyedLocked(a, w, &now)
	}
}

func BenchmarkDispatchKeyed(b *testing.B) {
	lb, a := affinityLB(&testing.T{}, 2, 4, KeyAffinity{})
	t0 := time.Unix(1000, 0)
	a.clock = func() time.Time { return t0 } // the waiters never reach max-wait
	A, B := lb.backends[0], lb.backends[1]
	var q []*waiter
	for i := range 8 {
		w := keyed(keyHome(a, 1, i))
		w.since = t0
		q = append(q, w)
	}
	last := keyed(keyHome(a, 0, 0))
	last.since = t0
	b.ReportAllocs()
	for b.Loop() {
		A.outstanding, B.outstanding = 3, 4
		last.done = false
		lb.queue = append(append(lb.queue[:0], q...), last)
		lb.dispatchKeyedLocked(a) // grants the last
		select {
		case <-last.ch:
		default:
			b.Fatal("the slot did not go to the waiter whose home it is")
		}
	}
}
