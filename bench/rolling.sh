#!/usr/bin/env bash
# A rolling restart under the Zenoss UI load with per-instance object caches
# (../shared/bench: zodbzope.py stand-ins, zenoss-ui.lua), through zenpatch's
# balancer (standalone, admin API on a unix socket). Each instance in turn is
# drained, stopped, started again with an empty cache, and put back, as
# `zenpatch zope restart` does. Prints the backends' cache hit rate every
# second, then: requests wrk counted as failed (socket errors, non-2xx;
# must be 0), and how long after the last instance returned the hit rate
# (over the last 3 s) was back above THRESHOLD %.
#
#   ./bench/rolling.sh
#
# Knobs: N instances (2), C connections (16), WARM seconds before the restart
# (20), AFTER seconds measured after the last instance returns (45),
# THRESHOLD (80), BASE port (19400), CWORK (8000), ZFLAGS (more balance flags,
# e.g. "--object-affinity off"). Needs: wrk, python3, curl.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}
for t in wrk python3 curl; do command -v "$t" >/dev/null || { echo "rolling: $t missing: apt-get install -y wrk python3 curl" >&2; exit 1; }; done
N=${N:-2}; C=${C:-16}; WARM=${WARM:-20}; AFTER=${AFTER:-45}; THRESHOLD=${THRESHOLD:-80}; BASE=${BASE:-19400}
TMP=$(mktemp -d)
declare -A ZPID
cleanup() {
  for p in "${ZPID[@]}" ${BAL:-} ${WRK:-} ${SAMPLER:-}; do kill "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
(cd "$ROOT" && go build -o "$TMP/zenpatch" ./cmd/zenpatch)
PY=$(python3 -c 'import sys; print(sys.executable)')
backends=()
for i in $(seq 1 "$N"); do backends+=("127.0.0.1:$((BASE + i))"); done
start_zope() { # i
  WORK=${CWORK:-8000} "$PY" "$SHARED/zodbzope.py" "$((BASE + $1))" 2>/dev/null &
  ZPID[$1]=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$((BASE + $1))/_stats" >/dev/null && return 0; sleep 0.05; done
  echo "rolling: instance $1 did not start" >&2; exit 1
}
for i in $(seq 1 "$N"); do start_zope "$i"; done
SOCK=$TMP/admin.sock
# shellcheck disable=SC2086 # ZFLAGS is a list of flags
"$TMP/zenpatch" balance --listen "127.0.0.1:$BASE" --backends "$(IFS=,; echo "${backends[*]}")" --max-conn 4 --admin "$SOCK" ${ZFLAGS:-} 2>"$TMP/balancer.log" &
BAL=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || { echo "rolling: the balancer did not start:" >&2; cat "$TMP/balancer.log" >&2; exit 1; }
admin() { # PATH?QUERY: POST to the admin API; on failure, say what it answered and what the balancer logged
  local out
  out=$(curl -s -w '\n%{http_code}' --unix-socket "$SOCK" -X POST "http://x/$1") || true
  [ "${out##*$'\n'}" = 200 ] && return 0
  echo "rolling: admin $1 failed: $out" >&2; tail -20 "$TMP/balancer.log" >&2; exit 1
}

# hit rate sampler: one line a second, "t hits misses" summed over the
# backends (a restarted one starts again from 0: its deltas are its counts)
"$PY" - "${backends[@]}" >"$TMP/samples" <<'EOF' &
import json, sys, time, urllib.request
last = {}
t0 = time.time()
while True:
    h = m = 0
    for b in sys.argv[1:]:
        try:
            d = json.load(urllib.request.urlopen("http://%s/_stats" % b, timeout=1))
        except Exception:
            continue
        ph, pm = last.get(b, (0, 0))
        if d["hit"] < ph or d["miss"] < pm:
            ph = pm = 0
        h += d["hit"] - ph; m += d["miss"] - pm
        last[b] = (d["hit"], d["miss"])
    print("%.1f %d %d" % (time.time() - t0, h, m), flush=True)
    time.sleep(1)
EOF
SAMPLER=$!
TOTAL=$((WARM + 15 * N + AFTER))
wrk -t1 -c"$C" -d"${TOTAL}s" -s "$SHARED/zenoss-ui.lua" "http://127.0.0.1:$BASE/" >"$TMP/wrk.txt" 2>&1 &
WRK=$!
start=$(date +%s.%N)
sleep "$WARM"
for i in $(seq 1 "$N"); do
  admin "drain?backend=$i&wait=60"
  kill "${ZPID[$i]}"; wait "${ZPID[$i]}" 2>/dev/null || true
  start_zope "$i"
  admin "undrain?backend=$i"
  echo "instance $i restarted (empty cache) at $(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }') s"
done
back=$(awk -v s="$start" -v n="$(date +%s.%N)" 'BEGIN { printf "%.1f", n - s }')
echo "last instance back at $back s"
wait "$WRK" || true
kill "$SAMPLER" 2>/dev/null || true
echo "== hit rate per second (t s, hit %)"
awk 'NR > 1 { h = $2; m = $3; printf "%6.1f %5.1f%%\n", $1, (h + m) ? 100 * h / (h + m) : 0 }' "$TMP/samples" | paste - - - - - -
echo "== wrk"
grep -E 'requests in|Requests/sec|Non-2xx|Socket errors|Latency' "$TMP/wrk.txt" | sed 's/^/  /'
failed=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(/,/, ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$TMP/wrk.txt")
echo "failed requests: $failed"
# first time at which the hit rate over 3 s, all after $back, is above THRESHOLD
awk -v back="$back" -v thr="$THRESHOLD" '
  { t[NR] = $1; h[NR] = $2; m[NR] = $3 }
  END {
    for (i = 4; i <= NR; i++) {
      if (t[i-3] < back) continue # the window starts after the last return
      hh = h[i] + h[i-1] + h[i-2]; mm = m[i] + m[i-1] + m[i-2]
      r = (hh + mm) ? 100 * hh / (hh + mm) : 0
      if (r > thr) { printf "hit rate back above %d%% %.1f s after the last instance returned (%.1f%% over the 3 s to %.1f s)\n", thr, t[i] - back, r, t[i]; found = 1; break }
    }
    if (!found) printf "hit rate NOT back above %d%% within the run\n", thr
    hh = mm = 0; for (i = 1; i <= NR; i++) if (t[i] > back + 30) { hh += h[i]; mm += m[i] }
    if (hh + mm) printf "hit rate from 30 s after the last return to the end: %.1f%%\n", 100 * hh / (hh + mm)
  }' "$TMP/samples"
[ "$failed" = 0 ]
