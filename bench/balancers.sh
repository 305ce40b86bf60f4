#!/usr/bin/env bash
# Side-by-side balancer figures in one run: builds zenpatch, then runs the
# shared benchmark (../shared/bench/balancers.sh: HAProxy, nginx, Apache and
# zenpatch in front of the same stand-in Zopes, same wrk load) twice: with
# GIL-bound backends and with instant ones (FAST=1, the balancer's own
# overhead). Prints each table and zenpatch's ratios to the best other front.
# RUNS=k repeats the pair of runs k times and ends with every run's ratios
# and a summary (medians; in how many runs each goal held, and all at once):
# on a shared 2-core machine one 8-second run varies by ±10 % and more.
#
# Needs: apt-get install -y haproxy nginx-light apache2 wrk python3
# CACHE=1 (any value but 0) runs the object-cache workload instead (zodbzope.py stand-ins,
# the Zenoss UI wrk script, extra hashing rows for HAProxy and nginx) and
# summarises zenpatch's throughput and p99 against the best other front
# and the backends' cache hit rate.
# Knobs as the shared script's: N, C, D, WORK, MAXCONN, CACHE; and RUNS (1).
set -euo pipefail
# CACHE=0 means off (the shared script takes any value as on)
if [ "${CACHE:-}" = 0 ]; then unset CACHE; fi
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}
[ -x "$SHARED/balancers.sh" ] || { echo "bench: $SHARED/balancers.sh not found (set SHARED_BENCH)" >&2; exit 1; }
for t in haproxy nginx apache2 wrk python3; do command -v "$t" >/dev/null || { echo "bench: $t missing: apt-get install -y haproxy nginx-light apache2 wrk python3" >&2; exit 1; }; done
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
(cd "$ROOT" && go build -o "$TMP/zenpatch" ./cmd/zenpatch)
(cd "$SHARED/fastzope" && GOFLAGS='' go build -o "$TMP/fastzope.bin" .)
export ZENPATCH_BALANCE_CMD="$TMP/zenpatch balance --listen {listen} --backends {backends} --max-conn ${MAXCONN:-4}"

ratios() { # table on stdin
  awk '{ rps[$1]=$2; p99[$1]=$7 } END {
    best=""; for (f in rps) if (f!="zenpatch-balancer" && f!="direct-1-instance" && (best=="" || rps[f]>rps[best])) best=f
    lo=""; for (f in p99) if (f!="zenpatch-balancer" && f!="direct-1-instance") { v=p99[f]; ms=(v ~ /us$/)? v/1000 : (v ~ /ms$/)? v+0 : v*1000; if (lo=="" || ms<lo) { lo=ms; lof=f } }
    z=p99["zenpatch-balancer"]; zms=(z ~ /us$/)? z/1000 : (z ~ /ms$/)? z+0 : z*1000
    hb=""; for (f in rps) if (f=="haproxy-leastconn" || f=="nginx-least_conn") if (hb=="" || rps[f]>rps[hb]) hb=f
    printf "zenpatch throughput / best other (%s): %.2f\n", best, rps["zenpatch-balancer"]/rps[best]
    printf "zenpatch throughput / best of HAProxy and nginx (%s): %.2f\n", hb, rps["zenpatch-balancer"]/rps[hb]
    printf "zenpatch p99 %.2f ms vs best other p99 %.2f ms (%s)\n", zms, lo, lof }'
}
# median of the numbers on stdin, one a line
median() { sort -n | awk '{ v[NR]=$1 } END { if (NR) printf "%.3f", (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2 }'; }
ratio_col() { grep 'best other (' "$1" | awk '{print $NF}'; } # each run's throughput / best other
p99_ok() { grep 'p99' "$1" | awk '{ print ($3+0 <= $9+0) ? 1 : 0 }'; } # each run: 1 when zenpatch's p99 is the lowest
summary() { # gil.ratios fast.ratios
  gil=$(ratio_col "$1")
  p99ok=$(p99_ok "$1")
  fast=$(grep 'HAProxy and nginx' "$2" | awk '{print $NF}')
  n=$(echo "$gil" | wc -l)
  echo "== summary of $n runs"
  echo "  GIL-bound: throughput / best other: median $(echo "$gil" | median), at or above 1 in $(echo "$gil" | awk '$1 >= 1' | wc -l) of $n"
  echo "  GIL-bound: p99 at or below the best other's in $(echo "$p99ok" | grep -c 1) of $n"
  echo "  FAST=1: throughput / best of HAProxy and nginx: median $(echo "$fast" | median), at or above 0.8 in $(echo "$fast" | awk '$1 >= 0.8' | wc -l) of $n"
  echo "  every criterion in the same run: $(paste <(echo "$gil") <(echo "$p99ok") <(echo "$fast") | awk '$1 >= 1 && $2 == 1 && $3 >= 0.8' | wc -l) of $n"
}
cache_ratios() { # CACHE=1 table on stdin: ratios' lines, then the backends' hit rates
  local tbl; tbl=$(cat)
  echo "$tbl" | ratios | grep -v 'HAProxy and nginx'
  echo "$tbl" | awk '{ rps[$1]=$2; for (i = 8; i < NF; i++) if ($i == "hit") hit[$1]=$(i+1) } END {
    best=""; for (f in rps) if (f!="zenpatch-balancer" && f!="direct-1-instance" && (best=="" || rps[f]>rps[best])) best=f
    printf "zenpatch backends hit rate: %s (best other front %s: %s)\n", hit["zenpatch-balancer"], best, hit[best] }'
}
one_run() { # TITLE RATIOS-FUNCTION NAME [VAR=VALUE...]: one shared run, its table, zenpatch's ratios (kept in $TMP/NAME.ratios)
  local title=$1 fn=$2 name=$3; shift 3
  echo "== $title"
  env "$@" "$SHARED/balancers.sh" | tee "$TMP/$name.txt"
  "$fn" < "$TMP/$name.txt" | tee -a "$TMP/$name.ratios"
  echo
}
RUNS=${RUNS:-1}
if [ -n "${CACHE:-}" ]; then # the object-cache workload only (issue: cache affinity)
  for r in $(seq 1 "$RUNS"); do
    [ "$RUNS" = 1 ] || echo "#### run $r of $RUNS"
    one_run "CACHE=1: stand-in Zopes with their own object caches, Zenoss UI workload (N=${N:-2} C=${C:-16} D=${D:-8s})" cache_ratios cache
  done
  r=$(ratio_col "$TMP/cache.ratios")
  p=$(p99_ok "$TMP/cache.ratios")
  h=$(grep 'hit rate' "$TMP/cache.ratios" | awk '{ sub(/%/, "", $5); print $5 }')
  n=$(echo "$r" | wc -l)
  echo "== summary of $n CACHE=1 runs"
  echo "  throughput / best other: median $(echo "$r" | median), at or above 1.10 in $(echo "$r" | awk '$1 >= 1.10' | wc -l) of $n"
  echo "  p99 at or below the best other's in $(echo "$p" | grep -c 1) of $n; median p99 $(grep 'p99' "$TMP/cache.ratios" | awk '{print $3}' | median) ms vs best other's $(grep 'p99' "$TMP/cache.ratios" | awk '{print $9}' | median) ms"
  echo "  backends' hit rate behind zenpatch: median $(echo "$h" | median) %, at or above 80 in $(echo "$h" | awk '$1 >= 80' | wc -l) of $n"
  exit 0
fi
for r in $(seq 1 "$RUNS"); do
  [ "$RUNS" = 1 ] || echo "#### run $r of $RUNS"
  one_run "GIL-bound stand-in Zopes (N=${N:-2} C=${C:-16} D=${D:-8s})" ratios gil
  one_run "instant backends (FAST=1): the balancer's own overhead" ratios fast FAST=1 FASTZOPE_BIN="$TMP/fastzope.bin"
done
if [ "$RUNS" != 1 ]; then
  echo "== every run: GIL-bound (throughput / best other; p99)"
  grep -E 'best other \(|p99' "$TMP/gil.ratios" | sed 's/^/  /'
  echo "== every run: FAST=1 (throughput / best of HAProxy and nginx)"
  grep 'HAProxy and nginx' "$TMP/fast.ratios" | sed 's/^/  /'
  summary "$TMP/gil.ratios" "$TMP/fast.ratios"
fi
