#!/usr/bin/env bash
# Public HTTP/1 request corpora, run offline through zenpatch's balancer,
# nginx and HAProxy, each in front of its own echo server on loopback
# (bench/corpora.py echo): what each front answered to every payload and
# what reached the origin behind it. Prints a table and every case where
# zenpatch passed on a request that both others refused (or more requests
# than each of them).
#
# The corpora are not part of this repository; fetch them first:
#   git clone https://github.com/defparam/smuggler        /tmp/smuggler
#   git clone https://github.com/narfindustries/http-garden /tmp/http-garden
#   ./bench/corpora.sh /tmp/smuggler /tmp/http-garden [RESULTS.jsonl]
#
# Needs: nginx, haproxy, python3 (apt-get install -y nginx-light haproxy python3).
# Knobs: BASE (19300) for the ports, PARALLEL (16) smuggler probes at once,
# ZENPATCH (a zenpatch binary to run instead of building this tree).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 SMUGGLER_DIR HTTP_GARDEN_DIR [RESULTS.jsonl]" >&2; exit 2; }
SMUGGLER=$(cd "$1" && pwd); GARDEN=$(cd "$2" && pwd); OUT=${3:-}
[ -f "$SMUGGLER/configs/default.py" ] || { echo "corpora: $SMUGGLER is not a checkout of defparam/smuggler" >&2; exit 2; }
[ -f "$GARDEN/TROPHIES.md" ] || { echo "corpora: $GARDEN is not a checkout of narfindustries/http-garden" >&2; exit 2; }
for t in nginx haproxy python3; do command -v "$t" >/dev/null || { echo "corpora: $t missing: apt-get install -y nginx-light haproxy python3" >&2; exit 1; }; done
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
BASE=${BASE:-19300}
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$TMP/nginx.pid" ] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null
  [ -f "$TMP/haproxy.pid" ] && kill "$(cat "$TMP/haproxy.pid")" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
ZP=${ZENPATCH:-}
if [ -z "$ZP" ]; then
  (cd "$ROOT" && go build -o "$TMP/zenpatch" ./cmd/zenpatch)
  ZP=$TMP/zenpatch
fi
PY=$(python3 -c 'import sys; print(sys.executable)')
E_Z=$((BASE + 1)); E_N=$((BASE + 2)); E_H=$((BASE + 3))
F_Z=$((BASE + 11)); F_N=$((BASE + 12)); F_H=$((BASE + 13))
for e in $E_Z $E_N $E_H; do
  "$PY" "$HERE/corpora.py" echo "$e" "$TMP/echo-$e.log" & PIDS+=($!)
done

mkdir -p "$TMP/ngx"
cat > "$TMP/nginx.conf" <<NGX
daemon on; pid $TMP/nginx.pid; error_log $TMP/nginx.err; worker_processes 1;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $TMP/ngx/body; proxy_temp_path $TMP/ngx/proxy; fastcgi_temp_path $TMP/ngx/fcgi;
  uwsgi_temp_path $TMP/ngx/uwsgi; scgi_temp_path $TMP/ngx/scgi;
  upstream echo { server 127.0.0.1:$E_N; keepalive 16; }
  server { listen 127.0.0.1:$F_N;
    location / { proxy_pass http://echo; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
NGX
nginx -c "$TMP/nginx.conf" -p "$TMP"

cat > "$TMP/haproxy.cfg" <<HAP
global
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-request 10s
frontend front
  bind 127.0.0.1:$F_H
  default_backend echo
backend echo
  server echo 127.0.0.1:$E_H
HAP
haproxy -D -f "$TMP/haproxy.cfg" -p "$TMP/haproxy.pid"

"$ZP" balance --listen "127.0.0.1:$F_Z" --backends "127.0.0.1:$E_Z" --max-conn 64 2>"$TMP/zenpatch.log" & PIDS+=($!)
sleep 1.5
echo "== fronts: zenpatch ($("$ZP" version 2>/dev/null | head -1)), $(nginx -v 2>&1), $(haproxy -v | head -1 | cut -d' ' -f1-3)"
echo "== corpora: smuggler $(git -C "$SMUGGLER" rev-parse --short HEAD 2>/dev/null || echo '?'), HTTP Garden $(git -C "$GARDEN" rev-parse --short HEAD 2>/dev/null || echo '?')"
"$PY" "$HERE/corpora.py" run --smuggler "$SMUGGLER" --garden "$GARDEN" --parallel "${PARALLEL:-16}" \
  --front "zenpatch=127.0.0.1:$F_Z=$TMP/echo-$E_Z.log" \
  --front "nginx=127.0.0.1:$F_N=$TMP/echo-$E_N.log" \
  --front "haproxy=127.0.0.1:$F_H=$TMP/echo-$E_H.log" \
  ${OUT:+--out "$OUT"}
