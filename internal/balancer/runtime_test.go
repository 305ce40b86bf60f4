package balancer

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTunedEnviron(t *testing.T) {
	base := []string{"PATH=/bin", "HOME=/root"}
	got := tunedEnviron(base)
	assert.Equal(t, []string{"PATH=/bin", "HOME=/root", "GODEBUG=" + sysmonAwake, runtimeEnv + "=tuned"}, got)
	assert.Equal(t, []string{"PATH=/bin", "HOME=/root"}, base, "the caller's slice is not modified")

	// An existing GODEBUG is kept and extended.
	got = tunedEnviron([]string{"GODEBUG=gctrace=1"})
	assert.Equal(t, []string{"GODEBUG=gctrace=1," + sysmonAwake, runtimeEnv + "=tuned"}, got)

	for name, env := range map[string][]string{
		"already tuned":         {runtimeEnv + "=tuned"},
		"turned off":            {runtimeEnv + "=off"},
		"user's own schedtrace": {"GODEBUG=gctrace=1, schedtrace=1000"},
	} {
		assert.Nil(t, tunedEnviron(env), name)
	}
}

func TestProcsGovernorStep(t *testing.T) {
	g := &procsGovernor{max: 2, up: 0.35, down: 0.15, downAfter: 3, cur: 1}
	assert.Equal(t, 1, g.step(0.10), "light: stays at one")
	assert.Equal(t, 1, g.step(0.30), "between the thresholds: stays")
	assert.Equal(t, 2, g.step(0.60), "one busy interval is enough to go up")
	g.cur = 2
	assert.Equal(t, 2, g.step(0.05))
	assert.Equal(t, 2, g.step(0.05))
	assert.Equal(t, 2, g.step(0.20), "an interval between the thresholds restarts the count")
	assert.Equal(t, 2, g.step(0.05))
	assert.Equal(t, 2, g.step(0.05))
	assert.Equal(t, 1, g.step(0.05), "downAfter light intervals in a row: back to one")
	g.cur = 1
	assert.Equal(t, 1, g.step(0.05))
}

func TestProcsGovernorLoop(t *testing.T) {
	var mu sync.Mutex
	var cpu time.Duration
	var sets []int
	g := &procsGovernor{max: 3, interval: 5 * time.Millisecond, up: 0.35, down: 0.15, downAfter: 2,
		cpu: func() time.Duration { mu.Lock(); defer mu.Unlock(); return cpu },
		set: func(n int) { mu.Lock(); sets = append(sets, n); mu.Unlock() },
		log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g.start(ctx)
	mu.Lock()
	assert.Equal(t, []int{1}, sets, "starts at one P, at once")
	mu.Unlock()
	// Busy: the process burns far more than a core's worth per interval.
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
				mu.Lock()
				cpu += 10 * time.Millisecond
				mu.Unlock()
			}
		}
	}()
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sets) == 2 }, 5*time.Second, time.Millisecond)
	close(stop) // idle from now on
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(sets) == 3 }, 5*time.Second, time.Millisecond)
	mu.Lock()
	assert.Equal(t, []int{1, 3, 1}, sets)
	mu.Unlock()
}

func TestProcsGovernorOneCPU(t *testing.T) {
	var sets []int
	var reads atomic.Int64
	g := &procsGovernor{max: 1, interval: time.Millisecond,
		cpu: func() time.Duration { reads.Add(1); return 0 },
		set: func(n int) { sets = append(sets, n) }}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g.start(ctx)
	time.Sleep(20 * time.Millisecond)
	assert.Equal(t, []int{1}, sets)
	assert.Zero(t, reads.Load(), "nothing to govern: no loop reading the CPU time")
}

func TestProcessCPU(t *testing.T) {
	a := processCPU()
	// Spin until the process's CPU clock moves (rusage has a coarse tick).
	deadline := time.Now().Add(2 * time.Second)
	for processCPU() == a && time.Now().Before(deadline) {
	}
	assert.Greater(t, processCPU(), a)
}
