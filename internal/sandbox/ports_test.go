package sandbox

import (
	"fmt"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zenpatch/zenpatch/internal/zope"
)

func TestFreeBlockBelowEphemeralRange(t *testing.T) {
	lo, hi := zope.EphemeralRange()
	require.Less(t, lo, hi)
	base, err := FreeBlock(4)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, base, 20000)
	assert.Less(t, base+3, lo)
	for p := base; p < base+4; p++ {
		l, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
		require.NoError(t, err, "port %d should be free", p)
		l.Close()
	}
}
