package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/zenpatch/zenpatch/internal/loadtest"

	"github.com/zenpatch/zenpatch/internal/sandbox"
	"github.com/zenpatch/zenpatch/internal/sizing"
)

func cmdDemo(e *env, args []string) error {
	var keep bool
	var zopes int
	var shape string
	var dur time.Duration
	fs := newFlags(e, "demo", "demo [flags]", `
The whole story on a sandbox Zenoss install that zenpatch creates in a
temporary directory (real-shaped zopectl, zope.conf and ZVersion.py; the
Zope is a stand-in Python server whose pages cost CPU under the GIL):
  1. one Zope, the vendor's way; status; a load run
  2. the dry-run diff, then 'upgrade': patch, ZOPES, N instances behind
     the balancer; the same load run
  3. a simulated Zenoss upgrade replaces zopectl; 'upgrade' restores the
     patch with a rolling restart under load (no request fails)
  4. everything stops and the sandbox is removed (--keep: left running)
Needs only python3 besides zenpatch. Loopback only; about a minute.

Examples:
  zenpatch demo
  zenpatch demo --keep --zopes 3`)
	fs.BoolVar(&keep, "keep", false, "leave the sandbox running and print how to use and remove it")
	fs.IntVar(&zopes, "zopes", 0, "instances to run (default: the recommendation, at least 2)")
	fs.StringVar(&shape, "version", "4.2.5", "sandbox shape: Zenoss "+strings.Join(sandbox.Shapes, " or "))
	fs.DurationVar(&dur, "duration", 5*time.Second, "length of each load run")
	if err := parse(fs, args); err != nil {
		return err
	}
	if _, err := sandbox.Python(); err != nil {
		return withCode(exitError, err, "install python3 (e.g. apt-get install python3) and run the demo again")
	}
	if zopes == 0 {
		zopes = max(2, sizing.Recommend(sizing.Host(), 1, 0).Zopes)
	}
	if zopes < 2 || zopes > 16 {
		return usageErr("--zopes %d: the demo runs 2 to 16 instances", zopes)
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	// The patched zopectl calls back into this very binary.
	os.Setenv("ZENPATCH", exe)
	dir, err := os.MkdirTemp("", "zenpatch-demo-")
	if err != nil {
		return err
	}
	home := filepath.Join(dir, "zenoss")
	// Ports below the kernel's ephemeral range: outgoing connections
	// cannot take an instance's port while it restarts.
	port, err := sandbox.FreeBlock(1)
	if err != nil {
		return err
	}
	base, err := sandbox.FreeBlock(zopes + 1)
	if err != nil {
		return err
	}
	d := &demo{e: e, home: home, out: e.stdout, tty: isTTY(e.stdout)}
	d.say("Creating a sandbox Zenoss %s install in %s (HTTP port %d)", shape, home, port)
	if err := sandbox.Create(home, sandbox.Options{Version: shape, Port: port}); err != nil {
		return err
	}
	conf := fmt.Sprintf("# zenpatch demo settings\nbase-port %d\nstart-timeout 30\nstop-timeout 10\n<balancer>\n  slow-start 3\n  health-interval 1\n</balancer>\n", base)
	if err := os.WriteFile(filepath.Join(home, "etc/zenpatch.conf"), []byte(conf), 0o644); err != nil {
		return err
	}
	cleanup := func() {
		ctx := context.WithoutCancel(e.ctx)
		d.quiet(ctx, "zope", "stop", "--zenhome", home)
		os.RemoveAll(dir)
	}
	if !keep {
		defer cleanup()
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)

	d.step("1. One Zope, the vendor's way")
	if err := d.run("zope", "start", "--zenhome", home); err != nil {
		return err
	}
	if err := d.run("status", "--zenhome", home, "--zopes", strconv.Itoa(zopes)); err != nil {
		return err
	}
	time.Sleep(3 * time.Second) // past the stand-in's cold start, for a fair figure
	one := d.load("1 Zope", url, dur)

	d.step("2. The dry-run diff, then 'zenpatch upgrade' (patch, ZOPES=%d, instances behind the balancer)", zopes)
	_ = d.run("diff", "--zenhome", home, "--zopes", strconv.Itoa(zopes))
	if err := d.run("upgrade", "--zenhome", home, "--zopes", strconv.Itoa(zopes)); err != nil {
		return err
	}
	time.Sleep(3500 * time.Millisecond) // cold caches warm, slow start ends
	many := d.load(fmt.Sprintf("%d Zopes", zopes), url, dur)
	d.say("")
	d.say("  %-10s %10s %10s %10s %8s", "", "req/s", "p50", "p99", "failed")
	for _, r := range []struct {
		name string
		r    loadtest.Result
	}{{"1 Zope", one}, {fmt.Sprintf("%d Zopes", zopes), many}} {
		d.say("  %-10s %10.0f %10s %10s %8d", r.name, r.r.RPS(), r.r.P50.Round(100*time.Microsecond), r.r.P99.Round(100*time.Microsecond), r.r.Failures)
	}
	if one.RPS() > 0 {
		d.say("  → %.2f× the throughput (this machine: %d CPUs; the load generator and the balancer share them)", many.RPS()/one.RPS(), sizing.Recommend(sizing.Host(), 1, 0).Online)
	}

	d.step("3. A Zenoss upgrade replaces bin/zopectl; 'zenpatch upgrade' restores the patch, rolling, under load")
	vendor, err := sandbox.Zopectl(shape, home)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(home, "bin/zopectl"), vendor, 0o755); err != nil {
		return err
	}
	d.say("(bin/zopectl is the vendor's again: the patch is gone, the instances still run)")
	ctx, cancel := context.WithCancel(e.ctx)
	bg := make(chan loadtest.Result, 1)
	go func() { bg <- loadtest.Run(ctx, loadtest.Config{URL: url, Conns: 16, Duration: 2 * time.Minute}) }()
	time.Sleep(500 * time.Millisecond)
	uerr := d.run("upgrade", "--zenhome", home)
	time.Sleep(500 * time.Millisecond)
	cancel()
	during := <-bg
	if uerr != nil {
		return uerr
	}
	d.say("load during the upgrade: %d requests, %d failed", during.Requests, during.Failures)
	if err := d.run("verify", "--zenhome", home, "--live"); err != nil {
		var q quietCode
		if !asQuiet(err, &q) || int(q) != exitPending { // the hook is not installed in a sandbox: drift
			return err
		}
	}
	if keep {
		d.step("The sandbox keeps running")
		d.say("browse:  %s", url)
		d.say("status:  %s zope status --zenhome %s", exe, home)
		d.say("remove:  ZENPATCH=%s %s/bin/zopectl stop && rm -rf %s", exe, home, dir)
		return nil
	}
	d.step("4. Stopping everything and removing the sandbox")
	return nil
}

type demo struct {
	e    *env
	home string
	out  io.Writer
	tty  bool
}

func (d *demo) say(f string, a ...any) { fmt.Fprintf(d.out, f+"\n", a...) }

func (d *demo) step(f string, a ...any) {
	line := fmt.Sprintf(f, a...)
	if d.tty && d.e.getenv("NO_COLOR") == "" {
		line = "\x1b[1m" + line + "\x1b[0m"
	}
	fmt.Fprintf(d.out, "\n== %s\n", line)
}

// run runs a zenpatch command in this process, showing it first.
func (d *demo) run(args ...string) error {
	shown := strings.ReplaceAll(strings.Join(args, " "), d.home, "$ZENHOME")
	fmt.Fprintf(d.out, "$ zenpatch %s\n", shown)
	err := dispatch(d.e, args)
	var q quietCode
	if asQuiet(err, &q) && (int(q) == exitOK || (args[0] == "diff" && int(q) == exitPending)) {
		return nil
	}
	if err != nil && !asQuiet(err, &q) {
		report(d.e.stderr, err)
	}
	return err
}

func (d *demo) quiet(ctx context.Context, args ...string) {
	e := *d.e
	e.ctx, e.stdout, e.stderr = ctx, io.Discard, io.Discard
	_ = dispatch(&e, args)
}

// load runs the load generator with a progress line.
func (d *demo) load(name, url string, dur time.Duration) loadtest.Result {
	every := time.Second
	if !d.tty {
		every = 2 * time.Second
	}
	r := loadtest.Run(d.e.ctx, loadtest.Config{URL: url, Conns: 16, Duration: dur, Every: every, Progress: func(r loadtest.Result) {
		line := fmt.Sprintf("  %-9s %s  %5.0f req/s  p50 %-8s p99 %-8s failed %d", name, bar(r.Elapsed, dur), r.RPS(), r.P50.Round(100*time.Microsecond), r.P99.Round(100*time.Microsecond), r.Failures)
		if d.tty {
			fmt.Fprintf(d.out, "\r%s", line)
		} else {
			fmt.Fprintln(d.out, line)
		}
	}})
	if d.tty {
		fmt.Fprint(d.out, "\r\x1b[K")
	}
	d.say("  %-9s %s", name, r)
	return r
}

func bar(el, total time.Duration) string {
	n := int(10 * el / total)
	n = max(0, min(10, n))
	return "[" + strings.Repeat("#", n) + strings.Repeat(" ", 10-n) + "]"
}

func isTTY(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func asQuiet(err error, q *quietCode) bool {
	if err == nil {
		*q = 0
		return true
	}
	v, ok := err.(quietCode)
	if ok {
		*q = v
	}
	return ok
}
