package main

import (
	"os/exec"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in                string
		want              Version
		rpmVer, rpmRel    string
		debUp, debRev     string
		wantErrSubstrings string
	}{
		{in: "1.2.3", want: Version{Full: "1.2.3", Core: "1.2.3"}, rpmVer: "1.2.3", rpmRel: "1", debUp: "1.2.3", debRev: "1"},
		{in: "v1.2.3", want: Version{Full: "1.2.3", Core: "1.2.3"}, rpmVer: "1.2.3", rpmRel: "1", debUp: "1.2.3", debRev: "1"},
		{in: "1.3.0-rc.1", want: Version{Full: "1.3.0-rc.1", Core: "1.3.0", Pre: "rc.1"}, rpmVer: "1.3.0", rpmRel: "0.rc.1", debUp: "1.3.0~rc.1", debRev: "1"},
		{in: "1.3.0-beta-2", want: Version{Full: "1.3.0-beta-2", Core: "1.3.0", Pre: "beta-2"}, rpmVer: "1.3.0", rpmRel: "0.beta_2", debUp: "1.3.0~beta-2", debRev: "1"},
		{in: "1.2.3+4.g176d20a", want: Version{Full: "1.2.3+4.g176d20a", Core: "1.2.3", Build: "4.g176d20a"}, rpmVer: "1.2.3", rpmRel: "1.4.g176d20a", debUp: "1.2.3+4.g176d20a", debRev: "1"},
		{in: "0.0.0-dev+g176d20a", want: Version{Full: "0.0.0-dev+g176d20a", Core: "0.0.0", Pre: "dev", Build: "g176d20a"}, rpmVer: "0.0.0", rpmRel: "0.dev.g176d20a", debUp: "0.0.0~dev+g176d20a", debRev: "1"},
		{in: "1.2", wantErrSubstrings: "not MAJOR.MINOR.PATCH"},
		{in: "1.2.3-", wantErrSubstrings: "not MAJOR.MINOR.PATCH"},
		{in: "01.2.3", wantErrSubstrings: "not MAJOR.MINOR.PATCH"},
		{in: "1.2.3 rc1", wantErrSubstrings: "not MAJOR.MINOR.PATCH"},
		{in: "1.2.3-rc_1", wantErrSubstrings: "not MAJOR.MINOR.PATCH"},
		{in: "", wantErrSubstrings: "not MAJOR.MINOR.PATCH"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := ParseVersion(tt.in)
			if tt.wantErrSubstrings != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErrSubstrings)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, v)
			rv, rr := v.RPM()
			assert.Equal(t, tt.rpmVer, rv)
			assert.Equal(t, tt.rpmRel, rr)
			assert.NotContains(t, rv+rr, "-", "rpm forbids '-' in version and release")
			assert.NotContains(t, rv+rr, "~", "rpm 4.8 does not sort '~'")
			du, dr := v.Deb()
			assert.Equal(t, tt.debUp, du)
			assert.Equal(t, tt.debRev, dr)
		})
	}
}

func TestFromDescribe(t *testing.T) {
	tests := []struct{ in, want, err string }{
		{in: "v1.2.3", want: "1.2.3"},
		{in: "1.2.3\n", want: "1.2.3"},
		{in: "v1.2.3-4-g176d20a", want: "1.2.3+4.g176d20a"},
		{in: "v1.3.0-rc.1-12-g176d20a1", want: "1.3.0-rc.1+12.g176d20a1"},
		{in: "v1.2.3+meta-4-g176d20a", want: "1.2.3+meta.4.g176d20a"},
		{in: "176d20a", want: "0.0.0-dev+g176d20a"},
		{in: "release-5", err: `git tag "release-5"`},
		{in: "v2-1-gabcdef0", err: `git tag "v2"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := FromDescribe(tt.in)
			if tt.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, v.Full)
		})
	}
}

// ascending are versions in release order, as semver orders them (dev
// builds, pre-releases, the release, builds past its tag).
var ascending = []string{
	"0.0.0-dev+g176d20a",
	"1.2.3",
	"1.2.3+4.g176d20a",
	"1.2.4-alpha.1",
	"1.2.4-beta.1",
	"1.2.4-rc.1",
	"1.2.4-rc.2",
	"1.2.4-rc.2+3.gabcdef0",
	"1.2.4",
	"1.2.4+1.gabcdef0",
	"1.2.10",
	"1.10.0",
}

// TestDebOrder checks with dpkg itself that the Debian versions sort as
// the releases do.
func TestDebOrder(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("dpkg not installed")
	}
	for i := 1; i < len(ascending); i++ {
		a, b := debFull(t, ascending[i-1]), debFull(t, ascending[i])
		err := exec.Command("dpkg", "--compare-versions", a, "lt", b).Run()
		assert.NoError(t, err, "dpkg: %s should sort before %s", a, b)
	}
}

// TestRPMOrder checks with rpm's own comparison (rpm.vercmp, rpm 4.14+)
// that the RPM versions sort as the releases do. rpm 4.8 compares the same
// way: the mapping uses no '~' or '^', whose meaning came later.
func TestRPMOrder(t *testing.T) {
	if _, err := exec.LookPath("rpm"); err != nil {
		t.Skip("rpm not installed")
	}
	for i := 1; i < len(ascending); i++ {
		a, b := rpmFull(t, ascending[i-1]), rpmFull(t, ascending[i])
		out, err := exec.Command("rpm", "--eval", `%{lua: print(rpm.vercmp("`+a+`", "`+b+`"))}`).Output()
		require.NoError(t, err)
		assert.Equal(t, "-1\n", string(out), "rpm: %s should sort before %s", a, b)
	}
}

func debFull(t *testing.T, s string) string {
	v, err := ParseVersion(s)
	require.NoError(t, err)
	u, r := v.Deb()
	return u + "-" + r
}

func rpmFull(t *testing.T, s string) string {
	v, err := ParseVersion(s)
	require.NoError(t, err)
	ver, rel := v.RPM()
	return ver + "-" + rel
}
