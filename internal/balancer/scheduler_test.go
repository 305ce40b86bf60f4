package balancer

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRampLockedUnit(t *testing.T) {
	lb := &Balancer{cfg: Config{SlowStart: 30 * time.Second}.WithDefaults()}
	peer := &Backend{BackendSpec: BackendSpec{Name: "p", Cap: 8}, up: true}
	peer.latency.Store(int64(20 * time.Millisecond))
	b := &Backend{BackendSpec: BackendSpec{Name: "b", Cap: 8}, up: true}
	lb.backends = []*Backend{peer, b}
	now := time.Now()
	b.startSlow(now)
	var clock time.Time
	assert.Equal(t, 1, lb.capLocked(b, &clock))
	steps := []int{}
	for range 20 {
		lb.rampLocked(b, 10*time.Millisecond)
		clock = now
		steps = append(steps, lb.capLocked(b, &clock))
	}
	assert.Equal(t, 8, steps[len(steps)-1], "as fast as its peers: full cap")
	assert.Equal(t, []int{1, 2, 2, 4, 4, 4, 4, 8}, steps[:8], "doubling after each round")
	assert.True(t, b.upSince.IsZero(), "slow start over")

	b.startSlow(now)
	for range 50 {
		lb.rampLocked(b, 200*time.Millisecond) // ten times slower than the peer
	}
	clock = now.Add(3 * time.Second)
	assert.Equal(t, 1, lb.capLocked(b, &clock), "slower than its peers: the linear ramp only")
	clock = now.Add(15 * time.Second)
	assert.Equal(t, 4, lb.capLocked(b, &clock))

	lb.backends = []*Backend{b} // no peer: the linear ramp only
	b.startSlow(now)
	for range 50 {
		lb.rampLocked(b, time.Millisecond)
	}
	clock = now
	assert.Equal(t, 1, lb.capLocked(b, &clock))
}
