package hook

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runuserEL6 behaves like coreutils' su-style runuser (EL5/EL6): it has no
// -u, takes [-s SHELL] [-m|-p] [-] USER [-c CMD], and runs CMD with the
// shell, here as the current user; the user it was given goes to
// $RUNUSER_AS so the test can check it.
const runuserEL6 = `#!/bin/sh
shell=/bin/sh cmd= user=
while [ $# -gt 0 ]; do
	case "$1" in
	-u*) echo "runuser: invalid option -- 'u'" >&2; exit 1 ;;
	-s) shell=$2; shift 2 ;;
	-c) cmd=$2; shift 2 ;;
	-m|-p|-) shift ;;
	-*) echo "runuser: unexpected option $1" >&2; exit 1 ;;
	*) [ -z "$user" ] || { echo "runuser: unexpected argument $1" >&2; exit 1; }; user=$1; shift ;;
	esac
done
[ -n "$user" ] || { echo "runuser: no user" >&2; exit 1; }
RUNUSER_AS=$user exec "$shell" -c "$cmd"
`

// argvStub prints $ZENPATCH, $RUNUSER_AS and its arguments, each ended by
// NUL, to $ARGV_OUT.
const argvStub = `#!/bin/sh
printf '%s\0' "ZENPATCH=$ZENPATCH" "RUNUSER_AS=$RUNUSER_AS" "$@" >"$ARGV_OUT"
`

// shellRig is a directory with the runuser stub and an empty working
// directory in which nothing may appear.
type shellRig struct {
	bin, work, out string
}

func newShellRig(t *testing.T) *shellRig {
	t.Helper()
	dir := t.TempDir()
	r := &shellRig{bin: filepath.Join(dir, "bin"), work: filepath.Join(dir, "work"), out: filepath.Join(dir, "argv")}
	require.NoError(t, os.Mkdir(r.bin, 0o755))
	require.NoError(t, os.Mkdir(r.work, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(r.bin, "runuser"), []byte(runuserEL6), 0o755))
	// A file to glob on: an unquoted * or ? would change the argv.
	require.NoError(t, os.WriteFile(filepath.Join(r.work, "canary"), nil, 0o644))
	return r
}

// run runs command with sh -c as the plugins do and returns the argv the
// stub at o.Zenpatch saw.
func (r *shellRig) run(t *testing.T, command string) []string {
	t.Helper()
	_ = os.Remove(r.out)
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("/bin/sh", "-c", command)
	cmd.Dir = r.work
	cmd.Env = []string{"PATH=" + r.bin + ":/usr/bin:/bin", "ARGV_OUT=" + r.out}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	require.NoError(t, err, "command %s\nstderr: %s", command, stderr.String())
	assert.Empty(t, stdout.String(), "command %s", command)
	assert.Empty(t, stderr.String(), "command %s", command)
	ents, err := os.ReadDir(r.work)
	require.NoError(t, err)
	require.Len(t, ents, 1, "nothing but the canary in the working directory after %s", command)
	b, err := os.ReadFile(r.out)
	require.NoError(t, err, "the stub did not run: %s", command)
	return strings.Split(strings.TrimSuffix(string(b), "\x00"), "\x00")
}

// pieces are what the random values are made of: ordinary text, every sh
// metacharacter, injection attempts, and the characters that are refused.
var pieces = []string{
	"a", "Z", "9", "zenoss", "opt", " ", "  ", "'", `"`, ";", "&", "|", "<", ">", "(", ")", "`", "*", "?", "[", "]",
	"{", "}", "~", "#", "!", "=", "%", "^", ",", ".", "-", "_", "@", "+", "'\"'\"'", ";touch pwned;#",
	"`touch pwned`", "&& touch pwned", "' ; touch pwned ; '", "\"; touch pwned; \"", ">pwned", "|tee pwned",
	// refused:
	":", "$", "$(touch pwned)", "${name}", `\`, "\n", "\t", "é", "\x7f",
}

func randomValue(rng *rand.Rand, maxPieces int) string {
	var b strings.Builder
	for n := 1 + rng.IntN(maxPieces); n > 0; n-- {
		p := pieces[rng.IntN(len(pieces))]
		// Refused pieces are rarer, so most cases reach the shell.
		if strings.ContainsAny(p, ":$\\\n\t\x7fé") && rng.IntN(4) != 0 {
			continue
		}
		b.WriteString(p)
	}
	return b.String()
}

// TestCommandRunsExactArgv is the property the quoting exists for: for
// random ZENHOME, user and binary path, the command either is refused
// (exactly when a value holds a character an action line cannot carry) or,
// run by sh -c through an EL6-style runuser, hands the binary exactly the
// intended arguments and runs nothing else.
func TestCommandRunsExactArgv(t *testing.T) {
	rig := newShellRig(t)
	rng := rand.New(rand.NewPCG(14, uint64(os.Getpid())))
	ran, refused := 0, 0
	for i := 0; i < 300; i++ {
		// The binary must exist: a random name in a directory of its own.
		binDir := filepath.Join(t.TempDir(), "d")
		name := strings.ReplaceAll(randomValue(rng, 4), "/", "_")
		if name == "" || name == "." || name == ".." {
			name = "x" + name
		}
		o := Options{
			Zenpatch: filepath.Join(binDir, name),
			Zenhome:  "/" + randomValue(rng, 6),
			User:     randomValue(rng, 3),
		}
		if i%10 == 0 {
			o.User = "root"
		}
		wantErr := errors.Join(Check("--zenpatch", o.Zenpatch), Check("ZENHOME", o.Zenhome))
		if !o.asRoot() {
			wantErr = errors.Join(wantErr, Check("--user", o.User))
			if strings.HasPrefix(o.User, "-") {
				wantErr = errors.Join(wantErr, errors.New("leading -"))
			}
		}
		cmd, err := Command(o)
		if wantErr != nil {
			var ue *UnsafeError
			require.ErrorAs(t, err, &ue, "%+v", o)
			refused++
			continue
		}
		require.NoError(t, err, "%+v", o)
		assertPluginSafe(t, cmd)
		require.NoError(t, os.MkdirAll(binDir, 0o755))
		require.NoError(t, os.WriteFile(o.Zenpatch, []byte(argvStub), 0o755))
		got := rig.run(t, cmd)
		wantUser := o.User
		if o.asRoot() {
			wantUser = ""
		}
		assert.Equal(t, []string{"ZENPATCH=" + o.Zenpatch, "RUNUSER_AS=" + wantUser, "upgrade", "--zenhome", o.Zenhome}, got, "command %s", cmd)
		ran++
	}
	t.Logf("%d commands run, %d refused", ran, refused)
	assert.Greater(t, ran, 150)
	assert.Greater(t, refused, 10)
}

// assertPluginSafe checks a command survives both plugins unchanged: no ':'
// (yum splits there), no '$' (both substitute), no '\' (dnf drops it), one
// line of printable ASCII.
func assertPluginSafe(t *testing.T, cmd string) {
	t.Helper()
	for i := 0; i < len(cmd); i++ {
		c := cmd[i]
		require.False(t, c == ':' || c == '$' || c == '\\' || c < 0x20 || c > 0x7e, "command %q has %q at %d", cmd, c, i)
	}
	line := "zenoss:update:" + cmd
	require.Len(t, strings.Split(line, ":"), 3)
}

// FuzzCommand: for any values, Command either refuses them with an
// UnsafeError or writes a command that survives the plugins and whose sh
// words are exactly the intended ones (and, under runuser, whose -c string
// is in turn exactly the intended words).
func FuzzCommand(f *testing.F) {
	f.Add("/usr/local/bin/zenpatch", "/opt/zenoss", "zenoss")
	f.Add("/z", "/opt/zh;touch X;#", "root")
	f.Add("/a b/it's", `/opt/"q" 'x'`, "o'brien")
	f.Add("/z", "/opt/zen:oss", "")
	f.Fuzz(func(t *testing.T, bin, home, user string) {
		o := Options{Zenpatch: bin, Zenhome: home, User: user}
		cmd, err := Command(o)
		if err != nil {
			var ue *UnsafeError
			if errors.As(err, &ue) {
				return
			}
			require.True(t, !strings.HasPrefix(bin, "/") || !strings.HasPrefix(home, "/"), "unexpected error %v", err)
			return
		}
		assertPluginSafe(t, cmd)
		inner := cmd
		if !o.asRoot() {
			words, ok := shWords(cmd)
			require.True(t, ok, "%s", cmd)
			require.Len(t, words, 6, "%s", cmd)
			require.Equal(t, []string{"runuser", "-s", "/bin/sh", user, "-c"}, words[:5])
			inner = words[5]
		}
		words, ok := shWords(inner)
		require.True(t, ok, "%s", inner)
		require.True(t, ownCommand(cmd), "zenpatch knows its own command again: %s", cmd)
		require.Equal(t, []string{"ZENPATCH=" + bin, bin, "upgrade", "--zenhome", home}, words)
	})
}
