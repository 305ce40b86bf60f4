package patches

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFixtures(t *testing.T) {
	fx, err := Fixtures()
	require.NoError(t, err)
	require.Len(t, fx, 3)
	for _, f := range fx {
		assert.Contains(t, string(f.Files["bin/zopectl"]), "#! /bin/sh", f.Name)
		assert.Contains(t, string(f.Files["Products/ZenModel/ZVersion.py"]), "VERSION", f.Name)
	}
	one, err := Vendor("zenoss-4.2.5")
	require.NoError(t, err)
	assert.Equal(t, "zenoss-4.2.5", one.Name)
	_, err = Vendor("zenoss-9.9.9")
	assert.Error(t, err)
}
