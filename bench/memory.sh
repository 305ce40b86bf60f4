#!/usr/bin/env bash
# The balancer's memory under big bodies, measured as the kernel sees it:
# the peak resident set (VmHWM in /proc/PID/status) of a `zenpatch balance`
# process in front of a stand-in Zope on loopback, through
#   1. two concurrent 200 MB chunked uploads (curl, Transfer-Encoding: chunked);
#   2. ten clients reading a 20 MB response slowly (100 KB/s, for 5 s each).
# Each part runs on a fresh balancer. Fails (exit 1) when a peak is at or
# over LIMIT_MIB (128), or a request did not get 200.
#
#   ./bench/memory.sh                       # builds zenpatch from this tree
#   ZENPATCH=/path/to/zenpatch ./bench/memory.sh   # another build (an older one, say)
#
# Knobs: UPLOAD_MB (200), READ_MB (20), READERS (10), LIMIT_MIB (128), BASE
# (19250). Needs curl and python3.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
UPLOAD_MB=${UPLOAD_MB:-200}; READ_MB=${READ_MB:-20}; READERS=${READERS:-10}; LIMIT_MIB=${LIMIT_MIB:-128}; BASE=${BASE:-19250}
for t in curl python3; do command -v "$t" >/dev/null || { echo "memory: $t missing" >&2; exit 1; }; done
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT
ZP=${ZENPATCH:-}
if [ -z "$ZP" ]; then
  (cd "$ROOT" && go build -o "$TMP/zenpatch" ./cmd/zenpatch)
  ZP=$TMP/zenpatch
fi
B=127.0.0.1:$((BASE + 1)); FRONT=127.0.0.1:$BASE
# the stand-in Zope: takes any body (read and dropped), answers /big with READ_MB
PY=$(python3 -c 'import sys; print(sys.executable)')
"$PY" - "${B#*:}" "$READ_MB" <<'PYEOF' &
import sys
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
big = b"z" * (int(sys.argv[2]) * 1000 * 1000)
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self, body):
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.answer(big if self.path == "/big" else b"ok")
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        got = 0
        while got < n:
            b = self.rfile.read(min(1 << 20, n - got))
            if not b:
                break
            got += len(b)
        self.answer(str(got).encode())
    def log_message(self, *a):
        pass
ThreadingHTTPServer.request_queue_size = 64
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PYEOF
PIDS+=($!)
for _ in $(seq 50); do curl -s -o /dev/null "http://$B/" && break; sleep 0.1; done

balancer() { # start a fresh balancer; its pid in $Z
  "$ZP" balance --listen "$FRONT" --backends "$B" --max-conn 4 >"$TMP/zp.log" 2>&1 &
  Z=$!; PIDS+=("$Z")
  for _ in $(seq 50); do [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$FRONT/")" = 200 ] && return; sleep 0.1; done
  echo "memory: the balancer did not start:" >&2; cat "$TMP/zp.log" >&2; exit 1
}
hwm() { awk '/^VmHWM/ {printf "%d", $2 / 1024}' "/proc/$1/status"; }
stop() { kill "$1"; wait "$1" 2>/dev/null || true; [ -z "${DEBUG:-}" ] || cat "$TMP/zp.log"; }
fail=0

balancer
ups=()
for i in 1 2; do
  head -c "$((UPLOAD_MB * 1000 * 1000))" /dev/zero |
    curl -s -o "$TMP/up$i.out" -w '%{http_code}' -X POST -H 'Transfer-Encoding: chunked' --data-binary @- "http://$FRONT/upload" >"$TMP/up$i.code" &
  ups+=($!)
done
wait "${ups[@]}" || true
for i in 1 2; do
  [ "$(cat "$TMP/up$i.code")" = 200 ] || { echo "memory: upload $i answered $(cat "$TMP/up$i.code")"; fail=1; }
  [ "$(cat "$TMP/up$i.out" 2>/dev/null)" = "$((UPLOAD_MB * 1000 * 1000))" ] || { echo "memory: upload $i reached the Zope with $(cat "$TMP/up$i.out" 2>/dev/null) bytes"; fail=1; }
done
up=$(hwm "$Z")
echo "two concurrent ${UPLOAD_MB} MB chunked uploads: balancer peak RSS (VmHWM) ${up} MiB"
stop "$Z"

balancer
readers=()
for i in $(seq "$READERS"); do
  curl -s -o /dev/null --limit-rate 100k --max-time 5 "http://$FRONT/big" &
  readers+=($!)
done
wait "${readers[@]}" || true
rd=$(hwm "$Z")
echo "${READERS} clients reading a ${READ_MB} MB response at 100 KB/s: balancer peak RSS (VmHWM) ${rd} MiB"
stop "$Z"

for v in "$up" "$rd"; do [ "$v" -lt "$LIMIT_MIB" ] || fail=1; done
[ "$fail" = 0 ] && echo "memory: ok (each peak under ${LIMIT_MIB} MiB)" || { echo "memory: FAILED (limit ${LIMIT_MIB} MiB)"; exit 1; }
