// Package buildinfo says which zenpatch is running: the release version the
// packager set at link time, and the commit and Go version the go command
// recorded in the binary.
package buildinfo

import (
	"fmt"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version is zenpatch's release version. It is empty in the source and set
// only by the linker, when a release is built:
//
//	go build -ldflags "-X github.com/zenpatch/zenpatch/internal/buildinfo.Version=1.2.3" ./cmd/zenpatch
//
// (go run ./internal/release does this). Left empty, Get falls back to the
// module version the go command recorded (go install …@v1.2.3), else "dev".
var Version string

// Unknown stands for a commit the binary does not record (built outside a
// git checkout, with -buildvcs=false, or by go run).
const Unknown = "unknown"

// Dev is the version of a binary built without one.
const Dev = "dev"

// Info is what zenpatch knows of its own build; its JSON form is stable.
type Info struct {
	// Version is the release version, e.g. "1.2.3" or "1.3.0-rc.1", or Dev.
	Version string `json:"version"`
	// Commit is the full git commit the binary was built from, or Unknown.
	Commit string `json:"commit"`
	// Modified is true when the work tree had uncommitted changes.
	Modified bool `json:"modified"`
	// GoVersion is the Go toolchain that built the binary, e.g. "go1.26.8".
	GoVersion string `json:"go_version"`
}

// Get returns the running binary's Info.
func Get() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		bi = nil
	}
	return fromBuildInfo(Version, bi)
}

// pseudoVersion matches the tail of a Go pseudo-version
// (v0.0.0-20261128120000-176d20a1b2c3, optionally +dirty): the go command
// stamps one on every build from a checkout that is not at a tag. The commit
// says more than it, so such a build is reported as Dev.
var pseudoVersion = regexp.MustCompile(`\d{14}-[0-9a-f]{12}(\+dirty)?$`)

// fromBuildInfo makes the Info from the link-time version and the build
// information (nil when the binary has none).
func fromBuildInfo(version string, bi *debug.BuildInfo) Info {
	info := Info{Version: version, Commit: Unknown, GoVersion: runtime.Version()}
	if bi == nil {
		if info.Version == "" {
			info.Version = Dev
		}
		return info
	}
	if bi.GoVersion != "" {
		info.GoVersion = bi.GoVersion
	}
	if info.Version == "" {
		if v := bi.Main.Version; v != "" && v != "(devel)" && !pseudoVersion.MatchString(v) {
			info.Version = strings.TrimPrefix(v, "v")
		} else {
			info.Version = Dev
		}
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			if s.Value != "" {
				info.Commit = s.Value
			}
		case "vcs.modified":
			info.Modified = s.Value == "true"
		}
	}
	return info
}

// ShortCommit is the commit's first 12 hex digits (git's own short form is
// ambiguous in large repositories below that), or Unknown.
func (i Info) ShortCommit() string {
	if len(i.Commit) > 12 && i.Commit != Unknown {
		return i.Commit[:12]
	}
	return i.Commit
}

// String is the one-line form `zenpatch version` prints:
//
//	zenpatch 1.2.3 (commit abcdef123456, go1.26.8)
//	zenpatch dev (commit abcdef123456, modified, go1.26.8)
//	zenpatch dev (commit unknown, go1.26.8)
func (i Info) String() string {
	modified := ""
	if i.Modified {
		modified = ", modified"
	}
	return fmt.Sprintf("zenpatch %s (commit %s%s, %s)", i.Version, i.ShortCommit(), modified, i.GoVersion)
}
