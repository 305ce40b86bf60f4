#!/usr/bin/env python3
"""Stand-in for Zope 2's control program (zopectl: zdctl and zdrun) and for
Zope itself (runzope: run.py), for zenpatch's sandbox installs, tests and
demo. What it plays depends on the name it is run as:

  zopectl, zopectl.py  -C CONFIG start|stop|restart|status|fg   (the control program)
  runzope, run.py      -C CONFIG                                (Zope in the foreground)

As Zope 2's zopectl does (Zope2/Startup/zopectl.py with zdaemon), the control
program reads CONFIG for its <runner> section: the program it runs (default
$INSTANCE/bin/runzope, with no arguments: runzope picks the config file
itself) and the unix socket of its daemon manager (socket-name, default
$CLIENTHOME/zopectlsock; a second manager on the same socket is refused). The
manager runs the program as its child and goes when it goes. Zope (run.py)
refuses two different -C options, as zdaemon's option parser does.

It reads the same zope.conf a real Zope reads (ZConfig: %define, $NAME,
%include, sections), keeps the pid file and the lock file it names, logs to
its event and access logs, daemonises on start and waits until the server
answers, and serves HTTP on every <http-server> address (+ port-base) with
zserver-threads worker threads shared by all of them. Pages cost pure-Python CPU time under the GIL
(like Zope's page rendering), and the first seconds after start are slower,
as with a cold ZODB cache.

Knobs (environment): ZOPE_STANDIN_WORK (loop size per page, default 20000),
ZOPE_STANDIN_COLD_SECONDS (default 3), ZOPE_STANDIN_COLD_FACTOR (default 5),
ZOPE_STANDIN_FAIL (crash at start, for tests).
"""
import errno, fcntl, os, signal, socket, subprocess, sys, threading, time
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler


def parse_conf(path, defines=None, depth=0):
    """A small ZConfig reader: returns nested dicts {key: value, '<type>': [sections]}."""
    if depth > 16:
        raise SystemExit("%s: %%include nested too deeply" % path)
    defines = {} if defines is None else defines
    root = {"__type__": "", "__name__": ""}
    stack = [root]

    def subst(v):
        out, i = [], 0
        while i < len(v):
            c = v[i]
            if c != "$":
                out.append(c); i += 1; continue
            if v[i + 1:i + 2] == "$":
                out.append("$"); i += 2; continue
            if v[i + 1:i + 2] == "{":
                j = v.index("}", i)
                name = v[i + 2:j]; i = j + 1
            else:
                j = i + 1
                while j < len(v) and (v[j].isalnum() or v[j] == "_"):
                    j += 1
                name = v[i + 1:j]; i = j
            out.append(defines[name.lower()])
        return "".join(out)

    def read(p):
        with open(p) as f:
            for raw in f:
                line = raw.strip()
                if not line or line.startswith("#"):
                    continue
                if line.startswith("%"):
                    word, _, rest = line[1:].partition(" ")
                    rest = rest.strip()
                    if word.lower() == "define":
                        n, _, v = rest.partition(" ")
                        defines[n.lower()] = subst(v.strip())
                    elif word.lower() == "include":
                        inc = subst(rest)
                        if not os.path.isabs(inc):
                            inc = os.path.join(os.path.dirname(p), inc)
                        read(inc)
                    continue
                if line.startswith("</"):
                    stack.pop(); continue
                if line.startswith("<"):
                    inner = line[1:-1].strip()
                    empty = inner.endswith("/")
                    typ, _, name = inner.rstrip("/").partition(" ")
                    sec = {"__type__": typ.lower(), "__name__": subst(name.strip())}
                    stack[-1].setdefault("<%s>" % typ.lower(), []).append(sec)
                    if not empty:
                        stack.append(sec)
                    continue
                k, _, v = line.partition(" ")
                stack[-1][k.lower()] = subst(v.strip())
                stack[-1].setdefault("*" + k.lower(), []).append(subst(v.strip()))
    read(path)
    return root


class Settings:
    def __init__(self, conf_path):
        c = parse_conf(conf_path)
        inst = c.get("instancehome", os.path.dirname(os.path.dirname(os.path.abspath(conf_path))))
        servers = c.get("<http-server>", [])
        if not servers:
            raise SystemExit("%s: no <http-server> section" % conf_path)
        self.servers = []
        for srv in servers:
            host, _, port = srv.get("address", "8080").rpartition(":")
            host = host.strip("[]") or c.get("ip-address", "") or "0.0.0.0"
            self.servers.append((host, int(port) + int(c.get("port-base", "0"))))
        self.host, self.port = self.servers[0]
        self.threads = int(c.get("zserver-threads", "4"))
        clienthome = c.get("clienthome", inst + "/var")
        runner = (c.get("<runner>") or [{}])[0]
        self.program = runner.get("*program") or [inst + "/bin/runzope"]
        self.sockname = runner.get("socket-name", clienthome + "/zopectlsock")
        self.pidfile = c.get("pid-filename", inst + "/var/Z2.pid")
        self.lockfile = c.get("lock-filename", inst + "/var/Z2.lock")
        self.eventlog = self.accesslog = None
        for el in c.get("<eventlog>", []):
            for lf in el.get("<logfile>", []):
                self.eventlog = lf.get("path")
        for lg in c.get("<logger>", []):
            if lg["__name__"].lower() == "access":
                for lf in lg.get("<logfile>", []):
                    self.accesslog = lf.get("path")


def log(path, msg):
    if path:
        with open(path, "a") as f:
            f.write("%s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), msg))


def read_pid(s):
    try:
        with open(s.pidfile) as f:
            return int(f.read().strip() or 0)
    except (OSError, ValueError):
        return 0


def alive(pid):
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    try:  # a zombie is not running
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(") ")[-1][:1] != "Z"
    except OSError:
        return True


def serve(s):
    work = int(os.environ.get("ZOPE_STANDIN_WORK", "20000"))
    cold_s = float(os.environ.get("ZOPE_STANDIN_COLD_SECONDS", "3"))
    cold_f = int(os.environ.get("ZOPE_STANDIN_COLD_FACTOR", "5"))
    if os.environ.get("ZOPE_STANDIN_FAIL"):
        log(s.eventlog, "ERROR Zope could not start: ZOPE_STANDIN_FAIL is set (simulated ZODB connection failure)")
        raise SystemExit(3)
    lockf = open(s.lockfile, "a+")
    try:
        fcntl.flock(lockf, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        log(s.eventlog, "ERROR another Zope holds the lock file %s" % s.lockfile)
        raise SystemExit(4)
    lockf.seek(0); lockf.truncate(); lockf.write("%d\n" % os.getpid()); lockf.flush()
    started = time.time()
    served = [0]
    mu = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self):
            n = work
            if time.time() - started < cold_s:
                n *= cold_f  # cold cache: the first pages are slow
            acc = 0
            for i in range(n):
                acc += i * i % 7
            with mu:
                served[0] += 1
            body = ("zope pid=%d port=%d served=%d %d\n" % (os.getpid(), self.server.server_address[1], served[0], acc)).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            if s.accesslog:
                log(s.accesslog, '%s "%s %s" 200 %d' % (self.client_address[0], self.command, self.path, len(body)))

        do_HEAD = do_GET

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0") or 0)
            self.rfile.read(length)
            self.do_GET()

        def log_message(self, *a):
            pass

    class ZServer(ThreadingHTTPServer):
        """Like ZServer: any number of connections are read, but only
        zserver-threads requests are worked on at once; the rest wait."""
        request_queue_size = 128
        allow_reuse_address = True
        daemon_threads = True

    workers = threading.BoundedSemaphore(s.threads)
    inner_get = Handler.do_GET

    def limited(self):
        with workers:
            inner_get(self)

    Handler.do_GET = limited
    Handler.do_HEAD = limited

    srvs = []
    for host, port in s.servers:
        class Server(ZServer):
            address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            srvs.append(Server((host, port), Handler))
        except OSError as e:
            log(s.eventlog, "ERROR cannot listen on %s:%d: %s" % (host, port, e.strerror))
            raise SystemExit(5)
    with open(s.pidfile + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(s.pidfile + ".tmp", s.pidfile)

    def stop(signum, frame):
        log(s.eventlog, "INFO Zope shutting down (signal %d)" % signum)
        try:
            if read_pid(s) == os.getpid():
                os.unlink(s.pidfile)
        except OSError:
            pass
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for srv in srvs[1:]:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    log(s.eventlog, "INFO Zope Ready to handle requests on %s (%d threads)" % (", ".join("%s:%d" % a for a in s.servers), s.threads))
    srvs[0].serve_forever()


def manager_alive(sockname):
    """Whether a daemon manager answers on its unix socket."""
    c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        c.connect(sockname)
        return True
    except OSError:
        return False
    finally:
        c.close()


def manager(s):
    """The daemon manager (zdrun's part): holds the socket, runs the
    program as its child, and goes when the child goes or when told to
    stop on the socket."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        os.unlink(s.sockname)
    except OSError:
        pass
    srv.bind(s.sockname)
    srv.listen(4)
    child = subprocess.Popen(s.program)

    def finish(*_):
        if child.poll() is None:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
        try:
            os.unlink(s.sockname)
        except OSError:
            pass
        os._exit(0)

    signal.signal(signal.SIGTERM, finish)

    def serve_socket():
        while True:
            conn, _ = srv.accept()
            if conn.recv(16).startswith(b"stop"):
                finish()
            conn.close()

    threading.Thread(target=serve_socket, daemon=True).start()
    child.wait()
    finish()


def daemonize(s):
    """Fork the manager off as a daemon; return its pid."""
    r, w = os.pipe()
    pid = os.fork()
    if pid > 0:
        os.close(w)
        os.waitpid(pid, 0)
        return int(os.read(r, 32) or b"0")
    os.close(r)
    os.setsid()
    pid2 = os.fork()
    if pid2 > 0:
        os.write(w, b"%d" % pid2)
        os._exit(0)
    os.close(w)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    try:
        manager(s)
    except BaseException:
        os._exit(1)
    os._exit(0)


def start(s):
    pid = read_pid(s)
    if alive(pid):
        print("daemon process already running; pid=%d" % pid)
        return 0
    if manager_alive(s.sockname):
        print("zopectl: another daemon manager is already running on %s" % s.sockname, file=sys.stderr)
        return 1
    mgr = daemonize(s)
    deadline = time.time() + 30
    while time.time() < deadline:
        if not alive(mgr):
            print("daemon process failed to start; see %s" % (s.eventlog or "the event log"), file=sys.stderr)
            return 1
        pid = read_pid(s)
        if alive(pid):
            try:
                socket.create_connection((s.host if s.host != "0.0.0.0" else "127.0.0.1", s.port), 0.5).close()
                print(". daemon process started, pid=%d" % pid)
                return 0
            except OSError:
                pass
        time.sleep(0.05)
    print("daemon process did not answer on port %d in 30s" % s.port, file=sys.stderr)
    return 1


def stop(s):
    pid = read_pid(s)
    if manager_alive(s.sockname):
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            c.connect(s.sockname)
            c.sendall(b"stop\n")
        except OSError:
            pass
        finally:
            c.close()
    elif alive(pid):
        os.kill(pid, signal.SIGTERM)
    else:
        print("daemon manager not running")
        return 0
    deadline = time.time() + 10
    while (alive(pid) or manager_alive(s.sockname)) and time.time() < deadline:
        time.sleep(0.05)
    if alive(pid):
        os.kill(pid, signal.SIGKILL)
    print(". daemon process stopped")
    return 0


def status(s):
    pid = read_pid(s)
    if alive(pid):
        print("program running; pid=%d" % pid)
        return 0
    print("daemon manager not running")
    return 3


def run_zope(argv):
    """Zope in the foreground (run.py): -C CONFIG; two different -C are
    refused, as zdaemon's option parser refuses them."""
    conf = None
    i = 0
    while i < len(argv):
        if argv[i] == "-C" and i + 1 < len(argv):
            if conf is not None and conf != argv[i + 1]:
                print("Error: conflicting command line option '-C'", file=sys.stderr)
                return 2
            conf = argv[i + 1]
            i += 2
            continue
        i += 1
    if conf is None:
        print("usage: runzope -C CONFIG", file=sys.stderr)
        return 2
    serve(Settings(conf))
    return 0


def control(argv):
    if len(argv) < 3 or argv[0] != "-C":
        print("usage: zopectl -C CONFIG start|stop|restart|status|fg", file=sys.stderr)
        return 2
    conf, cmd = argv[1], argv[2]
    s = Settings(conf)
    if cmd == "start":
        return start(s)
    if cmd == "stop":
        return stop(s)
    if cmd == "restart":
        stop(s)
        return start(s)
    if cmd == "status":
        return status(s)
    if cmd in ("fg", "foreground"):
        os.execv(s.program[0], s.program)
    print("zopectl: %s is not available in the sandbox stand-in (start, stop, restart, status, fg are)" % cmd, file=sys.stderr)
    return 2


def main(argv):
    me = os.path.basename(sys.argv[0])
    if me in ("runzope", "run.py"):
        return run_zope(argv)
    return control(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
