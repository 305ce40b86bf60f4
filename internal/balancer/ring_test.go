package balancer

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// addrs is a set of n backend addresses as zenpatch makes them: one host,
// consecutive ports from a base.
func addrs(base, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("127.0.0.1:%d", base+i)
	}
	return out
}

// shares is each node's exact share of the hash space: point i owns the
// keys hashed after point i-1 up to it.
func shares(r *Ring) []float64 {
	out := make([]float64, r.n)
	for i, h := range r.hashes {
		prev := r.hashes[(i+len(r.hashes)-1)%len(r.hashes)]
		arc := h - prev // wraps for i == 0
		out[r.owner[i]] += float64(arc) / math.Exp2(64)
	}
	return out
}

// TestRingSpread measures how evenly the ring shares keys out, for the
// choice of DefaultVnodes: the busiest node's share over the fair share,
// the worst of 100 address sets (go test -v -run TestRingSpread prints
// the table).
func TestRingSpread(t *testing.T) {
	worstAt := map[int]float64{}
	for _, vn := range []int{40, 100, 256, 1024, 2048} {
		line := fmt.Sprintf("vnodes %4d:", vn)
		for _, n := range []int{2, 3, 4, 8} {
			worst, sum := 0.0, 0.0
			for set := range 100 {
				r := NewRing(addrs(8081+set*97, n), vn)
				s := shares(r)
				m := slices.Max(s) * float64(n)
				worst = max(worst, m)
				sum += m
			}
			line += fmt.Sprintf("  N=%d max/fair mean %.3f worst %.3f", n, sum/100, worst)
			worstAt[vn] = max(worstAt[vn], worst)
		}
		t.Log(line)
	}
	assert.Less(t, worstAt[DefaultVnodes], 1.10, "busiest node at DefaultVnodes")
	assert.Less(t, worstAt[DefaultVnodes], worstAt[40])
}

func TestRingHomeAndWalk(t *testing.T) {
	ids := addrs(9081, 5)
	r := NewRing(ids, 0)
	assert.Equal(t, 5, r.Nodes())
	assert.Len(t, r.hashes, 5*DefaultVnodes)
	rng := rand.New(rand.NewPCG(1, 2))
	for range 1000 {
		h := rng.Uint64()
		var order []int
		for n := range r.Walk(h) {
			order = append(order, n)
		}
		require.Len(t, order, 5, "every node once")
		assert.Equal(t, r.Home(h), order[0])
		sorted := slices.Clone(order)
		slices.Sort(sorted)
		assert.Equal(t, []int{0, 1, 2, 3, 4}, sorted)
	}
	// The bucket index finds the point a binary search finds.
	probes := []uint64{0, 1, math.MaxUint64, r.hashes[0], r.hashes[len(r.hashes)-1], r.hashes[7] + 1, r.hashes[7] - 1}
	for range 10000 {
		probes = append(probes, rng.Uint64())
	}
	for _, h := range probes {
		want, _ := slices.BinarySearch(r.hashes, h)
		if want == len(r.hashes) {
			want = 0
		}
		require.Equal(t, want, r.point(h), "%x", h)
	}
	// Stopping early.
	n := 0
	for range r.Walk(42) {
		if n++; n == 2 {
			break
		}
	}
	assert.Equal(t, 2, n)
	// The walk does not allocate (it runs under the balancer's lock).
	allocs := testing.AllocsPerRun(100, func() {
		for n := range r.Walk(12345) {
			if n < 0 {
				t.Fail()
			}
		}
	})
	assert.Zero(t, allocs)
	// Empty ring.
	e := NewRing(nil, 0)
	assert.Equal(t, -1, e.Home(1))
	for range e.Walk(1) {
		t.Fatal("empty ring yields nothing")
	}
	// Past 256 nodes the seen set is on the heap; still each once.
	big := NewRing(addrs(10000, 300), 4)
	seen := map[int]bool{}
	for n := range big.Walk(7) {
		assert.False(t, seen[n])
		seen[n] = true
	}
	assert.Len(t, seen, 300)
}

// The placement depends on the ids only: the same ids in another order
// give each key the same home id; the same ids give the same ring.
func TestRingDeterministic(t *testing.T) {
	ids := addrs(9081, 4)
	rev := slices.Clone(ids)
	slices.Reverse(rev)
	a, b, c := NewRing(ids, 0), NewRing(ids, 0), NewRing(rev, 0)
	assert.Equal(t, a, b)
	for k := range 10000 {
		h := KeyHash(fmt.Sprintf("dev%05d", k))
		assert.Equal(t, ids[a.Home(h)], rev[c.Home(h)])
	}
	assert.Equal(t, KeyHash("dev00001"), KeyHash("dev00001"))
	assert.NotEqual(t, KeyHash("dev00001"), KeyHash("dev00002"))
}

// keyHomes maps each of keys to its home id on a ring over ids, skipping
// those for which skip is true (down, draining) as the scheduler does.
func keyHomes(ids []string, keys []uint64, skip func(id string) bool) []string {
	r := NewRing(ids, 0)
	out := make([]string, len(keys))
	for i, h := range keys {
		for n := range r.Walk(h) {
			if !skip(ids[n]) {
				out[i] = ids[n]
				break
			}
		}
	}
	return out
}

// Removing a backend (rebuilt without it, SIGHUP), or skipping it (down,
// draining) moves only its keys, about 1/N of them; adding one moves only
// the keys it takes, about 1/(N+1); its return puts every key back.
func TestRingMovement(t *testing.T) {
	keys := make([]uint64, 50000)
	for i := range keys {
		keys[i] = KeyHash(fmt.Sprintf("dev%05d", i))
	}
	none := func(string) bool { return false }
	for _, n := range []int{2, 3, 4, 8} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			ids := addrs(18081, n)
			before := keyHomes(ids, keys, none)
			gone := ids[n/2]
			for name, after := range map[string][]string{
				"removed": keyHomes(slices.Delete(slices.Clone(ids), n/2, n/2+1), keys, none),
				"skipped": keyHomes(ids, keys, func(id string) bool { return id == gone }),
			} {
				moved := 0
				for i := range keys {
					if before[i] != gone {
						require.Equal(t, before[i], after[i], "%s: a key of another backend moved", name)
						continue
					}
					require.NotEqual(t, gone, after[i])
					moved++
				}
				frac := float64(moved) / float64(len(keys))
				assert.InDelta(t, 1/float64(n), frac, 0.12/float64(n), "%s: share moved", name)
			}
			// Adding one: keys move only to it.
			more := append(slices.Clone(ids), fmt.Sprintf("127.0.0.1:%d", 18081+n))
			after := keyHomes(more, keys, none)
			moved := 0
			for i := range keys {
				if after[i] != before[i] {
					require.Equal(t, more[n], after[i], "a key moved to an old backend")
					moved++
				}
			}
			assert.InDelta(t, 1/float64(n+1), float64(moved)/float64(len(keys)), 0.12/float64(n+1))
			// Coming back: every key home again.
			assert.Equal(t, before, keyHomes(ids, keys, func(string) bool { return false }))
		})
	}
}

func TestBound(t *testing.T) {
	for _, tc := range []struct {
		c            float64
		total, n, bd int
	}{
		{1.25, 7, 2, 5},  // 1.25 × 8 / 2 = 5
		{1.25, 0, 2, 1},  // an idle pair: the first request may go anywhere
		{1.25, 1, 2, 2},  // ⌈1.25⌉
		{1.1, 9, 2, 6},   // ⌈5.5⌉
		{1.2, 4, 2, 3},   // exactly 3, not 4 by float error
		{1.5, 15, 4, 6},  // 1.5 × 16 / 4
		{1.0, 3, 4, 1},   // c = 1: perfectly even
		{2, 100, 1, 202}, // one backend
		{1.25, 5, 0, 0},  // none
	} {
		assert.Equal(t, tc.bd, Bound(tc.c, tc.total, tc.n), "c=%v total=%d n=%d", tc.c, tc.total, tc.n)
	}
	// Always room for the request somewhere: the least loaded backend is
	// under the bound.
	rng := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		n := 1 + rng.IntN(8)
		loads := make([]int, n)
		total := 0
		for i := range loads {
			loads[i] = rng.IntN(20)
			total += loads[i]
		}
		c := 1 + rng.Float64()
		assert.Less(t, slices.Min(loads), Bound(c, total, n))
	}
}

func BenchmarkRingHome(b *testing.B) {
	r := NewRing(addrs(18081, 4), 0)
	h := KeyHash("dev01234")
	b.ReportAllocs()
	for b.Loop() {
		h = h*31 + 1
		r.Home(h)
	}
}
