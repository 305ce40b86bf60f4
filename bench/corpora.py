#!/usr/bin/env python3
"""Run public HTTP/1 request corpora through front ends, offline.

    corpora.py echo PORT LOG
        An origin server on 127.0.0.1:PORT that answers every request 200
        and appends what reached it (request line, headers, body) to LOG,
        one JSON object a line.

    corpora.py run --smuggler DIR --garden DIR --front NAME=HOST:PORT=LOG ... [--out FILE]
        Sends every payload of the corpora to every front (each in front of
        its own echo server writing LOG) and records, per payload and
        front, what the front answered and what reached the echo server.
        Prints a summary table and the cases where a front passed on more
        than both others did.

The corpora are read from the fetched repositories, never copied here:
  - DIR of defparam/smuggler: the mutations of configs/default.py,
    configs/doubles.py and configs/exhaustive.py (1,768 in all), each sent
    as smuggler sends its two desync probes: TE.CL (Content-Length 6, body
    "0\\r\\n\\r\\nX") and CL.TE (Content-Length 4, body "1\\r\\nZ\\r\\n0\\r\\n\\r\\n").
  - DIR of narfindustries/http-garden: the HTTP/1 payloads of TROPHIES.md
    (the "Payload:" lines; HTTP/2 prefaces and prose left out: 74).

Standard library only.
"""
import argparse
import codecs
import collections
import json
import os
import re
import socket
import socketserver
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

# ---------------------------------------------------------------- echo server


class EchoHandler(socketserver.StreamRequestHandler):
    """Reads requests as fronts send them (CRLF, Content-Length or chunked)."""

    def handle(self):
        try:
            self.serve()
        except OSError:
            pass  # a front resetting its connection is no news

    def serve(self):
        f = self.rfile
        while True:
            head = b""
            while not head.endswith(b"\r\n\r\n") and not head.endswith(b"\n\n"):
                line = f.readline(65536)
                if not line:
                    return
                if head == b"" and line in (b"\r\n", b"\n"):
                    continue
                head += line
            lines = head.split(b"\n")
            reqline = lines[0].rstrip(b"\r")
            headers = []
            for ln in lines[1:]:
                ln = ln.rstrip(b"\r")
                if ln:
                    k, _, v = ln.partition(b":")
                    headers.append((k.decode("latin1"), v.strip().decode("latin1")))
            hmap = {k.lower(): v for k, v in headers}
            body = b""
            te = hmap.get("transfer-encoding", "")
            if "chunked" in te.lower():
                while True:
                    size_line = f.readline(65536)
                    if not size_line:
                        return
                    try:
                        n = int(size_line.split(b";")[0].strip(), 16)
                    except ValueError:
                        return
                    if n == 0:
                        while f.readline(65536) not in (b"\r\n", b"\n", b""):
                            pass
                        break
                    body += f.read(n)
                    f.readline(65536)
            elif "content-length" in hmap:
                try:
                    n = int(hmap["content-length"])
                except ValueError:
                    n = 0
                body = f.read(n)
            rec = {"t": time.time(), "line": reqline.decode("latin1"), "headers": headers,
                   "body": body.decode("latin1")}
            with self.server.lock:
                with open(self.server.log, "a") as out:
                    out.write(json.dumps(rec) + "\n")
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok")
            self.wfile.flush()


class EchoServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 128


def echo(port, log):
    srv = EchoServer(("127.0.0.1", int(port)), EchoHandler)
    srv.log, srv.lock = log, threading.Lock()
    open(log, "w").close()
    srv.serve_forever()

# ------------------------------------------------------------------- corpora


class Payload:
    """What smuggler's configs build (render_template): a head and a CL."""

    def __init__(self):
        self.header = ""
        self.body = None
        self.cl = -1


def smuggler_mutations(root):
    """The mutations of smuggler's configs, by name: their gadget heads."""
    out = {}
    for cfg in ("default.py", "doubles.py", "exhaustive.py"):
        path = os.path.join(root, "configs", cfg)
        with open(path) as fh:
            script = fh.read()
        env = {"Payload": Payload, "mutations": {}}
        exec(compile(script, path, "exec"), env)  # the config only builds the mutations dict
        for name, p in env["mutations"].items():
            out[cfg[:-3] + "/" + name] = p.header
    return out


def smuggler_payloads(root):
    """Each mutation as smuggler's two desync probes, marked with an id."""
    for name, header in sorted(smuggler_mutations(root).items()):
        for probe, cl, body in (("TE.CL", 6, "0\r\n\r\nX"), ("CL.TE", 4, "1\r\nZ\r\n0\r\n\r\n")):
            yield ("smuggler", name + " " + probe, header, cl, body)


def render_smuggler(header, cl, body, ident):
    text = header.replace("__METHOD__", "POST").replace("__ENDPOINT__", "/" + ident).replace(
        "__RANDOM__", ident).replace("__HOST__", "zenoss").replace("__REPLACE_CL__", str(cl))
    return (text + "\r\n" + body).encode("latin1")


def garden_payloads(root):
    """The HTTP/1 payloads of the HTTP Garden's TROPHIES.md."""
    with open(os.path.join(root, "TROPHIES.md"), encoding="utf-8") as fh:
        text = fh.read()
    n = 0
    for line in text.splitlines():
        m = re.match(r"\s*- Payload: (`.*`)\s*$", line)
        if not m:
            continue
        parts = re.findall(r"`([^`]*)`", m.group(1))
        raw = b"".join(codecs.escape_decode(p.encode("latin1"))[0] for p in parts)
        if raw.startswith(b"PRI * HTTP/2.0"):
            continue  # HTTP/2
        n += 1
        yield ("garden", "trophy-%02d" % n, raw)

# ------------------------------------------------------------------- sending


def statuses(data):
    return [int(m.group(1)) for m in re.finditer(rb"HTTP/1\.[01] (\d{3})", data)]


def send(addr, raw, idle=0.6, total=4.0):
    """Sends raw, reads until the front closes or is idle; what it answered."""
    host, port = addr.rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=total)
    data = b""
    closed = False
    try:
        s.sendall(raw)
        end = time.time() + total
        s.settimeout(idle)
        while time.time() < end:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not chunk:
                closed = True
                break
            data += chunk
    finally:
        s.close()
    codes = statuses(data)
    return ",".join(map(str, codes)) + ("" if codes else "none") + (" closed" if closed else "")


class Log:
    """The echo server's log of one front, read as it grows."""

    def __init__(self, path):
        self.path, self.off = path, 0

    def new(self):
        with open(self.path) as fh:
            fh.seek(self.off)
            data = fh.read()
            self.off = fh.tell()
        recs = [json.loads(x) for x in data.splitlines() if x.strip()]
        # a front's own health checks are not the payload's doing
        return [r for r in recs if not any(k.lower() == "user-agent" and "health" in v for k, v in r["headers"])]


def seen(rec):
    """A short form of a request the echo server got."""
    bad = [k for k, v in rec["headers"] if re.search(r"[\x00-\x08\x0a-\x1f\x7f-\xff]", k + v)]
    s = rec["line"][:60]
    if rec["body"]:
        s += " body=%d" % len(rec["body"])
    if bad:
        s += " odd-bytes-in=" + ",".join(bad)
    return s


def run(args):
    fronts = []
    for spec in args.front:
        name, addr, log = spec.split("=", 2)
        fronts.append((name, addr, Log(log)))
    results = collections.OrderedDict()  # (corpus, name) -> {front: (answer, [seen])}

    # smuggler: many at once, matched to what the echo server got by id
    probes = list(smuggler_payloads(args.smuggler))
    for name, addr, log in fronts:
        log.new()
        answers = {}

        def one(i, p):
            ident = "sm%05d" % i
            return ident, p, send(addr, render_smuggler(p[2], p[3], p[4], ident), idle=args.idle)
        with ThreadPoolExecutor(args.parallel) as ex:
            for ident, p, ans in ex.map(lambda a: one(*a), enumerate(probes)):
                answers[ident] = (p, ans)
        time.sleep(1.0)
        got = collections.defaultdict(list)
        for rec in log.new():
            m = re.search(r"/(sm\d{5})", rec["line"])
            got[m.group(1) if m else "?"].append(seen(rec))
        for ident, (p, ans) in answers.items():
            results.setdefault((p[0], p[1]), {})[name] = (ans, got.get(ident, []))
        if got.get("?"):
            results.setdefault(("smuggler", "(requests without a probe id)"), {})[name] = ("-", got["?"])
        print("%s: %d smuggler probes sent" % (name, len(probes)), file=sys.stderr)

    # HTTP Garden: one at a time per front (fronts in parallel), matched by order
    garden = list(garden_payloads(args.garden))

    def garden_front(front):
        name, addr, log = front
        out = {}
        for corpus, pname, raw in garden:
            log.new()
            ans = send(addr, raw, idle=args.idle)
            time.sleep(0.15)
            out[(corpus, pname)] = (ans, [seen(r) for r in log.new()])
        return name, out
    with ThreadPoolExecutor(len(fronts)) as ex:
        for name, out in ex.map(garden_front, fronts):
            for key, v in out.items():
                results.setdefault(key, {})[name] = v
    print("%d HTTP Garden payloads sent to each front" % len(garden), file=sys.stderr)

    names = [f[0] for f in fronts]
    if args.out:
        with open(args.out, "w") as fh:
            for (corpus, pname), per in results.items():
                fh.write(json.dumps({"corpus": corpus, "payload": pname,
                                     "fronts": {n: {"answered": per.get(n, ("-", []))[0], "backend_got": per.get(n, ("-", []))[1]} for n in names}}) + "\n")
    summarize(results, names, args.subject)


def summarize(results, names, subject):
    """Counts per corpus and front, then the cases that matter."""
    def passed(v):
        return len(v[1])
    print("passed on: the server behind got a request; refused: it got none, the front answered 4xx/5xx or closed;")
    print("no answer: neither, the front still waiting for more")
    print()
    print("| corpus | payloads | " + " | ".join("%s: passed on / refused / no answer" % n for n in names) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in names) + " |")
    for corpus in ("smuggler", "garden"):
        keys = [k for k in results if k[0] == corpus and not k[1].startswith("(")]
        row = []
        for n in names:
            ok = sum(1 for k in keys if passed(results[k][n]) > 0)
            refused = sum(1 for k in keys if passed(results[k][n]) == 0 and re.search(r"[45]\d\d|closed", results[k][n][0]))
            row.append("%d / %d / %d" % (ok, refused, len(keys) - ok - refused))
        print("| %s | %d | %s |" % ({"smuggler": "defparam/smuggler (probes)", "garden": "HTTP Garden"}[corpus], len(keys), " | ".join(row)))
    others = [n for n in names if n != subject]
    flagged = []
    for key, per in results.items():
        if subject not in per:
            continue
        z = passed(per[subject])
        if z and all(passed(per[o]) == 0 for o in others):
            flagged.append((key, "passed on by %s only" % subject))
        elif z > max(passed(per[o]) for o in others):
            flagged.append((key, "%s passed on more requests" % subject))
    print()
    print("cases %s passes on and every other front refuses, or passes on more requests than each: %d" % (subject, len(flagged)))
    for key, why in flagged:
        print("  %s %s: %s" % (key[0], key[1], why))
        for n in names:
            ans, got = results[key][n]
            print("    %-10s answered %-18s backend got %s" % (n, ans, got))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("echo")
    e.add_argument("port")
    e.add_argument("log")
    r = sub.add_parser("run")
    r.add_argument("--smuggler", required=True, help="a checkout of defparam/smuggler")
    r.add_argument("--garden", required=True, help="a checkout of narfindustries/http-garden")
    r.add_argument("--front", action="append", required=True, help="NAME=HOST:PORT=ECHO_LOG")
    r.add_argument("--subject", default="zenpatch", help="the front whose extra passes are listed")
    r.add_argument("--parallel", type=int, default=16)
    r.add_argument("--idle", type=float, default=0.6, help="seconds of silence that end a read")
    r.add_argument("--out", help="write every result here, one JSON object a line")
    a = ap.parse_args()
    if a.cmd == "echo":
        echo(a.port, a.log)
    else:
        run(a)


if __name__ == "__main__":
    main()
