// Command release builds zenpatch's release files for linux/amd64 in one
// step, with nothing but Go (and git, for the version and commit):
//
//	go run ./internal/release [--version X.Y.Z] [--out DIR]
//
// It writes to DIR (default dist/ in the repository):
//
//	zenpatch-X.Y.Z-linux-amd64      the static binary
//	zenpatch-X.Y.Z-1.x86_64.rpm     for RHEL/CentOS 6 and 7 (and later)
//	zenpatch_X.Y.Z-1_amd64.deb      for Debian and Ubuntu
//	zenpatch-X.Y.Z.sha256           their SHA-256 sums (sha256sum -c)
//
// Both packages hold /usr/bin/zenpatch, the README under
// /usr/share/doc/zenpatch, the man page zenpatch(1) and bash completion,
// the last two generated from the fresh binary's own help. The packages
// are made with nfpm (github.com/goreleaser/nfpm) as a library.
// internal/release/check.sh checks them with rpm, rpm2cpio and dpkg.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}

// hinted is an error with the next step for the user.
type hinted struct {
	err  error
	hint string
}

func (h *hinted) Error() string { return h.err.Error() }
func (h *hinted) Unwrap() error { return h.err }

func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	err := release(ctx, args, stdout, getenv)
	if err == nil {
		return 0
	}
	if errors.Is(err, pflag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "release: error: %v\n", err)
	var h *hinted
	if errors.As(err, &h) && h.hint != "" {
		fmt.Fprintf(stderr, "release: hint: %s\n", h.hint)
	}
	return 1
}

// options are the command line's.
type options struct {
	version    string
	out        string
	maintainer string
}

func parseArgs(args []string, stdout io.Writer) (options, error) {
	var o options
	fs := pflag.NewFlagSet("release", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.StringVar(&o.version, "version", "", "release `VERSION`, MAJOR.MINOR.PATCH[-PRE][+BUILD] (default: from git describe --tags --always, else "+DevVersion+")")
	fs.StringVar(&o.out, "out", "", "write the files to `DIR` (default: dist/ in the repository)")
	fs.StringVar(&o.maintainer, "maintainer", DefaultMaintainer, "the packages' Maintainer (deb) and Packager (rpm), `WHO`: \"Name <email>\"")
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: go run ./internal/release [--version X.Y.Z] [--out DIR]\n\n"+
			"Build zenpatch for linux/amd64: the static binary, an RPM (RHEL/CentOS 6 and 7)\n"+
			"and a .deb, with README, man page and bash completion.\n\nFlags:\n%s", fs.FlagUsages())
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) { // pflag has printed the usage
			return o, err
		}
		return o, &hinted{err, "see 'go run ./internal/release --help'"}
	}
	if fs.NArg() > 0 {
		return o, &hinted{fmt.Errorf("unexpected arguments %q", fs.Args()), "see 'go run ./internal/release --help'"}
	}
	return o, nil
}

func release(ctx context.Context, args []string, stdout io.Writer, getenv func(string) string) error {
	start := time.Now()
	o, err := parseArgs(args, stdout)
	if err != nil {
		return err
	}
	root, err := moduleRoot(ctx)
	if err != nil {
		return &hinted{err, "run it from a zenpatch checkout: go run ./internal/release"}
	}

	var v Version
	if o.version != "" {
		if v, err = ParseVersion(o.version); err != nil {
			return &hinted{fmt.Errorf("--version: %w", err), "e.g. --version 1.2.3 or --version 1.3.0-rc.1"}
		}
	} else if d := describe(ctx, root); d == "" {
		v, _ = ParseVersion(DevVersion)
	} else if v, err = FromDescribe(d); err != nil {
		return &hinted{err, "name the version with --version X.Y.Z"}
	}

	out := o.out
	if out == "" {
		out = filepath.Join(root, "dist")
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return &hinted{fmt.Errorf("--out: %w", err), "name a directory, or leave --out out for dist/"}
	}
	stage, err := os.MkdirTemp("", "zenpatch-release-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(stage)

	mtime := buildTime(ctx, root, getenv)
	fmt.Fprintf(stdout, "release: zenpatch %s for linux/amd64\n", v.Full)

	// The binary.
	bin := filepath.Join(stage, "zenpatch")
	if err := BuildBinary(ctx, root, v.Full, "linux", "amd64", bin); err != nil {
		return err
	}
	if err := CheckStatic(bin); err != nil {
		return err
	}
	commit, modified, goVersion, err := Recorded(bin)
	if err != nil {
		return err
	}
	switch {
	case commit == "":
		fmt.Fprintln(stdout, "release: warning: the binary records no commit: go stamps it only in a git checkout whose .git is a directory (not a worktree); 'zenpatch version' will say \"commit unknown\"")
	case modified:
		fmt.Fprintf(stdout, "release: warning: built from commit %.12s with uncommitted changes; 'zenpatch version' will say \"modified\"\n", commit)
	}

	// The man page and completion, from the help of a binary this machine
	// can run: the release binary itself on linux/amd64.
	helpBin := bin
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		helpBin = filepath.Join(stage, "zenpatch-host")
		if err := BuildBinary(ctx, root, v.Full, runtime.GOOS, runtime.GOARCH, helpBin); err != nil {
			return err
		}
	}
	h, err := ReadHelp(ctx, helpBin)
	if err != nil {
		return err
	}
	s := Staged{
		Binary:     bin,
		README:     filepath.Join(root, "README.md"),
		ManPage:    filepath.Join(stage, "zenpatch.1.gz"),
		Completion: filepath.Join(stage, "zenpatch.bash"),
	}
	man, err := gzipBytes(ManPage(h, v.Full, mtime), mtime)
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.ManPage, man, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(s.Completion, Completion(h, v.Full), 0o644); err != nil {
		return err
	}

	// The files.
	binOut := filepath.Join(out, "zenpatch-"+v.Full+"-linux-amd64")
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(binOut, data, 0o755); err != nil {
		return err
	}
	p := PackageInfo{Version: v, Summary: h.Summary, Maintainer: o.maintainer, MTime: mtime}
	rpmOut, err := BuildRPM(p, s, out)
	if err != nil {
		return err
	}
	debOut, err := BuildDeb(p, s, out)
	if err != nil {
		return err
	}
	sums := filepath.Join(out, "zenpatch-"+v.Full+".sha256")
	if err := writeSums(sums, binOut, rpmOut, debOut); err != nil {
		return err
	}

	rv, rr := v.RPM()
	du, dr := v.Deb()
	fmt.Fprintf(stdout, "release: %s, commit %s, rpm %s-%s, deb %s-%s\n", goVersion, shortCommit(commit, modified), rv, rr, du, dr)
	outs := []string{binOut, rpmOut, debOut, sums}
	width := 0
	for _, f := range outs {
		width = max(width, len(relTo(f)))
	}
	for _, f := range outs {
		fi, err := os.Stat(f)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  %-*s  %9s\n", width, relTo(f), humanSize(fi.Size()))
	}
	fmt.Fprintf(stdout, "release: done in %.1fs\n", time.Since(start).Seconds())
	return nil
}

// buildTime is the files' time: SOURCE_DATE_EPOCH (reproducible-builds.org)
// if set, else HEAD's commit time, else now; the same commit gives the same
// man page date and package file times.
func buildTime(ctx context.Context, root string, getenv func(string) string) time.Time {
	if s := getenv("SOURCE_DATE_EPOCH"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			return time.Unix(n, 0).UTC()
		}
	}
	if n := commitTime(ctx, root); n > 0 {
		return time.Unix(n, 0).UTC()
	}
	return time.Now().UTC().Truncate(time.Second)
}

func gzipBytes(data []byte, mtime time.Time) ([]byte, error) {
	var b bytes.Buffer
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	zw.ModTime = mtime
	zw.Name = "zenpatch.1"
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// writeSums writes files' SHA-256 sums in sha256sum's format, by base name.
func writeSums(path string, files ...string) error {
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%x  %s\n", sha256.Sum256(data), filepath.Base(f))
	}
	return writeFileAtomic(path, []byte(b.String()), 0o644)
}

func shortCommit(commit string, modified bool) string {
	if commit == "" {
		return "unknown"
	}
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if modified {
		commit += " (modified)"
	}
	return commit
}

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// relTo shows path relative to the working directory when it is below it.
func relTo(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}
