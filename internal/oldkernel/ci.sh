#!/usr/bin/env bash
# Old kernels, tested: zenpatch under a model of Linux 2.6.32 (RHEL/CentOS 6),
# where every system call added after it fails with ENOSYS (see main.go).
#   0. the model itself: uname reports 2.6, prlimit64 and getrandom fail
#   a. zenpatch demo --duration 3s
#   b. the balancer in front of a stand-in backend, started with
#      ulimit -Sn 1024 -Hn 65536, holds 2,000 connections at once, every one
#      answered; its start-up line must say nofile=65536
#   c. the end-to-end suite (go test ./cmd/zenpatch, testscript with the real
#      binary), the go command and the test binary included
# Any step failing, or output showing a call that failed for want of a newer
# kernel (ENOSYS, "function not implemented"), fails the run.
#
# Run from anywhere: internal/oldkernel/ci.sh (.ci/run calls it). Settings:
# OLDKERNEL_KERNEL (2.6.32), OLDKERNEL_CONNS (2000), OLDKERNEL_E2E (1; 0 skips c).
set -euo pipefail
cd "$(dirname "$0")/../.."
# Built as it must be for EL6 and EL7: without cgo, a static binary. A cgo
# build on this Debian links glibc 2.34 symbols; EL6 has glibc 2.12, EL7
# 2.17, and the model (which uses this host's C library) would not show it.
export CGO_ENABLED=0

kernel=${OLDKERNEL_KERNEL:-2.6.32}
conns=${OLDKERNEL_CONNS:-2000}
e2e=${OLDKERNEL_E2E:-1}
soft=1024
hard=65536
# Raising a hard limit takes CAP_SYS_RESOURCE, which a container may lack:
# then the hard limit the machine gives is the one to test with.
if ! (ulimit -Hn "$hard") 2>/dev/null; then
  hard=$(ulimit -Hn)
  echo "old kernel: cannot raise the hard open-file limit to 65536 here; testing with the machine's hard limit, $hard"
fi
[ "$hard" = unlimited ] || [ "$hard" -ge $((2 * ${OLDKERNEL_CONNS:-2000})) ] || {
  echo "old kernel: the hard open-file limit ($hard) is too low for the connection test" >&2
  exit 1
}

tmp=$(mktemp -d)
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

started=$SECONDS
step() { echo "== old kernel $kernel: $* (at $((SECONDS - started))s)"; }
die() {
  echo "old kernel $kernel: FAILED: $*" >&2
  exit 1
}
# Output that shows a call the old kernel lacks, with no fallback behind it.
enosys='function not implemented|ENOSYS|rseq registration failed'
no_enosys() { # FILE WHAT
  if grep -Ei "$enosys" "$1"; then die "$2 needed a system call newer than $kernel (lines above)"; fi
}
# wait_for SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
  local until=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$until" ] || return 1
    sleep 0.1
  done
}

step "build (the harness, zenpatch, conncheck)"
go build -o "$tmp/oldkernel" ./internal/oldkernel
go build -o "$tmp/zenpatch" ./cmd/zenpatch
go build -o "$tmp/conncheck" ./internal/oldkernel/conncheck
model=("$tmp/oldkernel" --kernel "$kernel" --)

step "0. the model"
"${model[@]}" "$tmp/oldkernel" --probe | tee "$tmp/probe.txt"
grep -qx 'prlimit64: ENOSYS' "$tmp/probe.txt" || die "prlimit64 is not refused under the model"
grep -qx 'getrandom: ENOSYS' "$tmp/probe.txt" || die "getrandom is not refused under the model"
grep -q '^uname: 2\.6\.' "$tmp/probe.txt" || die "uname does not report 2.6 under the model"

step "a. zenpatch demo --duration 3s"
"${model[@]}" "$tmp/zenpatch" demo --duration 3s 2>&1 | tee "$tmp/demo.log"
no_enosys "$tmp/demo.log" "zenpatch demo"

step "b. the balancer: $conns connections at once, ulimit -Sn $soft -Hn $hard"
# Where it starts: Go's runtime cannot raise the limit itself under the model.
start=$(
  ulimit -Sn "$soft"
  ulimit -Hn "$hard"
  "${model[@]}" "$tmp/oldkernel" --probe | sed -n 's/^getrlimit: ok nofile=//p'
)
[ "$start" = "$soft/$hard" ] || die "a Go program under the model starts with nofile=${start:-?}, want $soft/$hard"
echo "a Go program under the model starts with nofile=$start (soft/hard): its runtime's own raise needs prlimit64"
"${model[@]}" "$tmp/conncheck" backend --listen 127.0.0.1:0 --addr-file "$tmp/backend.addr" 2>"$tmp/backend.log" &
pids+=("$!")
wait_for 20 test -s "$tmp/backend.addr" || die "the stand-in backend did not start: $(cat "$tmp/backend.log")"
backend=$(cat "$tmp/backend.addr")
# --max-conn and --queue-size: $conns first requests arrive together; this
# step is about descriptors, not about queueing (the balancer's own tests
# cover 503s past the queue).
# `balance --listen` wants a real port (1-65535): a free one, from the kernel.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(
  ulimit -Sn "$soft"
  ulimit -Hn "$hard"
  exec "${model[@]}" "$tmp/zenpatch" balance --listen "127.0.0.1:$port" --backends "$backend" \
    --max-conn 64 --queue-size $((conns * 2))
) 2>"$tmp/balance.log" &
balancer=$!
pids+=("$balancer")
wait_for 20 grep -q 'msg=balancing' "$tmp/balance.log" || die "the balancer did not start: $(cat "$tmp/balance.log")"
grep 'msg=balancing' "$tmp/balance.log"
listen=$(sed -n 's/.*msg=balancing .*listen=\([^ ]*\).*/\1/p' "$tmp/balance.log" | head -1)
nofile=$(sed -n 's/.*msg=balancing .* nofile=\([0-9]*\).*/\1/p' "$tmp/balance.log" | head -1)
[ -n "$listen" ] || die "no listen= in the balancer's start-up line"
[ "$nofile" = "$hard" ] || die "the balancer runs with nofile=${nofile:-?}, want $hard (the hard limit)"
limits=$(grep 'Max open files' "/proc/$balancer/limits")
echo "/proc/$balancer/limits: $limits"
read -r -a f <<<"$limits"
[ "${f[3]}" = "$hard" ] || die "the kernel says the balancer's soft limit is ${f[3]}, want $hard"
(
  ulimit -Sn "$hard" # the clients need $conns descriptors too
  exec "$tmp/conncheck" clients --url "http://$listen/" --conns "$conns" --requests 5 --timeout 60s
) | tee "$tmp/clients.txt" || die "not every connection was answered (balancer log: $tmp/balance.log above)"
kill -TERM "$balancer"
wait "$balancer" || die "the balancer did not stop cleanly: $(cat "$tmp/balance.log")"
cat "$tmp/balance.log"
no_enosys "$tmp/balance.log" "the balancer"
if grep -Ei 'level=(WARN|ERROR)|too many open files' "$tmp/balance.log"; then die "the balancer logged the lines above"; fi

if [ "$e2e" = 1 ]; then
  step "c. the end-to-end suite: go test ./cmd/zenpatch"
  t=$SECONDS
  "${model[@]}" go test -count=1 ./cmd/zenpatch 2>&1 | tee "$tmp/e2e.log"
  no_enosys "$tmp/e2e.log" "the end-to-end suite"
  echo "end-to-end suite under the model: $((SECONDS - t))s"
fi

step "passed"
