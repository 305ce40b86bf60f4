package main

import (
	"fmt"
	"regexp"
	"strings"
)

// Version is a release version in semantic-versioning form,
// MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD], as the binary prints it.
type Version struct {
	// Full is the whole version without a leading "v": "1.3.0-rc.1+4.g176d20a".
	Full string
	// Core is MAJOR.MINOR.PATCH: "1.3.0".
	Core string
	// Pre is the pre-release part without its "-": "rc.1", or "".
	Pre string
	// Build is the build metadata without its "+": "4.g176d20a", or "".
	Build string
}

// semver is the grammar of semver.org 2.0.0 (its suggested expression).
var semver = regexp.MustCompile(`^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)` +
	`(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?` +
	`(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$`)

// ParseVersion parses a release version; a leading "v" (a git tag's
// habit) is dropped.
func ParseVersion(s string) (Version, error) {
	full := strings.TrimPrefix(strings.TrimSpace(s), "v")
	m := semver.FindStringSubmatch(full)
	if m == nil {
		return Version{}, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] (semver.org)", s)
	}
	return Version{Full: full, Core: m[1] + "." + m[2] + "." + m[3], Pre: m[4], Build: m[5]}, nil
}

// RPM returns the RPM Version and Release tags. RPM forbids '-' in both,
// and rpm 4.8 (RHEL/CentOS 6) predates the '~' that newer rpm sorts before
// a release (rpm 4.10), so a pre-release is written the classic Fedora way,
// which every rpm orders correctly: Version is MAJOR.MINOR.PATCH and
// Release starts with "0." for a pre-release (0.rc.1 sorts before a
// release's 1), with the build metadata as a further segment (1.4.g176d20a
// sorts after the tag's 1):
//
//	1.2.3              1.2.3  1
//	1.3.0-rc.1         1.3.0  0.rc.1
//	1.2.3+4.g176d20a   1.2.3  1.4.g176d20a
//	0.0.0-dev+g176d20a 0.0.0  0.dev.g176d20a
//
// rpm compares release segments alphabetically or numerically, so
// pre-release names sort alpha < beta < rc and numbers as numbers.
func (v Version) RPM() (version, release string) {
	release = "1"
	if v.Pre != "" {
		release = "0." + v.Pre
	}
	if v.Build != "" {
		release += "." + v.Build
	}
	// '-' may appear inside identifiers; '_' is a separator to rpm as '.' is.
	return v.Core, strings.ReplaceAll(release, "-", "_")
}

// Deb returns the Debian upstream version and revision. Debian sorts '~'
// before anything, even the end of the string, so 1.3.0~rc.1 < 1.3.0, and
// '+' after it, so 1.2.3 < 1.2.3+4.g176d20a: semver's order carries over.
func (v Version) Deb() (upstream, revision string) {
	upstream = v.Core
	if v.Pre != "" {
		upstream += "~" + v.Pre
	}
	if v.Build != "" {
		upstream += "+" + v.Build
	}
	return upstream, "1"
}

// DevVersion is the version of a build from a checkout without tags, or
// outside git.
const DevVersion = "0.0.0-dev"

// describeSuffix is what git describe appends past a tag: -COMMITS-gHASH.
var describeSuffix = regexp.MustCompile(`^(.+)-(\d+)-g([0-9a-f]+)$`)

// hashOnly is git describe --always's answer when no tag is reachable.
var hashOnly = regexp.MustCompile(`^[0-9a-f]{4,40}$`)

// FromDescribe turns `git describe --tags --always` output into a version:
//
//	v1.2.3            1.2.3
//	v1.2.3-4-g176d20a 1.2.3+4.g176d20a    (4 commits past the tag)
//	176d20a           0.0.0-dev+g176d20a  (no tag)
//
// A tag that is not a semantic version is an error: pass --version.
func FromDescribe(out string) (Version, error) {
	out = strings.TrimSpace(out)
	if hashOnly.MatchString(out) {
		return ParseVersion(DevVersion + "+g" + out)
	}
	tag, extra := out, ""
	if m := describeSuffix.FindStringSubmatch(out); m != nil {
		tag, extra = m[1], m[2]+".g"+m[3]
	}
	v, err := ParseVersion(tag)
	if err != nil {
		return Version{}, fmt.Errorf("git tag %q: %w", tag, err)
	}
	if extra == "" {
		return v, nil
	}
	if v.Build != "" {
		extra = v.Build + "." + extra
	}
	return ParseVersion(strings.SplitN(v.Full, "+", 2)[0] + "+" + extra)
}
