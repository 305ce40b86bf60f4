package sandbox

import (
	"fmt"
	"math/rand/v2"
	"net"

	"github.com/zenpatch/zenpatch/internal/zope"
)

// FreeBlock finds n consecutive free TCP ports below the ephemeral range
// (from 20000): ports outgoing connections never take (sandboxes, tests).
func FreeBlock(n int) (int, error) {
	lo, _ := zope.EphemeralRange()
	top := min(lo, 32000) - n
	if top <= 20000 {
		top = 20000 + 1000
	}
	for range 200 {
		base := 20000 + rand.IntN(top-20000)
		ok := true
		for p := base; p < base+n && ok; p++ {
			l, err := net.Listen("tcp", fmt.Sprintf(":%d", p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base, nil
		}
	}
	return 0, fmt.Errorf("no %d free consecutive ports between 20000 and %d", n, top)
}
