package verify

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestWorstPrecedence(t *testing.T) {
	for _, tc := range []struct {
		statuses []Status
		want     Status
	}{
		{nil, OK},
		{[]Status{OK, Skipped}, OK},
		{[]Status{OK, Drift}, Drift},
		{[]Status{Drift, Error, Drift}, Error},
		{[]Status{Error, Drift}, Error},
		{[]Status{Drift, Error, Conflict, OK}, Conflict},
	} {
		var r Report
		for i, s := range tc.statuses {
			r.Add("install", string(rune('a'+i)), s, "", 0)
		}
		assert.Equal(t, tc.want, r.Worst(), "%v", tc.statuses)
		if tc.want == OK {
			assert.NoError(t, r.Err())
		} else {
			var f *Failure
			require.ErrorAs(t, r.Err(), &f)
			assert.Equal(t, tc.want, f.Worst)
		}
	}
}

func sample() *Report {
	var r Report
	r.Add("patch-set", "zenoss4-multizope-v2@4.2.5", OK, "applies at its lines", 1500*time.Millisecond)
	r.Add("install", "patch", Drift, "zopectl is the vendor's: the patch is not applied\nrun 'zenpatch apply'", 250*time.Millisecond)
	r.Add("live", "instance-1", Error, "connection refused", time.Second)
	r.Add("live", "balancer", Skipped, "balancer off", 0)
	return &r
}

func TestWriteText(t *testing.T) {
	var b bytes.Buffer
	sample().WriteText(&b)
	assert.Contains(t, b.String(), "install/patch")
	assert.Contains(t, b.String(), "drift")
	assert.Contains(t, b.String(), "4 checks: 1 ok, 1 drift, 0 conflict, 1 error, 1 skipped\n")
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, sample().WriteJSON(&b, 1))
	var got struct {
		OK       bool    `json:"ok"`
		ExitCode int     `json:"exit_code"`
		Checks   []Check `json:"checks"`
	}
	require.NoError(t, json.Unmarshal(b.Bytes(), &got))
	assert.False(t, got.OK)
	assert.Equal(t, 1, got.ExitCode)
	require.Len(t, got.Checks, 4)
	assert.Equal(t, Drift, got.Checks[1].Status)

	b.Reset()
	require.NoError(t, (&Report{}).WriteJSON(&b, 0))
	assert.Contains(t, b.String(), `"checks": []`, "an empty report lists no checks, not null")
	assert.Contains(t, b.String(), `"ok": true`)
}

func TestWriteJUnit(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, sample().WriteJUnit(&b))
	assert.True(t, bytes.HasPrefix(b.Bytes(), []byte(xml.Header)))
	var got junitSuites
	require.NoError(t, xml.Unmarshal(b.Bytes(), &got))
	assert.Equal(t, 4, got.Tests)
	assert.Equal(t, 1, got.Fails)
	assert.Equal(t, 1, got.Errors)
	require.Len(t, got.Suites, 3, "one testsuite per group, in first-seen order")
	assert.Equal(t, "zenpatch.patch-set", got.Suites[0].Name)
	assert.Equal(t, "1.500", got.Suites[0].Time)
	live := got.Suites[2]
	assert.Equal(t, "zenpatch.live", live.Name)
	assert.Equal(t, 2, live.Tests)
	assert.Equal(t, 1, live.Skipped)
	assert.Equal(t, "1.000", live.Time)
	drift := got.Suites[1].Cases[0]
	require.NotNil(t, drift.Failure)
	assert.Equal(t, "zopectl is the vendor's: the patch is not applied", drift.Failure.Message, "message is the first line")
	assert.Equal(t, "drift", drift.Failure.Type)
	require.NotNil(t, live.Cases[0].Error)
	require.NotNil(t, live.Cases[1].Skipped)
}

// The JUnit file is written beside its target and renamed into place: no
// temp file is left, in the target's directory or the current one.
func TestWriteJUnitFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "r.xml")
	require.Error(t, sample().WriteJUnitFile(p), "no such directory")
	require.NoError(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	require.NoError(t, sample().WriteJUnitFile(p))
	entries, err := os.ReadDir(filepath.Join(dir, "sub"))
	require.NoError(t, err)
	require.Len(t, entries, 1)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.True(t, bytes.HasPrefix(b, []byte(xml.Header)))
	fi, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm(), "a new report is 0644, not a temp file's 0600")
	// an existing file keeps its mode
	require.NoError(t, os.Chmod(p, 0o640))
	require.NoError(t, sample().WriteJUnitFile(p))
	fi, err = os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
	// a device is written to, never replaced by a regular file
	require.NoError(t, sample().WriteJUnitFile(os.DevNull))
	fi, err = os.Stat(os.DevNull)
	require.NoError(t, err)
	assert.NotZero(t, fi.Mode()&os.ModeDevice, "/dev/null is still a device")
}
