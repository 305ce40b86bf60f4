package balancer

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeKernel keeps one RLIMIT_NOFILE and counts the calls made on it.
type fakeKernel struct {
	lim        syscall.Rlimit
	noPrlimit  bool  // prlimit64 fails with ENOSYS (Linux < 2.6.36)
	setErr     error // every set fails with this
	getErr     error // every get fails with this
	sets, olds int
}

func (k *fakeKernel) calls() nofileCalls {
	get := func(l *syscall.Rlimit) error {
		if k.getErr != nil {
			return k.getErr
		}
		*l = k.lim
		return nil
	}
	set := func(l *syscall.Rlimit) error {
		if k.setErr != nil {
			return k.setErr
		}
		k.lim = *l
		return nil
	}
	return nofileCalls{
		get: func(l *syscall.Rlimit) error {
			if k.noPrlimit {
				return syscall.ENOSYS
			}
			return get(l)
		},
		set: func(l *syscall.Rlimit) error {
			if k.noPrlimit {
				return syscall.ENOSYS
			}
			k.sets++
			return set(l)
		},
		oldGet: get,
		oldSet: func(l *syscall.Rlimit) error { k.olds++; return set(l) },
	}
}

func TestRaiseOpenFiles(t *testing.T) {
	for _, tc := range []struct {
		name       string
		k          fakeKernel
		want       uint64
		err        string
		sets, olds int
	}{
		{"prlimit64 raises", fakeKernel{lim: syscall.Rlimit{Cur: 1024, Max: 65536}}, 65536, "", 1, 0},
		{"no prlimit64: setrlimit raises", fakeKernel{lim: syscall.Rlimit{Cur: 1024, Max: 65536}, noPrlimit: true}, 65536, "", 0, 1},
		{"already at the hard limit", fakeKernel{lim: syscall.Rlimit{Cur: 4096, Max: 4096}}, 4096, "", 0, 0},
		{"Go's own raise (hard-1) is topped up", fakeKernel{lim: syscall.Rlimit{Cur: 65535, Max: 65536}}, 65536, "", 1, 0},
		{"set refused: the old limit, and why", fakeKernel{lim: syscall.Rlimit{Cur: 1024, Max: 65536}, setErr: syscall.EPERM}, 1024, "setrlimit(RLIMIT_NOFILE, 65536): operation not permitted", 1, 0},
		{"get fails", fakeKernel{getErr: syscall.EFAULT}, 0, "getrlimit(RLIMIT_NOFILE): bad address", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := tc.k
			got, err := k.calls().raise()
			if tc.err != "" {
				assert.EqualError(t, err, tc.err)
			} else {
				assert.NoError(t, err)
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.sets, k.sets, "prlimit64 sets")
			assert.Equal(t, tc.olds, k.olds, "setrlimit sets")
		})
	}
}

// TestOldGetrlimit: the fallback reads what prlimit64 reads.
func TestOldGetrlimit(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the fallback is for linux/amd64")
	}
	var viaPrlimit, viaOld syscall.Rlimit
	require.NoError(t, syscall.Getrlimit(syscall.RLIMIT_NOFILE, &viaPrlimit))
	require.NoError(t, oldGetNofile(&viaOld))
	assert.Equal(t, viaPrlimit, viaOld)
}

const helperEnv = "ZENPATCH_RLIMIT_HELPER"

// TestRaiseHelperProcess is not a test: the tests below run the test binary
// with helperEnv set to run it as a process of their own (its limits are
// then its own to change). It prints "start=SOFT nofile=SOFT hard=HARD".
func TestRaiseHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process")
	}
	var start syscall.Rlimit
	c := systemNofile()
	if mode == "no-prlimit" {
		c.get = func(*syscall.Rlimit) error { return syscall.ENOSYS }
		c.set = func(*syscall.Rlimit) error { return syscall.ENOSYS }
	}
	require.NoError(t, oldGetNofile(&start))
	n, err := c.raise()
	require.NoError(t, err)
	os.Stdout.WriteString("start=" + strconv.FormatUint(start.Cur, 10) + " nofile=" + strconv.FormatUint(n, 10) + " hard=" + strconv.FormatUint(start.Max, 10) + "\n")
}

// helper runs TestRaiseHelperProcess as CMD... under `ulimit -Sn 256`.
func helper(t *testing.T, mode string, cmd ...string) (start, nofile, hard string) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		t.Skip("the fallback is for linux/amd64")
	}
	args := append([]string{"-c", `ulimit -Sn 256 && exec "$@"`, "sh"}, cmd...)
	args = append(args, os.Args[0], "-test.run=^TestRaiseHelperProcess$", "-test.count=1")
	c := exec.Command("sh", args...)
	c.Env = append(os.Environ(), helperEnv+"="+mode)
	out, err := c.CombinedOutput()
	require.NoError(t, err, string(out))
	for _, f := range strings.Fields(string(out)) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "start":
			start = v
		case "nofile":
			nofile = v
		case "hard":
			hard = v
		}
	}
	require.NotEmpty(t, nofile, "helper output: %s", out)
	return start, nofile, hard
}

// TestRaiseFallbackReal: with prlimit64 made to fail, the real setrlimit
// raises the limit.
func TestRaiseFallbackReal(t *testing.T) {
	_, nofile, hard := helper(t, "no-prlimit")
	assert.Equal(t, hard, nofile)
}

// TestRaiseUnderOldKernelModel runs the helper under internal/oldkernel's
// 2.6.32 model (built here), where prlimit64 itself fails with ENOSYS: Go's
// own raise at start does not happen (start=256), and RaiseOpenFileLimit's
// fallback does.
func TestRaiseUnderOldKernelModel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds internal/oldkernel")
	}
	h := filepath.Join(t.TempDir(), "oldkernel")
	out, err := exec.Command("go", "build", "-o", h, "../oldkernel").CombinedOutput()
	require.NoError(t, err, string(out))
	start, nofile, hard := helper(t, "real", h, "--kernel", "2.6.32", "--")
	assert.Equal(t, "256", start, "under the model Go's runtime cannot raise the limit at start")
	assert.Equal(t, hard, nofile)
}
