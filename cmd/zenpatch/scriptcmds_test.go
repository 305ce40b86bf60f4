package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recordT is a testscript.T that records a script's failure instead of
// failing the test, so that a test can check that a script fails.
type recordT struct {
	mu     sync.Mutex
	failed bool
	log    strings.Builder
}

func (t *recordT) Skip(a ...any) { runtime.Goexit() }
func (t *recordT) Fatal(a ...any) {
	t.Log(a...)
	t.FailNow()
}
func (t *recordT) Parallel() {}
func (t *recordT) Log(a ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fmt.Fprintln(&t.log, a...)
}
func (t *recordT) FailNow() {
	t.mu.Lock()
	t.failed = true
	t.mu.Unlock()
	runtime.Goexit()
}
func (t *recordT) Run(_ string, f func(testscript.T)) {
	done := make(chan struct{})
	go func() { defer close(done); f(t) }()
	<-done
}
func (t *recordT) Verbose() bool { return false }

// The custom commands check their arguments and honour "!" (or refuse it
// where the opposite means nothing): a script that misuses them fails.
func TestScriptCommandsRefuseMisuse(t *testing.T) {
	for name, c := range map[string]struct {
		script string
		fails  bool
		says   string
	}{
		"too many arguments":     {"fixture zenoss-4.2.5 z\nsnapshot z\nunchanged z extra\n", true, "usage: [!] unchanged DIR"},
		"too few arguments":      {"fixture zenoss-4.2.5\n", true, "usage: fixture NAME DIR"},
		"negating a setup":       {"! fixture zenoss-4.2.5 z\n", true, "fixture: cannot be negated"},
		"! unchanged, unchanged": {"fixture zenoss-4.2.5 z\nsnapshot z\n! unchanged z\n", true, "z did not change"},
		"! unchanged, changed":   {"fixture zenoss-4.2.5 z\nsnapshot z\nrm z/bin/zopectl\n! unchanged z\n", false, ""},
		"unchanged, changed":     {"fixture zenoss-4.2.5 z\nsnapshot z\nrm z/bin/zopectl\nunchanged z\n", true, "z changed"},
		"! shsyntax, good":       {"fixture zenoss-4.2.5 z\n! shsyntax z/bin/zopectl\n", true, "accepted"},
		"! shsyntax, bad":        {"! shsyntax bad.sh\n-- bad.sh --\nif then\n", false, ""},
		"! portfree, free port":  {"! portfree 0\n", true, "port 0 is free"},
		"negating foreign":       {"! foreign S x.pid\n", true, "foreign: cannot be negated"},
		"alive, not running":     {"alive 999999999\n", true, "pid 999999999 does not run"},
		"alive, running":         {"foreign S x.pid\nalive $S\n", false, ""},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "s.txtar")
			require.NoError(t, os.WriteFile(file, []byte(c.script), 0o644))
			rt := &recordT{}
			testscript.RunT(rt, testscript.Params{Files: []string{file}, Cmds: scriptCmds()})
			assert.Equal(t, c.fails, rt.failed, rt.log.String())
			assert.Contains(t, rt.log.String(), c.says)
		})
	}
}
