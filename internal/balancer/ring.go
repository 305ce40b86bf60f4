package balancer

import (
	"iter"
	"math"
	"math/bits"
	"slices"
	"strconv"

	"github.com/cespare/xxhash/v2"
)

// Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam,
// "Consistent Hashing with Bounded Loads", SODA 2018; arXiv 1608.01350,
// 2016). Each backend is placed on a ring of 64-bit hashes at
// DefaultVnodes points; a key's point is the hash of the key, and its
// backends in ring order are the distinct owners of the points met going
// clockwise from there. The first is the key's home. Taking a backend out
// (down, draining) sends its keys to the next backend of each key's order,
// and leaves all other keys where they were; a backend added takes only
// the keys whose first point is now one of its own: about 1/N of them.

// DefaultVnodes is how many points each backend has on the ring. The
// busiest backend's share of the keys, over the fair share, measured over
// 100 address sets of 2 to 8 backends (TestRingSpread prints the table):
// 40 points 1.10–1.25 on average and 1.51 at worst; 256 points 1.04–1.09,
// worst 1.16; 1024 points 1.02–1.05, worst 1.09. At 1024 the ring adds
// less imbalance than the popularity of keys does (a Zipf 0.9 workload
// over 5000 devices puts about 10 % more on one of two instances by chance),
// and it costs 160 KB for 8 backends; a lookup is O(1) (see Ring.first).
const DefaultVnodes = 1024

// Ring is an immutable hash ring over nodes 0..N-1, named by ids.
type Ring struct {
	hashes []uint64 // the points, sorted
	owner  []int32  // owner[i] is the node of hashes[i]
	n      int
	// first[j] is the first point at or after j << shift: a lookup starts
	// there and steps over about one point, instead of a binary search
	// (3–4 times as fast at 4 × 1024 points, where the search misses the
	// L1 cache).
	first []int32
	shift uint
}

// NewRing places each of ids (one per node, distinct: backend addresses)
// at vnodes points (0: DefaultVnodes). Node i is ids[i]; the placement of
// a node depends only on its id, so a node keeps its points whatever
// other nodes come and go.
func NewRing(ids []string, vnodes int) *Ring {
	if vnodes <= 0 {
		vnodes = DefaultVnodes
	}
	type point struct {
		h    uint64
		node int32
	}
	pts := make([]point, 0, len(ids)*vnodes)
	var buf []byte
	for node, id := range ids {
		for v := range vnodes {
			buf = append(append(append(buf[:0], id...), '#'), strconv.Itoa(v)...)
			pts = append(pts, point{xxhash.Sum64(buf), int32(node)})
		}
	}
	// Ties (a 64-bit collision) are broken by id, so that the order does
	// not depend on the order of ids.
	slices.SortFunc(pts, func(a, b point) int {
		if a.h != b.h {
			if a.h < b.h {
				return -1
			}
			return 1
		}
		switch ia, ib := ids[a.node], ids[b.node]; {
		case ia < ib:
			return -1
		case ia > ib:
			return 1
		}
		return 0
	})
	r := &Ring{hashes: make([]uint64, len(pts)), owner: make([]int32, len(pts)), n: len(ids)}
	for i, p := range pts {
		r.hashes[i], r.owner[i] = p.h, p.node
	}
	if len(pts) > 0 {
		nb := uint(bits.Len(uint(len(pts)))) // at least one bucket per point
		r.shift = 64 - nb
		r.first = make([]int32, 1<<nb)
		i := 0
		for j := range r.first {
			for i < len(r.hashes) && r.hashes[i]>>r.shift < uint64(j) {
				i++
			}
			r.first[j] = int32(i)
		}
	}
	return r
}

// KeyHash is a key's point on a ring.
func KeyHash(key string) uint64 { return xxhash.Sum64String(key) }

// Nodes is the number of nodes on the ring.
func (r *Ring) Nodes() int { return r.n }

// point is the index of the first point at or after h, wrapping around.
func (r *Ring) point(h uint64) int {
	i := int(r.first[h>>r.shift])
	for i < len(r.hashes) && r.hashes[i] < h {
		i++
	}
	if i == len(r.hashes) {
		i = 0
	}
	return i
}

// Home is the first node in ring order for the key hashed to h, or -1 on
// an empty ring.
func (r *Ring) Home(h uint64) int {
	if len(r.hashes) == 0 {
		return -1
	}
	return int(r.owner[r.point(h)])
}

// Walk yields the nodes in ring order from h, each once: the key's home
// first, then where it goes when the ones before are not eligible.
func (r *Ring) Walk(h uint64) iter.Seq[int] {
	return func(yield func(int) bool) {
		if len(r.hashes) == 0 {
			return
		}
		var small [4]uint64 // seen nodes, for up to 256 without allocating
		seen := small[:]
		if r.n > 256 {
			seen = make([]uint64, (r.n+63)/64)
		}
		start, left := r.point(h), r.n
		for k := range len(r.hashes) {
			i := start + k
			if i >= len(r.hashes) {
				i -= len(r.hashes)
			}
			o := r.owner[i]
			if seen[o/64]&(1<<(o%64)) != 0 {
				continue
			}
			seen[o/64] |= 1 << (o % 64)
			if !yield(int(o)) {
				return
			}
			if left--; left == 0 {
				return
			}
		}
	}
}

// Bound is the bounded-loads capacity: the most outstanding requests a
// backend may have and still be given a keyed request, ⌈c × (total+1) / n⌉,
// where total is the outstanding requests of the n backends taking
// requests, before this one, and c ≥ 1 is the balance factor. Each
// backend stays within c × the average load counting the new request, and
// at least one is always under the bound (the paper's capacity ⌈c·m/n⌉ for
// m balls).
func Bound(c float64, total, n int) int {
	if n <= 0 {
		return 0
	}
	// The epsilon keeps float error from rounding an exact quotient up
	// (1.2 × 5 / 2 is 3, not 3.0000000000000004).
	return int(math.Ceil(c*float64(total+1)/float64(n) - 1e-9))
}
