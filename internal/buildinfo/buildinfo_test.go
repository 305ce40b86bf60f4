package buildinfo

import (
	"encoding/json"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFromBuildInfo(t *testing.T) {
	const rev = "176d20a1b2c3d4e5f60718293a4b5c6d7e8f9012"
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{
			{Key: "-trimpath", Value: "true"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: rev},
			{Key: "vcs.time", Value: "2026-11-28T12:00:00Z"},
			{Key: "vcs.modified", Value: modified},
		}
	}
	tests := []struct {
		name    string
		linked  string
		bi      *debug.BuildInfo
		want    Info
		oneLine string
	}{
		{
			name:    "release build: linked version, clean checkout",
			linked:  "1.2.3",
			bi:      &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")},
			want:    Info{Version: "1.2.3", Commit: rev, GoVersion: "go1.26.8"},
			oneLine: "zenpatch 1.2.3 (commit 176d20a1b2c3, go1.26.8)",
		},
		{
			name:    "linked version wins over the module version",
			linked:  "1.3.0-rc.1",
			bi:      &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: vcs(rev, "false")},
			want:    Info{Version: "1.3.0-rc.1", Commit: rev, GoVersion: "go1.26.8"},
			oneLine: "zenpatch 1.3.0-rc.1 (commit 176d20a1b2c3, go1.26.8)",
		},
		{
			name:    "uncommitted changes",
			linked:  "1.2.3",
			bi:      &debug.BuildInfo{GoVersion: "go1.26.8", Settings: vcs(rev, "true")},
			want:    Info{Version: "1.2.3", Commit: rev, Modified: true, GoVersion: "go1.26.8"},
			oneLine: "zenpatch 1.2.3 (commit 176d20a1b2c3, modified, go1.26.8)",
		},
		{
			name:    "go install module@v1.2.3: the module version, no vcs",
			bi:      &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/zenpatch/zenpatch", Version: "v1.2.3"}},
			want:    Info{Version: "1.2.3", Commit: Unknown, GoVersion: "go1.26.8"},
			oneLine: "zenpatch 1.2.3 (commit unknown, go1.26.8)",
		},
		{
			name:    "go build in a checkout off a tag: pseudo-version means dev",
			bi:      &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v0.0.0-20261128120000-176d20a1b2c3+dirty"}, Settings: vcs(rev, "true")},
			want:    Info{Version: Dev, Commit: rev, Modified: true, GoVersion: "go1.26.8"},
			oneLine: "zenpatch dev (commit 176d20a1b2c3, modified, go1.26.8)",
		},
		{
			name:    "go run: (devel), no vcs settings",
			bi:      &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}},
			want:    Info{Version: Dev, Commit: Unknown, GoVersion: "go1.26.8"},
			oneLine: "zenpatch dev (commit unknown, go1.26.8)",
		},
		{
			name:    "empty revision counts as unknown",
			bi:      &debug.BuildInfo{GoVersion: "go1.26.8", Settings: vcs("", "false")},
			want:    Info{Version: Dev, Commit: Unknown, GoVersion: "go1.26.8"},
			oneLine: "zenpatch dev (commit unknown, go1.26.8)",
		},
		{
			name:    "no build information at all: the runtime's Go version",
			linked:  "1.2.3",
			want:    Info{Version: "1.2.3", Commit: Unknown, GoVersion: runtime.Version()},
			oneLine: "zenpatch 1.2.3 (commit unknown, " + runtime.Version() + ")",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fromBuildInfo(tt.linked, tt.bi)
			assert.Equal(t, tt.want, got)
			assert.Equal(t, tt.oneLine, got.String())
		})
	}
}

func TestGetIsThisBinary(t *testing.T) {
	info := Get()
	assert.Equal(t, runtime.Version(), info.GoVersion)
	assert.NotEmpty(t, info.Version)
	assert.NotEmpty(t, info.Commit)
}

func TestJSONIsStable(t *testing.T) {
	b, err := json.Marshal(Info{Version: "1.2.3", Commit: "abc", Modified: true, GoVersion: "go1.26.8"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"version":"1.2.3","commit":"abc","modified":true,"go_version":"go1.26.8"}`, string(b))
}
