package main

import (
	"os"
	"runtime"
	"strings"
	"syscall"
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
//   - GOMAXPROCS: more than two Ps only add spinning threads; see
//     defaultProcs.
//
// GODEBUG is read only when a Go program starts, so `zenpatch balance`
// re-executes itself once with it set. ZENPATCH_BALANCER_RUNTIME=off skips
// this; the re-executed process has it set to "tuned".

// runtimeEnv is the environment variable that marks (or turns off) the
// re-execution.
const runtimeEnv = "ZENPATCH_BALANCER_RUNTIME"

// sysmonAwake is the GODEBUG setting that keeps sysmon from parking.
const sysmonAwake = "schedtrace=2147483647"

// tunedEnviron returns the environment `zenpatch balance` should run with,
// or nil when the current one will do (already tuned, turned off, not the
// balance command, or GODEBUG already sets schedtrace).
func tunedEnviron(args, environ []string) []string {
	if len(args) < 2 || args[1] != "balance" {
		return nil
	}
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

// reexecTuned replaces the process with itself under the tuned environment
// when tunedEnviron asks for it. On failure it returns, and the balancer
// runs with the runtime's defaults.
func reexecTuned() {
	env := tunedEnviron(os.Args, os.Environ())
	if env == nil {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, env)
}

// defaultProcs is the balancer's GOMAXPROCS unless --procs or the procs
// setting say otherwise: two, or one on a single CPU. On 2-core benchmark
// machines two Ps served instant backends 15–25% faster than one and
// GIL-bound ones equally (README, "Balancer figures"); more only add
// spinning threads on the cores the Zopes need.
func defaultProcs() int {
	return min(2, runtime.NumCPU())
}

// runtimeState names the runtime tuning in effect, for the start-up log.
func runtimeState(e *env) string {
	switch v := e.getenv(runtimeEnv); v {
	case "tuned":
		return "tuned (sysmon kept awake)"
	case "":
		return "default"
	default:
		return runtimeEnv + "=" + v
	}
}
