package install

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// Version is the installed Zenoss release and where it was read.
type Version struct {
	Version string `json:"version"`
	Build   string `json:"build,omitempty"`
	Source  string `json:"source"` // e.g. "Products/ZenModel/ZVersion.py:6", "rpm -q zenoss", "--version-override"
}

// VersionOptions are the fallbacks after ZVersion.py.
type VersionOptions struct {
	Override string // --version-override; wins over everything
	// RPM queries the package database for a package's version; nil means
	// no rpm on this machine.
	RPM func(pkg string) (string, error)
}

// HostRPM queries the real rpm, or returns nil when rpm is not installed.
func HostRPM() func(string) (string, error) {
	bin, err := exec.LookPath("rpm")
	if err != nil {
		return nil
	}
	return func(pkg string) (string, error) {
		// rpm may wait for its database lock (a yum transaction running
		// the hook holds it on some releases): never for long.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, bin, "-q", "--qf", "%{VERSION}", pkg).Output()
		if err != nil {
			return "", err
		}
		return strings.TrimSpace(string(out)), nil
	}
}

var (
	versionRe = regexp.MustCompile(`^\s*VERSION\s*=\s*(?:"([^"]*)"|'([^']*)')`)
	buildRe   = regexp.MustCompile(`^\s*BUILD_NUMBER\s*=\s*(?:"([^"]*)"|'([^']*)')`)
)

// ErrNoVersion says no source told the version.
var ErrNoVersion = errors.New("cannot tell the Zenoss version")

// DetectVersion reads the version: --version-override, else ZVersion.py,
// else the RPM database (zenoss, then zenoss-core).
func (i *Install) DetectVersion(opt VersionOptions) (Version, error) {
	if opt.Override != "" {
		return Version{Version: opt.Override, Source: "--version-override"}, nil
	}
	var tried []string
	data, err := i.ReadFile(VersionPath)
	switch {
	case err == nil:
		v, ok := ParseZVersion(data)
		if ok {
			return v, nil
		}
		tried = append(tried, VersionPath+" has no VERSION = \"x.y.z\" line")
	case isNotExist(err):
		tried = append(tried, VersionPath+": missing")
	default: // there but unreadable: say so rather than guess from elsewhere
		return Version{}, &VersionFileError{Err: err}
	}
	if opt.RPM != nil {
		for _, pkg := range []string{"zenoss", "zenoss-core"} {
			v, err := opt.RPM(pkg)
			if err == nil && v != "" && !strings.Contains(v, "not installed") {
				return Version{Version: v, Source: "rpm -q " + pkg}, nil
			}
		}
		tried = append(tried, "rpm knows no zenoss or zenoss-core package")
	} else {
		tried = append(tried, "no rpm on this machine")
	}
	return Version{}, fmt.Errorf("%w: %s", ErrNoVersion, strings.Join(tried, "; "))
}

// ParseZVersion finds VERSION (and BUILD_NUMBER) in ZVersion.py text.
// Source names the file and the 1-based line of VERSION.
func ParseZVersion(data []byte) (Version, bool) {
	var v Version
	found := false
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if m := versionRe.FindStringSubmatch(line); m != nil && !found {
			v.Version = m[1] + m[2]
			v.Source = fmt.Sprintf("%s:%d", VersionPath, n+1)
			found = v.Version != ""
		}
		if m := buildRe.FindStringSubmatch(line); m != nil {
			v.Build = m[1] + m[2]
		}
	}
	return v, found
}

// VersionFileError says ZVersion.py is there but cannot be read (its
// permissions, a FIFO, a symlink out of ZENHOME): an error of the install,
// not an unknown version.
type VersionFileError struct{ Err error }

// Error implements error.
func (e *VersionFileError) Error() string {
	return fmt.Sprintf("cannot read the Zenoss version: %v", e.Err)
}

// Unwrap returns the cause.
func (e *VersionFileError) Unwrap() error { return e.Err }

// Hint is the next step.
func (e *VersionFileError) Hint() string {
	var h interface{ Hint() string }
	if errors.As(e.Err, &h) {
		return h.Hint()
	}
	return "make " + VersionPath + " readable by the user running zenpatch (the install's owner, usually zenoss), or give the version with --version-override"
}
