package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/zenpatch/zenpatch/internal/loadtest"
	"github.com/zenpatch/zenpatch/internal/sizing"
)

// Demo is 'zenpatch demo': the whole story on a sandbox install, told by
// running the real zenpatch binary (Exe) on it as an operator would.
type Demo struct {
	Exe      string        // the zenpatch binary
	Out      io.Writer     // the story
	Err      io.Writer     // the commands' diagnostics
	TTY      bool          // Out is a terminal: progress lines are redrawn
	Color    bool          // bold step titles
	Keep     bool          // leave the sandbox running
	Zopes    int           // instances to run (2..16)
	Shape    string        // one of Shapes
	Duration time.Duration // length of each load run
}

// DemoError is a demo step that failed; its command's output is already
// on the screen.
type DemoError struct{ Step string }

// Error implements error.
func (e *DemoError) Error() string { return "demo step failed: " + e.Step }

// Hint is the next step.
func (e *DemoError) Hint() string {
	return "the command's output above says what went wrong; the sandbox was removed"
}

// Run plays the demo: one Zope the vendor's way and a load run; the
// dry-run diff and 'upgrade' (patch, ZOPES, instances behind the
// balancer) and the same load run; a simulated Zenoss upgrade repaired by
// 'upgrade' with a rolling restart under load; 'verify --live'; cleanup.
func (d *Demo) Run(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "zenpatch-demo-")
	if err != nil {
		return err
	}
	home := filepath.Join(dir, "zenoss")
	// Ports below the kernel's ephemeral range: outgoing connections
	// cannot take an instance's port while it restarts.
	port, err := FreeBlock(1)
	if err != nil {
		return err
	}
	base, err := FreeBlock(d.Zopes + 1)
	if err != nil {
		return err
	}
	d.say("Creating a sandbox Zenoss %s install in %s (HTTP port %d)", d.Shape, home, port)
	if err := Create(home, Options{Version: d.Shape, Port: port}); err != nil {
		return err
	}
	conf := fmt.Sprintf("# zenpatch demo settings\nbase-port %d\nstart-timeout 30\nstop-timeout 10\n<balancer>\n  slow-start 3\n  health-interval 1\n</balancer>\n", base)
	if err := os.WriteFile(filepath.Join(home, "etc/zenpatch.conf"), []byte(conf), 0o644); err != nil {
		return err
	}
	if !d.Keep {
		defer func() {
			d.quiet(context.WithoutCancel(ctx), "zope", "stop", "--zenhome", home)
			os.RemoveAll(dir)
		}()
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if err := d.before(ctx, home, url); err != nil {
		return err
	}
	if err := d.upgradeUnderLoad(ctx, home, url); err != nil {
		return err
	}
	if err := d.zenossFlow(ctx, home, url); err != nil {
		return err
	}
	if d.Keep {
		d.step("The sandbox keeps running")
		d.say("browse:  %s", url)
		d.say("status:  %s zope status --zenhome %s", d.Exe, home)
		d.say("remove:  ZENPATCH=%s %s/bin/zopectl stop && rm -rf %s", d.Exe, home, dir)
		return nil
	}
	d.step("5. Stopping everything and removing the sandbox")
	return nil
}

// before runs steps 1 and 2: one Zope, then N, with a load run each.
func (d *Demo) before(ctx context.Context, home, url string) error {
	zopes := strconv.Itoa(d.Zopes)
	d.step("1. One Zope, the vendor's way")
	if err := d.run(ctx, home, "zope", "start", "--zenhome", home); err != nil {
		return err
	}
	if err := d.run(ctx, home, "status", "--zenhome", home, "--zopes", zopes); err != nil {
		return err
	}
	time.Sleep(3 * time.Second) // past the stand-in's cold start, for a fair figure
	one := d.load(ctx, "1 Zope", url)

	d.step("2. The dry-run diff, then 'zenpatch upgrade' (patch, ZOPES=%d, instances behind the balancer)", d.Zopes)
	if err := d.run(ctx, home, "diff", "--zenhome", home, "--zopes", zopes); err != nil {
		return err
	}
	if err := d.run(ctx, home, "upgrade", "--zenhome", home, "--zopes", zopes); err != nil {
		return err
	}
	time.Sleep(3500 * time.Millisecond) // cold caches warm, slow start ends
	name := fmt.Sprintf("%d Zopes", d.Zopes)
	many := d.load(ctx, name, url)
	d.say("")
	d.say("  %-10s %10s %10s %10s %8s", "", "req/s", "p50", "p99", "failed")
	for _, r := range []struct {
		name string
		r    loadtest.Result
	}{{"1 Zope", one}, {name, many}} {
		d.say("  %-10s %10.0f %10s %10s %8d", r.name, r.r.RPS(), r.r.P50.Round(100*time.Microsecond), r.r.P99.Round(100*time.Microsecond), r.r.Failures)
	}
	if one.RPS() > 0 {
		d.say("  → %.2f× the throughput (this machine: %d CPUs; the load generator and the balancer share them)", many.RPS()/one.RPS(), sizing.Recommend(sizing.Host(), 1, 0).Online)
	}
	return nil
}

// upgradeUnderLoad runs step 3: the vendor zopectl comes back, as a Zenoss
// package update does, and 'upgrade' repairs it with a rolling restart
// while a load runs; then 'verify --live'.
func (d *Demo) upgradeUnderLoad(ctx context.Context, home, url string) error {
	d.step("3. A Zenoss upgrade replaces bin/zopectl; 'zenpatch upgrade' restores the patch, rolling, under load")
	vendor, err := Zopectl(d.Shape, home)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(home, "bin/zopectl"), vendor, 0o755); err != nil {
		return err
	}
	d.say("(bin/zopectl is the vendor's again: the patch is gone, the instances still run)")
	lctx, cancel := context.WithCancel(ctx)
	bg := make(chan loadtest.Result, 1)
	go func() { bg <- loadtest.Run(lctx, loadtest.Config{URL: url, Conns: 16, Duration: 2 * time.Minute}) }()
	time.Sleep(500 * time.Millisecond)
	uerr := d.run(ctx, home, "upgrade", "--zenhome", home)
	time.Sleep(500 * time.Millisecond)
	cancel()
	during := <-bg
	if uerr != nil {
		return uerr
	}
	d.say("load during the upgrade: %d requests, %d failed", during.Requests, during.Failures)
	// The hook is not installed in a sandbox: verify reports drift (2).
	return d.run(ctx, home, "verify", "--zenhome", home, "--live")
}

// zenossFlow runs step 4: an upgrade the way Zenoss's own scripts do it,
// with the hook in the middle: 'zenoss stop', the package replaces zopectl
// and leaves .upgraded, the hook's 'zenpatch upgrade' patches without
// starting anything, and the first 'zenoss start' migrates, then starts the
// instances.
func (d *Demo) zenossFlow(ctx context.Context, home, url string) error {
	d.step("4. The Zenoss way: 'zenoss stop', the package upgrade, the hook, 'zenoss start'")
	if err := d.shell(ctx, home, "bin/zenoss", "stop"); err != nil {
		return err
	}
	vendor, err := Zopectl(d.Shape, home)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(home, "bin/zopectl"), vendor, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(home, ".upgraded"), nil, 0o644); err != nil {
		return err
	}
	d.say("(the package put the vendor's zopectl back and left $ZENHOME/.upgraded: a migration is pending)")
	if err := d.run(ctx, home, "upgrade", "--zenhome", home); err != nil {
		return err
	}
	if err := d.shell(ctx, home, "bin/zenoss", "start"); err != nil {
		return err
	}
	time.Sleep(500 * time.Millisecond)
	r := loadtest.Run(ctx, loadtest.Config{URL: url, Conns: 16, Duration: time.Second})
	d.say("after 'zenoss start': %s", r)
	return nil
}

// shell runs one of the sandbox's own scripts, showing it first.
func (d *Demo) shell(ctx context.Context, home, script string, args ...string) error {
	fmt.Fprintf(d.Out, "$ $ZENHOME/%s %s\n", script, strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, filepath.Join(home, script), args...)
	cmd.Env = append(os.Environ(), "ZENPATCH="+d.Exe)
	cmd.Stdout, cmd.Stderr = d.Out, d.Err
	if err := cmd.Run(); err != nil {
		return &DemoError{Step: script + " " + strings.Join(args, " ")}
	}
	return nil
}

func (d *Demo) say(f string, a ...any) { fmt.Fprintf(d.Out, f+"\n", a...) }

func (d *Demo) step(f string, a ...any) {
	line := fmt.Sprintf(f, a...)
	if d.Color {
		line = "\x1b[1m" + line + "\x1b[0m"
	}
	fmt.Fprintf(d.Out, "\n== %s\n", line)
}

// okExit is the exit codes a demo step accepts besides 0: diff's 2
// (changes pending) and verify's 2 (drift: no hook in a sandbox).
var okExit = map[string]int{"diff": 2, "verify": 2}

// run runs zenpatch with args, showing the command first.
func (d *Demo) run(ctx context.Context, home string, args ...string) error {
	fmt.Fprintf(d.Out, "$ zenpatch %s\n", strings.ReplaceAll(strings.Join(args, " "), home, "$ZENHOME"))
	cmd := d.command(ctx, args...)
	cmd.Stdout, cmd.Stderr = d.Out, d.Err
	err := cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == okExit[args[0]] {
		return nil
	}
	if err != nil {
		return &DemoError{Step: "zenpatch " + args[0]}
	}
	return nil
}

func (d *Demo) quiet(ctx context.Context, args ...string) {
	_ = d.command(ctx, args...).Run()
}

// command runs this zenpatch; the patched zopectl calls it back (ZENPATCH).
func (d *Demo) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, d.Exe, args...)
	cmd.Env = append(os.Environ(), "ZENPATCH="+d.Exe)
	return cmd
}

// load runs the load generator with a progress line.
func (d *Demo) load(ctx context.Context, name, url string) loadtest.Result {
	every := time.Second
	if !d.TTY {
		every = 2 * time.Second
	}
	dur := d.Duration
	r := loadtest.Run(ctx, loadtest.Config{URL: url, Conns: 16, Duration: dur, Every: every, Progress: func(r loadtest.Result) {
		line := fmt.Sprintf("  %-9s %s  %5.0f req/s  p50 %-8s p99 %-8s failed %d", name, bar(r.Elapsed, dur), r.RPS(), r.P50.Round(100*time.Microsecond), r.P99.Round(100*time.Microsecond), r.Failures)
		if d.TTY {
			fmt.Fprintf(d.Out, "\r%s", line)
		} else {
			fmt.Fprintln(d.Out, line)
		}
	}})
	if d.TTY {
		fmt.Fprint(d.Out, "\r\x1b[K")
	}
	d.say("  %-9s %s", name, r)
	return r
}

func bar(el, total time.Duration) string {
	n := int(10 * el / total)
	n = max(0, min(10, n))
	return "[" + strings.Repeat("#", n) + strings.Repeat(" ", 10-n) + "]"
}
