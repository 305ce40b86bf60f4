package zope

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/zenpatch/zenpatch/internal/install"
)

func TestCheckPortPlan(t *testing.T) {
	http := func(ports ...int) []install.Listener {
		var ls []install.Listener
		for i, p := range ports {
			ls = append(ls, install.Listener{Port: p, Pos: "etc/zope.conf:" + []string{"25", "31"}[i]})
		}
		return ls
	}
	for name, c := range map[string]struct {
		http     []install.Listener
		base     int
		basePos  string // "" = defaulted
		listen   string
		zopes    int
		err      string
		hint     string
		hintPart string
	}{
		"fits":                     {http: http(8080), base: 18080, basePos: "etc/zenpatch.conf:2", zopes: 4},
		"ZOPES=1 runs no instance": {http: http(8080), base: 65535, basePos: "etc/zenpatch.conf:2", zopes: 1},
		"the last port fits":       {http: http(8080), base: 65534, basePos: "etc/zenpatch.conf:2", zopes: 2},
		"past 65535": {http: http(8080), base: 65535, basePos: "etc/zenpatch.conf:2", zopes: 2,
			err:      "etc/zenpatch.conf:2: base-port 65535 with ZOPES=2 puts instance 2 on port 65536, past 65535",
			hintPart: "set base-port in etc/zenpatch.conf to at most 65534 (ZOPES=2); best below the kernel's ephemeral range"},
		"defaulted past 65535": {http: http(65535), base: 75535, zopes: 2,
			err:      "base-port (not set in etc/zenpatch.conf) defaults to zope.conf's HTTP port 65535 (etc/zope.conf:25) + 10000 = 75535, past 65535",
			hintPart: "set base-port in etc/zenpatch.conf to at most 65534 (ZOPES=2)"},
		"second listener past 65535": {http: http(8080, 8081), base: 65435, basePos: "etc/zenpatch.conf:2", zopes: 2,
			err:      "etc/zenpatch.conf:2: base-port 65435 with ZOPES=2 puts instance 2 on port 65536, past 65535",
			hintPart: "at most 65434"},
		"on the HTTP port": {http: http(8080), base: 8080, basePos: "etc/zenpatch.conf:2", zopes: 2,
			err:  "etc/zenpatch.conf:2: base-port 8080 with ZOPES=2 puts instance 1 on zope.conf's HTTP port 8080 (etc/zope.conf:25), where the balancer listens",
			hint: "set base-port in etc/zenpatch.conf so that the instances' ports (now 8080-8081) miss port 8080"},
		"instance 3 on the HTTP port": {http: http(8080), base: 8078, basePos: "etc/zenpatch.conf:2", zopes: 4,
			err: "etc/zenpatch.conf:2: base-port 8078 with ZOPES=4 puts instance 3 on zope.conf's HTTP port 8080 (etc/zope.conf:25), where the balancer listens"},
		"just above the HTTP port": {http: http(8080), base: 8081, basePos: "etc/zenpatch.conf:2", zopes: 4},
		"on the second HTTP port": {http: http(8080, 9000), base: 8900, basePos: "etc/zenpatch.conf:2", zopes: 2,
			err:  "etc/zenpatch.conf:2: base-port 8900 with ZOPES=2 puts instance 1 on zope.conf's HTTP port 9000 (etc/zope.conf:31), where the balancer listens",
			hint: "set base-port in etc/zenpatch.conf so that the instances' ports (now 8900-8901 and 9000-9001) miss port 9000"},
		"on <balancer> listen": {http: http(8080), base: 18080, listen: "127.0.0.1:18081", zopes: 2,
			err: "base-port (not set in etc/zenpatch.conf) defaults to zope.conf's HTTP port 8080 (etc/zope.conf:25) + 10000 = 18080 with ZOPES=2 puts instance 2 on port 18081 (listen in etc/zenpatch.conf's <balancer>), where the balancer listens"},
	} {
		t.Run(name, func(t *testing.T) {
			ctl := &Controller{Conf: &install.ZopeConf{HTTP: c.http}, Zopes: c.zopes,
				Settings: &install.Settings{BasePort: c.base, BasePortPos: c.basePos, Balancer: install.BalancerSettings{Listen: c.listen}}}
			err := ctl.CheckPortPlan()
			if c.err == "" {
				assert.NoError(t, err)
				return
			}
			var pe *install.PortRangeError
			require.ErrorAs(t, err, &pe)
			assert.Equal(t, c.err, err.Error())
			if c.hint != "" {
				assert.Equal(t, c.hint, pe.Hint())
			}
			assert.Contains(t, pe.Hint(), c.hintPart)
		})
	}
}
