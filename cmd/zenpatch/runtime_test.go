package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTunedEnviron(t *testing.T) {
	base := []string{"PATH=/bin", "HOME=/root"}
	got := tunedEnviron([]string{"zenpatch", "balance", "--zenhome", "/z"}, base)
	assert.Equal(t, []string{"PATH=/bin", "HOME=/root", "GODEBUG=" + sysmonAwake, runtimeEnv + "=tuned"}, got)
	assert.Equal(t, []string{"PATH=/bin", "HOME=/root"}, base, "the caller's slice is not modified")

	// An existing GODEBUG is kept and extended.
	got = tunedEnviron([]string{"zenpatch", "balance"}, []string{"GODEBUG=gctrace=1"})
	assert.Equal(t, []string{"GODEBUG=gctrace=1," + sysmonAwake, runtimeEnv + "=tuned"}, got)

	for name, c := range map[string]struct{ args, env []string }{
		"other command":         {[]string{"zenpatch", "status"}, base},
		"no command":            {[]string{"zenpatch"}, base},
		"already tuned":         {[]string{"zenpatch", "balance"}, []string{runtimeEnv + "=tuned"}},
		"turned off":            {[]string{"zenpatch", "balance"}, []string{runtimeEnv + "=off"}},
		"user's own schedtrace": {[]string{"zenpatch", "balance"}, []string{"GODEBUG=gctrace=1, schedtrace=1000"}},
	} {
		assert.Nil(t, tunedEnviron(c.args, c.env), name)
	}
}
