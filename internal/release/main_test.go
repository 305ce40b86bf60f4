package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zenpatch/zenpatch/internal/fixture"
)

// testVersion is linked into the binary the tests build.
const testVersion = "9.8.7-rc.1"

var (
	binOnce sync.Once
	testBin string
	binErr  error
)

// testBinary builds zenpatch once for the package's tests, as the release
// builds it.
func testBinary(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the release binary is linux/amd64")
	}
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "release-test-")
		if err != nil {
			binErr = err
			return
		}
		testBin = filepath.Join(dir, "zenpatch")
		binErr = BuildBinary(context.Background(), fixture.Root(), testVersion, "linux", "amd64", testBin)
	})
	require.NoError(t, binErr)
	return testBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testBin != "" {
		os.RemoveAll(filepath.Dir(testBin))
	}
	os.Exit(code)
}

func TestBinaryIsStaticAndVersioned(t *testing.T) {
	bin := testBinary(t)
	require.NoError(t, CheckStatic(bin))
	out, err := exec.Command(bin, "version").Output()
	require.NoError(t, err)
	assert.Regexp(t, `^zenpatch 9\.8\.7-rc\.1 \(commit ([0-9a-f]{12}|unknown)(, modified)?, go1\.[0-9.]+\)\n$`, string(out))
	_, _, goVersion, err := Recorded(bin)
	require.NoError(t, err)
	assert.Equal(t, runtime.Version(), goVersion)
}

func TestCheckStaticRefusesDynamic(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("linux ELF")
	}
	sh, err := exec.LookPath("sh") // a dynamically linked system program
	require.NoError(t, err)
	err = CheckStatic(sh)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "dynamically linked")
}

func TestRunRefusesBadInput(t *testing.T) {
	tests := []struct {
		args       []string
		err, hint  string
		wantStdout string
	}{
		{args: []string{"--version", "1.2"}, err: `release: error: --version: version "1.2" is not MAJOR.MINOR.PATCH`, hint: "release: hint: e.g. --version 1.2.3"},
		{args: []string{"--bogus"}, err: "release: error: unknown flag: --bogus", hint: "release: hint: see 'go run ./internal/release --help'"},
		{args: []string{"extra"}, err: `release: error: unexpected arguments ["extra"]`},
		{args: []string{"--version", "1.2.3", "--out", "/dev/null/x"}, err: "release: error: --out: mkdir /dev/null", hint: "release: hint: name a directory"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out := t.TempDir()
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), append([]string{"--out", out}, tt.args...), &stdout, &stderr, func(string) string { return "" })
			assert.Equal(t, 1, code)
			assert.Contains(t, stderr.String(), tt.err)
			assert.Contains(t, stderr.String(), tt.hint)
			entries, err := os.ReadDir(out)
			require.NoError(t, err)
			assert.Empty(t, entries, "nothing written on bad input")
		})
	}
}

func TestRunHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"--help"}, &stdout, &stderr, os.Getenv)
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout.String(), "Usage: go run ./internal/release")
	assert.Contains(t, stdout.String(), "--version VERSION")
	assert.Equal(t, 1, strings.Count(stdout.String(), "Usage:"), "printed once")
	assert.Empty(t, stderr.String())
}

// TestRelease runs the whole release into a temporary directory and checks
// the files it writes; internal/release/check.sh checks them further with
// rpm and dpkg.
func TestRelease(t *testing.T) {
	testBinary(t) // warms the build cache, and skips off linux/amd64
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"--version", "1.3.0-rc.1", "--out", out}, &stdout, &stderr,
		func(k string) string {
			if k == "SOURCE_DATE_EPOCH" {
				return "1790000000"
			}
			return ""
		})
	require.Equal(t, 0, code, "stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())

	names := []string{"zenpatch-1.3.0-rc.1-linux-amd64", "zenpatch-1.3.0-0.rc.1.x86_64.rpm", "zenpatch_1.3.0~rc.1-1_amd64.deb", "zenpatch-1.3.0-rc.1.sha256"}
	var got []string
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	for _, e := range entries {
		got = append(got, e.Name())
	}
	assert.ElementsMatch(t, names, got, "no temporary files left")
	for _, n := range names {
		assert.Contains(t, stdout.String(), n)
	}

	bin := filepath.Join(out, names[0])
	fi, err := os.Stat(bin)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o755), fi.Mode().Perm())
	v, err := exec.Command(bin, "version").Output()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(v), "zenpatch 1.3.0-rc.1 (commit "), string(v))

	if _, err := exec.LookPath("sha256sum"); err == nil {
		cmd := exec.Command("sha256sum", "-c", names[3])
		cmd.Dir = out
		o, err := cmd.CombinedOutput()
		require.NoError(t, err, string(o))
	}
	if _, err := exec.LookPath("rpm"); err == nil {
		rpmFile := filepath.Join(out, names[1])
		o, err := exec.Command("rpm", "-qp", "--qf", "%{NAME} %{VERSION} %{RELEASE} %{ARCH} %{PAYLOADCOMPRESSOR} %{BUILDTIME}\n", rpmFile).Output()
		require.NoError(t, err)
		assert.Equal(t, "zenpatch 1.3.0 0.rc.1 x86_64 gzip 1790000000\n", string(o))
		o, err = exec.Command("rpm", "-qpl", rpmFile).Output()
		require.NoError(t, err)
		assert.Equal(t, "/etc/bash_completion.d/zenpatch\n/usr/bin/zenpatch\n/usr/share/doc/zenpatch\n/usr/share/doc/zenpatch/README.md\n/usr/share/man/man1/zenpatch.1.gz\n", string(o))
		o, err = exec.Command("rpm", "-Kv", rpmFile).CombinedOutput()
		require.NoError(t, err, string(o))
		for _, d := range []string{"Header SHA1 digest: OK", "MD5 digest: OK", "Header SHA256 digest: OK", "Payload SHA256 digest: OK"} {
			assert.Contains(t, string(o), d)
		}
	}
	if _, err := exec.LookPath("dpkg-deb"); err == nil {
		debFile := filepath.Join(out, names[2])
		day := time.Unix(1790000000, 0).Local().Format("2006-01-02") // dpkg-deb shows local time
		o, err := exec.Command("dpkg-deb", "-f", debFile, "Package", "Version", "Architecture").Output()
		require.NoError(t, err)
		assert.Equal(t, "Package: zenpatch\nVersion: 1.3.0~rc.1-1\nArchitecture: amd64\n", string(o))
		o, err = exec.Command("dpkg-deb", "-c", debFile).Output()
		require.NoError(t, err)
		for _, p := range []string{"./usr/bin/zenpatch", "./usr/share/doc/zenpatch/README.md", "./usr/share/man/man1/zenpatch.1.gz", "./usr/share/bash-completion/completions/zenpatch"} {
			assert.Regexp(t, `root/root .* `+day+` [0-9:]+ `+strings.ReplaceAll(p, ".", `\.`)+"\n", string(o))
		}
	}
}
