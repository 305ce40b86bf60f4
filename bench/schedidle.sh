#!/usr/bin/env bash
# Where the machine's idle time goes under the GIL-bound load, nginx and
# zenpatch's balancer in turn in front of the same two stand-in Zopes: a
# `perf sched record` of SECS seconds in the middle of each front's wrk run,
# read by schedidle.py (idle share per CPU, the "stranded" part of it: a CPU
# idle while a task waited on the other CPU's run queue, and the idle
# periods by what ran before and after them).
#
#   sudo ./bench/schedidle.sh       # needs root (or perf_event_paranoid -1) for the sched tracepoints
#
# Knobs: C (16), D (9s, each wrk run), SECS (3), MAXCONN (4), ZFLAGS (more
# balance flags), BASE (19250). Needs: perf (linux-perf), nginx, wrk, python3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}
for t in perf nginx wrk python3; do command -v "$t" >/dev/null || { echo "schedidle: $t missing: apt-get install -y linux-perf nginx-light wrk python3" >&2; exit 1; }; done
C=${C:-16}; D=${D:-9s}; SECS=${SECS:-3}; BASE=${BASE:-19250}
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
PY=$(python3 -c 'import sys; print(sys.executable)')
"$PY" "$SHARED/gilzope.py" "${B1#*:}" 2>/dev/null & PIDS+=($!)
"$PY" "$SHARED/gilzope.py" "${B2#*:}" 2>/dev/null & PIDS+=($!)
sleep 1
nginx_conf

record() { # NAME: wrk through the front now listening, perf in the middle
  wrk -t1 -c"$C" -d"$D" --latency "http://$FRONT/" >"$TMP/wrk.txt" &
  local w=$!
  sleep $(( ${D%s} / 3 ))
  if ! perf sched record -a -o "$TMP/perf.data" -- sleep "$SECS" >"$TMP/perf.err" 2>&1; then
    echo "schedidle: perf sched record failed (root needed?):" >&2; cat "$TMP/perf.err" >&2; exit 1
  fi
  wait "$w"
  echo "== $1: $(awk '/Requests\/sec/ {r=$2} $1=="99%" {p=$2} END {print r " req/s, p99 " p}' "$TMP/wrk.txt")"
  perf script -i "$TMP/perf.data" -F comm,pid,tid,cpu,time,event,trace 2>/dev/null | python3 "$HERE/schedidle.py"
}

nginx -c "$TMP/nginx.conf" -p "$TMP" 2>/dev/null; sleep 0.5
record nginx
kill "$(cat "$TMP/nginx.pid")"; rm -f "$TMP/nginx.pid"; sleep 0.5
# shellcheck disable=SC2086 # ZFLAGS is a list of flags
"$TMP/zenpatch" balance --listen "$FRONT" --backends "$B1,$B2" --max-conn "${MAXCONN:-4}" ${ZFLAGS:-} >"$TMP/zp.log" 2>&1 & PIDS+=($!)
sleep 1
record zenpatch
