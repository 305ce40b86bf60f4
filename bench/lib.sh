# shellcheck shell=bash
# Sourced by interleave.sh and schedidle.sh (after ROOT and BASE are set):
# a temporary directory TMP removed on exit, with every process whose PID
# is added to PIDS (and an nginx started with nginx_conf's file); this
# tree's zenpatch built as $TMP/zenpatch; the front's address FRONT (BASE)
# and two backends' B1 and B2 (BASE+1, BASE+2).
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$TMP/nginx.pid" ] && kill "$(cat "$TMP/nginx.pid")" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT
(cd "$ROOT" && go build -o "$TMP/zenpatch" ./cmd/zenpatch)
B1=127.0.0.1:$((BASE + 1)); B2=127.0.0.1:$((BASE + 2)); FRONT=127.0.0.1:$BASE

# nginx_conf writes $TMP/nginx.conf: one worker, least_conn over B1 and B2
# with keep-alive connections, listening on FRONT.
nginx_conf() {
  cat > "$TMP/nginx.conf" <<CONF
daemon on; pid $TMP/nginx.pid; error_log $TMP/nginx.err; worker_processes 1; events { worker_connections 1024; }
http { access_log off; upstream zopes { least_conn; keepalive 32; server $B1; server $B2; }
server { listen $FRONT; location / { proxy_pass http://zopes; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
CONF
}
