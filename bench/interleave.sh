#!/usr/bin/env bash
# nginx and zenpatch's balancer taking turns on the same two backends, ROUNDS
# times, with each front's own CPU per request (from /proc/PID/stat), its
# context switches per request, the backends' CPU share and how much of the
# time the machine sat idle (from /proc/stat). On a noisy shared machine the
# CPU per request and the backends' CPU share are steadier than req/s; turns
# taken close together are fairer than one long run per front.
#
#   ./bench/interleave.sh            # GIL-bound stand-in Zopes (../shared/bench/gilzope.py)
#   FAST=1 ./bench/interleave.sh     # instant backends (../shared/bench/fastzope)
#
# Knobs: ROUNDS (3), D (5s), C (16), MAXCONN (4), ZFLAGS (more zenpatch
# balance flags, e.g. "--procs 1"), BASE (19200). Needs: nginx, wrk, python3.
# VARIANTS="name=/path/to/zenpatch ..." puts other builds in each round too,
# after this tree's (e.g. a build of main: git archive main | tar -x -C DIR,
# then go build there), to weigh a change against nginx and each other.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}
for t in nginx wrk python3; do command -v "$t" >/dev/null || { echo "interleave: $t missing: apt-get install -y nginx-light wrk python3" >&2; exit 1; }; done
ROUNDS=${ROUNDS:-3}; D=${D:-5s}; C=${C:-16}; BASE=${BASE:-19200}
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
if [ -n "${FAST:-}" ]; then
  (cd "$SHARED/fastzope" && GOFLAGS='' go build -o "$TMP/fastzope.bin" .)
  "$TMP/fastzope.bin" "$B1" & PIDS+=($!)
  "$TMP/fastzope.bin" "$B2" & PIDS+=($!)
else
  # the interpreter itself, not a wrapper (pyenv's shim), so that $! is the Zope
  PY=$(python3 -c 'import sys; print(sys.executable)')
  "$PY" "$SHARED/gilzope.py" "${B1#*:}" 2>"$TMP/zope1.err" & PIDS+=($!)
  "$PY" "$SHARED/gilzope.py" "${B2#*:}" 2>"$TMP/zope2.err" & PIDS+=($!)
fi
BACKENDS=("${PIDS[@]}")
sleep 1
for p in "${BACKENDS[@]}"; do
  kill -0 "$p" 2>/dev/null || { echo "interleave: a backend did not start (port in use? BASE=$BASE):" >&2; cat "$TMP"/zope*.err >&2 2>/dev/null; exit 1; }
done
nginx_conf

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime, 1/100 s
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {v += $2} /^nonvoluntary_ctxt_switches/ {n += $2} END {print v + 0, n + 0}'; }
cpu_idle() { awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; } # idle+iowait, total
backend_ticks() { local s=0 p; for p in "${BACKENDS[@]}"; do s=$((s + $(ticks "$p"))); done; echo "$s"; }

measure() { # NAME PID
  local c0 b0 s0 i0 out c1 b1 s1 i1 n
  c0=$(ticks "$2"); b0=$(backend_ticks); read -r -a s0 <<<"$(switches "$2")"; read -r -a i0 <<<"$(cpu_idle)"
  out=$(wrk -t1 -c"$C" -d"$D" --latency "http://$FRONT/")
  c1=$(ticks "$2"); b1=$(backend_ticks); read -r -a s1 <<<"$(switches "$2")"; read -r -a i1 <<<"$(cpu_idle)"
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  echo "$out" | awk -v name="$1" -v c=$((c1 - c0)) -v b=$((b1 - b0)) -v n="$n" -v d="${D%s}" \
    -v v=$((s1[0] - s0[0])) -v iv=$((s1[1] - s0[1])) -v idle=$((i1[0] - i0[0])) -v all=$((i1[1] - i0[1])) '
    /Requests\/sec/ {r = $2} $1 == "99%" {p = $2}
    /Non-2xx|Socket errors/ {e = e " " $0}
    END {printf "%-9s %10s req/s  p99 %-9s front %6.1f us/req  backends %4.0f%% CPU  idle %4.1f%%  switches %.2f voluntary %.2f involuntary /req\n",
         name, r, p, c * 10000 / n, b / d, all ? idle * 100 / all : 0, v / n, iv / n; if (e != "") print "          errors:" e}'
}

echo "== $([ -n "${FAST:-}" ] && echo "instant backends" || echo "GIL-bound stand-in Zopes"), N=2 C=$C D=$D, $ROUNDS rounds"
for _ in $(seq 1 "$ROUNDS"); do
  nginx -c "$TMP/nginx.conf" -p "$TMP" 2>/dev/null; sleep 0.5
  measure nginx "$(pgrep -P "$(cat "$TMP/nginx.pid")" | head -1)"
  kill "$(cat "$TMP/nginx.pid")"; rm -f "$TMP/nginx.pid"; sleep 0.5
  for v in "zenpatch=$TMP/zenpatch" ${VARIANTS:-}; do
    # shellcheck disable=SC2086 # ZFLAGS is a list of flags
    "${v#*=}" balance --listen "$FRONT" --backends "$B1,$B2" --max-conn "${MAXCONN:-4}" ${ZFLAGS:-} >"$TMP/zp.log" 2>&1 &
    z=$!; sleep 1
    measure "${v%%=*}" "$z"
    kill "$z"; wait "$z" 2>/dev/null || true; sleep 0.5
  done
done
