package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/zenpatch/zenpatch/internal/balancer"
	"github.com/zenpatch/zenpatch/internal/fixture"
	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/internal/loadtest"
	"github.com/zenpatch/zenpatch/internal/zope"

	"github.com/zenpatch/zenpatch/internal/sandbox"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"zenpatch": main})
}

func repoRoot(t testing.TB) string {
	t.Helper()
	abs, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// TestScripts runs testdata/script/*.txtar against the real binary.
func TestScripts(t *testing.T) {
	root := repoRoot(t)
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join(root, "testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       os.Getenv("UPDATE_SCRIPTS") != "",
		Setup: func(e *testscript.Env) error {
			// The directory testscript put zenpatch in, for scripts that
			// need a PATH without python3.
			e.Setenv("ZPBIN", strings.Split(e.Getenv("PATH"), string(os.PathListSeparator))[0])
			e.Setenv("ZENPATCH_NO_RPM", "1")
			e.Setenv("NO_COLOR", "")
			return nil
		},
		Cmds: scriptCmds(),
	})
}

// scriptCmd is a custom testscript command: its usage line, how many
// arguments it takes, and whether "! cmd" (the opposite check) means
// anything for it. A command that cannot be negated refuses "!", so that
// no script can be misled into thinking it checked the opposite.
type scriptCmd struct {
	usage     string
	min, max  int // argument counts; max -1: no limit
	negatable bool
	run       func(ts *testscript.TestScript, neg bool, args []string)
}

func scriptCmds() map[string]func(ts *testscript.TestScript, neg bool, args []string) {
	cmds := map[string]scriptCmd{
		"fixture":   {"fixture NAME DIR", 2, 2, false, cmdFixture},
		"code":      {"code N PROG [ARGS...]", 2, -1, false, cmdCode},
		"snapshot":  {"snapshot DIR", 1, 1, false, cmdSnapshot},
		"unchanged": {"[!] unchanged DIR", 1, 1, true, cmdUnchanged},
		"roundtrip": {"roundtrip FIXTURE", 1, 1, false, cmdRoundtrip},
		"shsyntax":  {"[!] shsyntax FILE", 1, 1, true, cmdShSyntax},
		"crashtest": {"crashtest FIXTURE", 1, 1, false, cmdCrashtest},
		"sandbox":   {"sandbox DIR [VERSION]", 1, 2, false, cmdSandbox},
		"holdport":  {"holdport PORT", 1, 1, false, cmdHoldport},
		"noproc":    {"[!] noproc DIR", 1, 1, true, cmdNoproc},
		"portfree":  {"[!] portfree PORT...", 1, -1, true, cmdPortfree},
		"loadstart": {"loadstart NAME URL [CONNS]", 2, 3, false, cmdLoadstart},
		"loadstop":  {"[!] loadstop NAME", 1, 1, true, cmdLoadstop},
		"sigkill":   {"sigkill PIDFILE", 1, 1, false, cmdSigkill},
		"lbstate":   {"lbstate DIR BACKEND STATE [SECONDS]", 3, 4, false, cmdLbstate},
		"upgradefx": {"upgradefx FIXTURE", 1, 1, false, cmdUpgradeFixture},
		"locked":    {"[!] locked FILE", 1, 1, true, cmdLocked},
		"foreign":   {"foreign NAME PIDFILE...", 2, -1, false, cmdForeign},
		"alive":     {"[!] alive PID", 1, 1, true, cmdAlive},
	}
	out := map[string]func(ts *testscript.TestScript, neg bool, args []string){}
	for name, c := range cmds {
		out[name] = func(ts *testscript.TestScript, neg bool, args []string) {
			if neg && !c.negatable {
				ts.Fatalf("%s: cannot be negated (usage: %s)", name, c.usage)
			}
			if len(args) < c.min || (c.max >= 0 && len(args) > c.max) {
				ts.Fatalf("usage: %s (got %d arguments)", c.usage, len(args))
			}
			c.run(ts, neg, args)
		}
	}
	return out
}

// fixture NAME DIR: copy the fixture NAME (patches/vendor or
// testdata/installs) to DIR, keeping modes.
func cmdFixture(ts *testscript.TestScript, neg bool, args []string) {
	src := fixture.Dir(args[0])
	ts.Check(copyTree(src, ts.MkAbs(args[1])))
}

func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, data, info.Mode().Perm())
	})
}

// code N PROG ARGS...: run PROG and require exit code N exactly.
func cmdCode(ts *testscript.TestScript, neg bool, args []string) {
	want, err := strconv.Atoi(args[0])
	ts.Check(err)
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			ts.Fatalf("%s: %v", args[1], err)
		}
		got = ee.ExitCode()
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", strings.Join(args[1:], " "), got, want)
	}
}

// treeDigest lists every file under dir with its mode and sha256.
func treeDigest(dir string) (string, error) {
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			lines = append(lines, fmt.Sprintf("%s/ %v", rel, info.Mode()))
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		h := sha256.Sum256(data)
		lines = append(lines, fmt.Sprintf("%s %v %s", rel, info.Mode(), hex.EncodeToString(h[:])))
		return nil
	})
	sort.Strings(lines)
	return strings.Join(lines, "\n"), err
}

// snapshot DIR: remember DIR's tree; unchanged DIR: require it identical
// (every file's bytes and mode, no file added or removed).
func cmdSnapshot(ts *testscript.TestScript, neg bool, args []string) {
	d, err := treeDigest(ts.MkAbs(args[0]))
	ts.Check(err)
	ts.Check(os.WriteFile(ts.MkAbs(".snapshot-"+strings.ReplaceAll(args[0], "/", "_")), []byte(d), 0o644))
}

func cmdUnchanged(ts *testscript.TestScript, neg bool, args []string) {
	want, err := os.ReadFile(ts.MkAbs(".snapshot-" + strings.ReplaceAll(args[0], "/", "_")))
	ts.Check(err)
	got, err := treeDigest(ts.MkAbs(args[0]))
	ts.Check(err)
	if neg && got == string(want) {
		ts.Fatalf("%s did not change", args[0])
	}
	if !neg && got != string(want) {
		ts.Fatalf("%s changed:\nbefore:\n%s\nafter:\n%s", args[0], want, got)
	}
}

// shsyntax FILE: the shell accepts FILE (sh -n); with !, it refuses it.
func cmdShSyntax(ts *testscript.TestScript, neg bool, args []string) {
	out, err := exec.Command("sh", "-n", ts.MkAbs(args[0])).CombinedOutput()
	if neg && err == nil {
		ts.Fatalf("sh -n %s: accepted", args[0])
	}
	if !neg && err != nil {
		ts.Fatalf("sh -n %s: %v\n%s", args[0], err, out)
	}
}

// roundtrip FIXTURE: diff → apply → diff says nothing → apply again is a
// no-op → revert gives the original bytes, on a copy of FIXTURE.
func cmdRoundtrip(ts *testscript.TestScript, neg bool, args []string) {
	name := args[0]
	dir := ts.MkAbs("rt-" + name)
	ts.Check(copyTree(fixture.Dir(name), dir))
	orig, err := os.ReadFile(filepath.Join(dir, "bin/zopectl"))
	ts.Check(err)
	run := func(want int, a ...string) {
		cmdCode(ts, false, append([]string{strconv.Itoa(want), "zenpatch"}, append(a, "--zenhome", dir)...))
	}
	run(2, "diff", "--zopes", "3")
	run(0, "apply", "--zopes", "3")
	after, err := treeDigest(dir)
	ts.Check(err)
	cmdShSyntax(ts, false, []string{filepath.Join(dir, "bin/zopectl")})
	run(0, "diff")
	run(0, "apply")
	again, err := treeDigest(dir)
	ts.Check(err)
	if again != after {
		ts.Fatalf("%s: second apply changed files", name)
	}
	run(0, "revert")
	back, err := os.ReadFile(filepath.Join(dir, "bin/zopectl"))
	ts.Check(err)
	if string(back) != string(orig) {
		ts.Fatalf("%s: revert did not give the original bytes", name)
	}
	run(2, "diff")
}

// crashtest FIXTURE: for N = 1, 2, …: on a fresh copy, 'zenpatch apply' is
// killed (SIGKILL) after its Nth durable step; every file must then hold
// its old or its new bytes, and a plain 'apply' must converge to the same
// tree as an apply that was never interrupted. Stops when N exceeds the
// steps of a whole apply.
func cmdCrashtest(ts *testscript.TestScript, neg bool, args []string) {
	name := args[0]
	ref := ts.MkAbs("crash-ref")
	ts.Check(copyTree(fixture.Dir(name), ref))
	origZopectl, err := os.ReadFile(filepath.Join(ref, "bin/zopectl"))
	ts.Check(err)
	ts.Check(ts.Exec("zenpatch", "apply", "--zopes", "3", "--zenhome", ref))
	newZopectl, err := os.ReadFile(filepath.Join(ref, "bin/zopectl"))
	ts.Check(err)
	kills := 0
	for n := 1; n < 50; n++ {
		dir := ts.MkAbs(fmt.Sprintf("crash-%d", n))
		ts.Check(copyTree(fixture.Dir(name), dir))
		ts.Setenv("ZENPATCH_TEST_CRASH_AT", strconv.Itoa(n))
		err := ts.Exec("zenpatch", "apply", "--zopes", "3", "--zenhome", dir)
		ts.Setenv("ZENPATCH_TEST_CRASH_AT", "")
		if err == nil {
			break // fewer steps than n: the apply finished
		}
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != -1 {
			ts.Fatalf("step %d: apply failed instead of being killed: %v", n, err)
		}
		kills++
		got, err := os.ReadFile(filepath.Join(dir, "bin/zopectl"))
		ts.Check(err)
		if string(got) != string(origZopectl) && string(got) != string(newZopectl) {
			ts.Fatalf("step %d: bin/zopectl is neither old nor new:\n%s", n, got)
		}
		if st, err := os.ReadFile(filepath.Join(dir, "var/zenpatch/state.json")); err == nil && !json.Valid(st) {
			ts.Fatalf("step %d: torn state file", n)
		}
		ts.Check(ts.Exec("zenpatch", "apply", "--zopes", "3", "--zenhome", dir))
		want, err := treeDigest(ref)
		ts.Check(err)
		have, err := treeDigest(dir)
		ts.Check(err)
		if stripVolatile(have) != stripVolatile(want) {
			ts.Fatalf("step %d: after recovery the tree differs:\n%s\n---\n%s", n, have, want)
		}
	}
	if kills < 4 {
		ts.Fatalf("only %d crash points were exercised", kills)
	}
	ts.Logf("killed apply at %d points; each converged", kills)
}

// stripVolatile drops the state file's digest (it holds a timestamp), the
// lock file and zenpatch's log (every run appends to it).
func stripVolatile(digest string) string {
	var keep []string
	for _, l := range strings.Split(digest, "\n") {
		if strings.HasPrefix(l, "var/zenpatch/state.json ") || strings.HasPrefix(l, "var/zenpatch/lock ") || strings.HasPrefix(l, "log/zenpatch.log ") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.Join(keep, "\n")
}

// testPorts finds n consecutive free ports below the ephemeral range.
// Scripts run in parallel in this process: a block handed to one is never
// handed to another, even while its ports are not bound yet.
var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

func testPorts(ts *testscript.TestScript, n int) int {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 100 {
		p, err := sandbox.FreeBlock(n)
		ts.Check(err)
		taken := false
		for q := p; q < p+n && !taken; q++ {
			taken = portsGiven[q]
		}
		if taken {
			continue
		}
		for q := p; q < p+n; q++ {
			portsGiven[q] = true
		}
		return p
	}
	ts.Fatalf("no block of %d ports that no other script has", n)
	return 0
}

// sandbox DIR [VERSION]: a runnable sandbox install with free ports: $PORT
// (zope.conf's HTTP port), $BASE (instance 1; base-port in
// etc/zenpatch.conf), $PORT1..$PORT5 (instances 1..5), $PORTB (free, for a
// second <http-server>) and $PORTB1..$PORTB5 (the instances' ports for it).
func cmdSandbox(ts *testscript.TestScript, neg bool, args []string) {
	version := "4.2.5"
	if len(args) > 1 {
		version = args[1]
	}
	port := testPorts(ts, 1)
	// Instance ports: base.. for zope.conf's first <http-server>, and
	// base+100.. for a second one (install.ListenerStride).
	base := testPorts(ts, install.ListenerStride+6)
	second := testPorts(ts, 1)
	dir := ts.MkAbs(args[0])
	ts.Check(sandbox.Create(dir, sandbox.Options{Version: version, Port: port}))
	conf := fmt.Sprintf("# test sandbox\nbase-port %d\nstart-timeout 20\nstop-timeout 10\n", base)
	ts.Check(os.WriteFile(filepath.Join(dir, "etc/zenpatch.conf"), []byte(conf), 0o644))
	ts.Setenv("PORT", strconv.Itoa(port))
	ts.Setenv("BASE", strconv.Itoa(base))
	ts.Setenv("PORTB", strconv.Itoa(second)) // free, for a second <http-server>
	for i := 1; i <= 5; i++ {
		ts.Setenv(fmt.Sprintf("PORT%d", i), strconv.Itoa(base+i-1))
		ts.Setenv(fmt.Sprintf("PORTB%d", i), strconv.Itoa(base+install.ListenerStride+i-1))
	}
	ts.Setenv("ZOPE_STANDIN_WORK", "2000")
	ts.Setenv("ZOPE_STANDIN_COLD_SECONDS", "0")
	// Whatever the script leaves running is stopped at the end.
	ts.Defer(func() {
		_ = exec.Command("pkill", "-f", dir).Run()
	})
}

// holdport PORT: listen on PORT until the script ends.
func cmdHoldport(ts *testscript.TestScript, neg bool, args []string) {
	l, err := net.Listen("tcp", ":"+args[0])
	ts.Check(err)
	ts.Defer(func() { l.Close() })
}

// noproc DIR: no process whose command line names DIR is running; with !,
// some is.
func cmdNoproc(ts *testscript.TestScript, neg bool, args []string) {
	dir := ts.MkAbs(args[0])
	out, _ := exec.Command("pgrep", "-af", dir).Output()
	running := len(strings.TrimSpace(string(out))) > 0
	if neg && !running {
		ts.Fatalf("no process names %s", args[0])
	}
	if !neg && running {
		ts.Fatalf("processes left running:\n%s", out)
	}
}

// portfree PORT...: nothing listens on these ports; with !, something
// listens on each.
func cmdPortfree(ts *testscript.TestScript, neg bool, args []string) {
	for _, p := range args {
		l, err := net.Listen("tcp", ":"+p)
		if err == nil {
			l.Close()
		}
		if neg && err == nil {
			ts.Fatalf("port %s is free", p)
		}
		if !neg && err != nil {
			ts.Fatalf("port %s is still held: %v", p, err)
		}
	}
}

// locked FILE: wait (up to 10 s) until another process holds an flock on
// FILE; with !, until none does.
func cmdLocked(ts *testscript.TestScript, neg bool, args []string) {
	p := ts.MkAbs(args[0])
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		f.Close() // drops our lock, if we got it
		if held := err != nil; held != neg {
			return
		}
	}
	ts.Fatalf("%s: flock held is not %v after 10s", args[0], !neg)
}

// loads are the background load runs of the scripts, by name.
var loads sync.Map // name → *runningLoad

// runningLoad is a load started by loadstart.
type runningLoad struct {
	ch               chan loadtest.Result
	cancel           context.CancelFunc
	answered, failed atomic.Int64 // so far
}

// loadstart NAME URL [CONNS]: start a steady load (at most 2 minutes) in
// the background.
func cmdLoadstart(ts *testscript.TestScript, neg bool, args []string) {
	conns := 8
	if len(args) > 2 {
		var err error
		conns, err = strconv.Atoi(args[2])
		ts.Check(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &runningLoad{ch: make(chan loadtest.Result, 1), cancel: cancel}
	loads.Store(ts.Getenv("WORK")+args[0], l)
	go func() {
		l.ch <- loadtest.Run(ctx, loadtest.Config{URL: args[1], Conns: conns, Duration: 2 * time.Minute,
			Every: 20 * time.Millisecond, Progress: func(r loadtest.Result) {
				l.answered.Store(r.Requests)
				l.failed.Store(r.Failures)
			}})
	}()
	ts.Defer(cancel)
	time.Sleep(300 * time.Millisecond) // let it reach a steady state
}

// loadstop NAME: stop the load and require that no request failed (with !,
// that some did); prints the figures. On a slow or busy machine it first
// waits (up to 30 s) for a request to be answered, and with ! for one to
// fail, so that what it checks has had a chance to happen.
func cmdLoadstop(ts *testscript.TestScript, neg bool, args []string) {
	v, ok := loads.LoadAndDelete(ts.Getenv("WORK") + args[0])
	if !ok {
		ts.Fatalf("no load %s", args[0])
	}
	l := v.(*runningLoad)
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if l.answered.Load() > 0 && (!neg || l.failed.Load() > 0) {
			break
		}
	}
	l.cancel()
	r := <-l.ch
	ts.Logf("load %s: %d requests, %s, failures %v", args[0], r.Requests, r, r.ByKind)
	if r.Requests == 0 {
		ts.Fatalf("load %s: no request answered", args[0])
	}
	if neg != (r.Failures > 0) {
		ts.Fatalf("load %s: %d failed requests %v", args[0], r.Failures, r.ByKind)
	}
}

// sigkill PIDFILE: kill -9 the process named in a pid file.
func cmdSigkill(ts *testscript.TestScript, neg bool, args []string) {
	b, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	ts.Check(err)
	ts.Check(syscall.Kill(pid, syscall.SIGKILL))
}

// lbstate DIR BACKEND STATE [SECONDS]: wait until the install's balancer
// reports BACKEND in STATE (up, down, draining).
func cmdLbstate(ts *testscript.TestScript, neg bool, args []string) {
	limit := 10 * time.Second
	if len(args) > 3 {
		s, err := strconv.ParseFloat(args[3], 64)
		ts.Check(err)
		limit = time.Duration(s * float64(time.Second))
	}
	cl := balancer.NewAdminClient(filepath.Join(ts.MkAbs(args[0]), zope.AdminSocket))
	deadline := time.Now().Add(limit)
	last := ""
	for time.Now().Before(deadline) {
		st, err := cl.Status(context.Background())
		if err == nil {
			for _, b := range st.Backends {
				if b.Name == args[1] {
					last = string(b.State)
					if last == args[2] {
						return
					}
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("backend %s is %q, not %s, after %s", args[1], last, args[2], limit)
}

// upgradefx FIXTURE: on a copy of a vendor fixture, 'upgrade --no-restart'
// patches it; a simulated package upgrade then puts the vendor zopectl back
// (and a newer ZVersion.py); 'upgrade' patches again, keeping ZOPES; a
// second 'upgrade' changes nothing and says so in one line.
func cmdUpgradeFixture(ts *testscript.TestScript, neg bool, args []string) {
	name := args[0]
	dir := ts.MkAbs("up-" + name)
	ts.Check(copyTree(fixture.Dir(name), dir))
	vendor, err := os.ReadFile(filepath.Join(dir, "bin/zopectl"))
	ts.Check(err)
	run := func(want int, a ...string) {
		cmdCode(ts, false, append([]string{strconv.Itoa(want), "zenpatch"}, append(a, "--zenhome", dir)...))
	}
	run(0, "upgrade", "--no-restart", "--zopes", "3")
	patched, err := os.ReadFile(filepath.Join(dir, "bin/zopectl"))
	ts.Check(err)
	if string(patched) == string(vendor) || !strings.Contains(string(patched), "\nZOPES=3\n") {
		ts.Fatalf("%s: upgrade did not patch", name)
	}
	// The package upgrade: vendor zopectl back, version bumped (same series).
	ts.Check(os.WriteFile(filepath.Join(dir, "bin/zopectl"), vendor, 0o755))
	vpath := filepath.Join(dir, "Products/ZenModel/ZVersion.py")
	v, err := os.ReadFile(vpath)
	ts.Check(err)
	ts.Check(os.WriteFile(vpath, []byte(strings.Replace(string(v), "VERSION", "# upgraded\nVERSION", 1)), 0o644))
	run(0, "upgrade", "--no-restart")
	again, err := os.ReadFile(filepath.Join(dir, "bin/zopectl"))
	ts.Check(err)
	if string(again) != string(patched) {
		ts.Fatalf("%s: after the vendor upgrade, upgrade gave another zopectl:\n%s", name, again)
	}
	before, err := treeDigest(dir)
	ts.Check(err)
	run(0, "upgrade", "--no-restart")
	if out := strings.TrimSpace(ts.ReadFile("stdout")); strings.Count(out, "\n") != 0 || !strings.Contains(out, "nothing to do") {
		ts.Fatalf("%s: second upgrade should say nothing to do in one line, said:\n%s", name, out)
	}
	after, err := treeDigest(dir)
	ts.Check(err)
	if stripVolatile(before) != stripVolatile(after) {
		ts.Fatalf("%s: second upgrade changed files", name)
	}
	log, err := os.ReadFile(filepath.Join(dir, "log/zenpatch.log"))
	ts.Check(err)
	if !strings.Contains(string(log), "msg=applied") {
		ts.Fatalf("%s: log/zenpatch.log has no decision:\n%s", name, log)
	}
}

// foreign NAME PIDFILE...: start a process that is neither a Zope nor the
// balancer (sleep 600), put its pid in $NAME and write it into each
// PIDFILE, as a stale pid file whose pid the kernel gave to another
// program; it is killed when the script ends.
func cmdForeign(ts *testscript.TestScript, neg bool, args []string) {
	cmd := exec.Command("sleep", "600")
	ts.Check(cmd.Start())
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	ts.Defer(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	pid := strconv.Itoa(cmd.Process.Pid)
	ts.Setenv(args[0], pid)
	for _, f := range args[1:] {
		p := ts.MkAbs(f)
		ts.Check(os.MkdirAll(filepath.Dir(p), 0o755))
		ts.Check(os.WriteFile(p, []byte(pid+"\n"), 0o644))
	}
}

// alive PID: the process runs; with !, it does not (waiting up to 10 s
// for it to end).
func cmdAlive(ts *testscript.TestScript, neg bool, args []string) {
	pid, err := strconv.Atoi(args[0])
	ts.Check(err)
	if !neg {
		if !zope.Alive(pid) {
			ts.Fatalf("pid %d does not run", pid)
		}
		return
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !zope.Alive(pid) {
			return
		}
	}
	ts.Fatalf("pid %d still runs after 10s", pid)
}
