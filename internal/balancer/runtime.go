package balancer

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// The balancer shares the machine with GIL-bound Zopes, so its CPU per
// request is taken from them. Two Go runtime settings matter there
// (measured with bench/balancers.sh and /proc/PID/stat, see README):
//
//   - The runtime's monitor thread (sysmon) parks whenever every P is
//     idle, and the next system call wakes it again, after which it polls
//     every 20 µs for a millisecond. A balancer in front of Zopes goes idle
//     between almost every pair of requests, so that cycle ran per request:
//     about one extra context switch and 6 µs of CPU each (2026-11-25). A positive
//     GODEBUG schedtrace keeps sysmon from parking; it then backs off to
//     one wake-up every 10 ms. The period chosen (2^31-1 ms, 24.8 days) is
//     the longest there is, so its trace line is printed once at start on a
//     host up longer than that, and once per 24.8 days after.
//   - GOMAXPROCS: one while the balancer is light, up to --procs (two by
//     default) when it is busy; see procsGovernor and defaultProcs.
//
// GODEBUG is read only when a Go program starts, so `zenpatch balance`
// re-executes itself once with it set. ZENPATCH_BALANCER_RUNTIME=off skips
// this; the re-executed process has it set to "tuned".

// runtimeEnv is the environment variable that marks (or turns off) the
// re-execution.
const runtimeEnv = "ZENPATCH_BALANCER_RUNTIME"

// sysmonAwake is the GODEBUG setting that keeps sysmon from parking.
const sysmonAwake = "schedtrace=2147483647"

// tunedEnviron returns the environment the balancer should run with, or
// nil when the current one will do (already tuned, turned off, or GODEBUG
// already sets schedtrace).
func tunedEnviron(environ []string) []string {
	godebug := ""
	gi := -1
	for i, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case runtimeEnv:
			if v != "" {
				return nil
			}
		case "GODEBUG":
			godebug, gi = v, i
		}
	}
	for _, s := range strings.Split(godebug, ",") {
		if strings.HasPrefix(strings.TrimSpace(s), "schedtrace=") {
			return nil
		}
	}
	out := append([]string(nil), environ...)
	if gi >= 0 {
		out[gi] = "GODEBUG=" + godebug + "," + sysmonAwake
	} else {
		out = append(out, "GODEBUG="+sysmonAwake)
	}
	return append(out, runtimeEnv+"=tuned")
}

// ReexecTuned replaces the process with itself (same arguments) under the
// tuned environment when tunedEnviron asks for it. Call it first thing in a
// process that will run the balancer. On failure it returns, and the
// balancer runs with the runtime's defaults.
func ReexecTuned() {
	env := tunedEnviron(os.Environ())
	if env == nil {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, env)
}

// defaultProcs is the most CPUs the balancer's Go code uses at once unless
// --procs or the procs setting say otherwise: two, or one on a single CPU.
// On a 2-core machine with instant backends, one P did 0.55–0.81× nginx's
// throughput and two Ps 0.64–0.98× in the same rounds (bench/interleave.sh,
// 2026-11-28); more only add spinning threads on the cores the Zopes need.
func defaultProcs() int {
	return min(2, runtime.NumCPU())
}

// procsGovernor moves GOMAXPROCS between 1 and max with the balancer's own
// CPU use. In front of GIL-bound Zopes the balancer needs a tenth of a core,
// and with a second P the machine sat idle 4–8 % of the time against 2–4 %
// with one, and one P served 5–6 % more (README, "Balancer figures"); most
// likely the second thread's wake-ups preempt a Zope holding its GIL. Busy
// (instant backends, a flood), one P is too few. So: one P while light, max
// as soon as one interval's use passes up, back to one after downAfter
// intervals in a row under down.
type procsGovernor struct {
	max       int
	interval  time.Duration
	up, down  float64 // CPU use, in cores
	downAfter int     // intervals in a row under down before going back to 1
	cpu       func() time.Duration
	set       func(int)
	log       *slog.Logger

	cur   int
	below int
}

// newProcsGovernor governs GOMAXPROCS of this process, starting at one P.
func newProcsGovernor(max int, log *slog.Logger) *procsGovernor {
	return &procsGovernor{
		max: max, interval: 250 * time.Millisecond, up: 0.35, down: 0.15, downAfter: 8,
		cpu: processCPU, set: func(n int) { runtime.GOMAXPROCS(n) }, log: log,
	}
}

// step takes one interval's CPU use (cores) and returns the Ps wanted.
func (g *procsGovernor) step(use float64) int {
	switch {
	case g.cur < g.max && use > g.up:
		g.below = 0
		return g.max
	case g.cur > 1 && use < g.down:
		if g.below++; g.below >= g.downAfter {
			g.below = 0
			return 1
		}
	default:
		g.below = 0
	}
	return g.cur
}

// start sets one P, then follows the load in the background until ctx ends.
func (g *procsGovernor) start(ctx context.Context) {
	g.cur = 1
	g.set(1)
	if g.max > 1 {
		go g.loop(ctx)
	}
}

func (g *procsGovernor) loop(ctx context.Context) {
	t := time.NewTicker(g.interval)
	defer t.Stop()
	last, lastCPU := time.Now(), g.cpu()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c := g.cpu()
			use := float64(c-lastCPU) / float64(now.Sub(last))
			last, lastCPU = now, c
			if n := g.step(use); n != g.cur {
				g.set(n)
				g.log.Info("balancer CPUs", "procs", n, "was", g.cur, "cpu_cores", fmt.Sprintf("%.2f", use))
				g.cur = n
			}
		}
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// StartProcs sets the balancer's CPUs: at most procs (0: defaultProcs);
// the governor moves between one and that with the load until ctx ends,
// unless the runtime tuning is off (ZENPATCH_BALANCER_RUNTIME=off: then
// it is fixed). It returns what the start-up log says of it.
func StartProcs(ctx context.Context, log *slog.Logger, procs int) string {
	n := procs
	if n <= 0 {
		n = defaultProcs()
	}
	if n == 1 || os.Getenv(runtimeEnv) == "off" {
		runtime.GOMAXPROCS(n)
		return fmt.Sprint(n)
	}
	newProcsGovernor(n, log).start(ctx)
	return fmt.Sprintf("1..%d by load", n)
}

// RuntimeTuning names the runtime tuning in effect, for the start-up log.
func RuntimeTuning() string {
	switch v := os.Getenv(runtimeEnv); v {
	case "tuned":
		return "tuned (sysmon kept awake)"
	case "":
		return "default"
	default:
		return runtimeEnv + "=" + v
	}
}
