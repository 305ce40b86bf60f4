package verify

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zenpatch/zenpatch/internal/install"
	"github.com/zenpatch/zenpatch/patches"
)

func TestPatchSetEmbedded(t *testing.T) {
	fx, err := patches.Fixtures()
	require.NoError(t, err)
	var r Report
	PatchSet(&r, patches.Embedded(), fx)
	require.NotEmpty(t, r.Checks)
	for _, c := range r.Checks {
		assert.Equal(t, OK, c.Status, "%s: %s", c.Name, c.Detail)
		assert.Contains(t, c.Detail, "revert exact", c.Name)
	}
}

func TestPatchSetMismatch(t *testing.T) {
	fx, err := patches.Fixtures()
	require.NoError(t, err)
	set := patches.Embedded()
	// Feed the 4.x patch a 3.x vendor zopectl under a 4.x version: it must
	// not fit, and that is a conflict.
	var z3, z4 patches.Fixture
	for _, f := range fx {
		v, _ := install.ParseZVersion(f.Files[install.VersionPath])
		switch v.Version {
		case "3.2.1":
			z3 = f
		case "4.2.5":
			z4 = f
		}
	}
	require.NotNil(t, z3.Files)
	require.NotNil(t, z4.Files)
	mixed := patches.Fixture{Name: "mixed", Files: map[string][]byte{}}
	for k, v := range z4.Files {
		mixed.Files[k] = v
	}
	mixed.Files[install.ZopectlPath] = z3.Files[install.ZopectlPath]
	var r Report
	PatchSet(&r, set, []patches.Fixture{mixed})
	// Every 4.x patch edition is checked against it and conflicts; the 2.x/3.x
	// patch claims no fixture here (drift).
	checked := 0
	for _, c := range r.Checks {
		if strings.HasSuffix(c.Name, "@mixed") {
			checked++
			assert.Equal(t, Conflict, c.Status, "%s: %s", c.Name, c.Detail)
		}
	}
	assert.Positive(t, checked)
	assert.Equal(t, Conflict, r.Worst())

	// A patch that claims no fixture at all was never checked: drift; with
	// no fixture at all, that is an error of its own.
	drift := 0
	for _, c := range r.Checks {
		if c.Status == Drift && strings.Contains(c.Detail, "nothing checked it") {
			drift++
		}
	}
	assert.Equal(t, 1, drift, "the 2.x/3.x patch claims no fixture here")
	r = Report{}
	PatchSet(&r, set, nil)
	require.NotEmpty(t, r.Checks)
	assert.Equal(t, Error, r.Checks[0].Status)
	assert.Contains(t, r.Checks[0].Detail, "no vendor fixture")
	for _, c := range r.Checks[1:] {
		assert.Equal(t, Drift, c.Status, c.Name)
		assert.Contains(t, c.Detail, "nothing checked it")
	}
	// An index without patches checks nothing: an error, not a pass.
	r = Report{}
	PatchSet(&r, &patches.Set{Source: "empty"}, []patches.Fixture{mixed})
	assert.Equal(t, Error, r.Worst())
}
