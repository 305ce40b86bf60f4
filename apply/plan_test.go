package apply

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEmptyPlan(t *testing.T) {
	p := &Plan{Changes: []Change{{Path: "f", Old: []byte("a\n"), New: []byte("a\n")}}}
	assert.True(t, p.Empty())
	d, err := p.Diff()
	require.NoError(t, err)
	assert.Empty(t, d)
}
