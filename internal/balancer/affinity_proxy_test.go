package balancer

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// servedBy sends one request about device dev through f (a device page, or
// an Ext.Direct router call naming it in the body) and returns the answer,
// which names the backend.
func servedBy(t *testing.T, f *front, dev string, post bool) string {
	t.Helper()
	var resp *http.Response
	var err error
	if post {
		body := fmt.Sprintf(`{"action":"DeviceRouter","method":"getInfo","data":[{"uid":"/zport/dmd/Devices/Server/Linux/devices/%s"}],"type":"rpc","tid":1}`, dev)
		resp, err = http.Post(f.URL+"/zport/dmd/device_router", "application/json", strings.NewReader(body))
	} else {
		resp, err = http.Get(f.URL + "/zport/dmd/Devices/Server/Linux/devices/" + dev + "/devicedetail")
	}
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	return string(b)
}

func TestProxyKeepsEachDeviceOnOneBackend(t *testing.T) {
	z1, z2 := newZope(t, false), newZope(t, false)
	lb, f := newLB(t, Config{}, z1, z2)
	by := map[string]map[string]bool{}
	for i := range 200 {
		dev := fmt.Sprintf("dev%03d", i%50)
		if by[dev] == nil {
			by[dev] = map[string]bool{}
		}
		// pages and router calls about one device: one key
		by[dev][servedBy(t, f, dev, i%3 == 0)] = true
	}
	for dev, b := range by {
		assert.Len(t, b, 1, "%s: served by one backend (one request at a time: never full)", dev)
	}
	st := lb.Status()
	assert.Equal(t, 1.0, st.KeyedShare)
	assert.Equal(t, 1.0, st.HomeShare)
	for _, b := range st.Backends {
		assert.Greater(t, b.Home, int64(30), "%s is home to a share of the devices", b.Name)
	}

	resp, err := http.Get(f.URL + "/zport/dmd/Events/evconsole") // no key
	require.NoError(t, err)
	resp.Body.Close()
	st = lb.Status()
	assert.Equal(t, int64(1), st.Backends[0].NoKey+st.Backends[1].NoKey)
}

func TestProxyObjectAffinityOff(t *testing.T) {
	z1, z2 := newZope(t, false), newZope(t, false)
	lb, f := newLB(t, Config{Keys: KeyAffinity{Off: true}}, z1, z2)
	seen := map[string]bool{}
	for range 20 {
		seen[servedBy(t, f, "dev001", false)] = true
	}
	assert.Len(t, seen, 2, "without keys one device's pages go round both backends")
	st := lb.Status()
	assert.Zero(t, st.KeyedShare)
	assert.Equal(t, int64(20), st.Backends[0].NoKey+st.Backends[1].NoKey)
}

// Draining an instance moves only its keys; they return when it does.
func TestProxyDrainMovesOnlyItsKeys(t *testing.T) {
	zs := []*zope{newZope(t, false), newZope(t, false), newZope(t, false)}
	lb, f := newLB(t, Config{}, zs...)
	devs := make([]string, 90)
	home := map[string]string{}
	for i := range devs {
		devs[i] = fmt.Sprintf("dev%03d", i)
		home[devs[i]] = servedBy(t, f, devs[i], false)
	}
	gone := "from " + zs[0].addr()
	name := lb.Status().Backends[0].Name
	require.NoError(t, lb.Drain(context.Background(), name))
	moved := 0
	for _, d := range devs {
		now := servedBy(t, f, d, true)
		if home[d] == gone {
			assert.NotEqual(t, gone, now, "%s: its home drains", d)
			moved++
		} else {
			assert.Equal(t, home[d], now, "%s: its home stays, so does it", d)
		}
	}
	assert.Greater(t, moved, 10, "about a third of the keys lived on the drained instance")
	assert.Less(t, moved, 60)

	require.NoError(t, lb.Undrain(name))
	for _, d := range devs {
		assert.Equal(t, home[d], servedBy(t, f, d, false), "%s: back at its home", d)
	}
}

func TestOverrideObjectAffinity(t *testing.T) {
	file := Config{Keys: KeyAffinity{Off: true, Factor: 1.5}}
	assert.False(t, file.Override(Config{Keys: KeyAffinity{On: true}}).Keys.Off, "a command line's on wins over the file's off")
	assert.Equal(t, 1.5, file.Override(Config{}).Keys.Factor)
	on := Config{}
	got := on.Override(Config{Keys: KeyAffinity{Off: true, Factor: 2}})
	assert.True(t, got.Keys.Off)
	assert.Equal(t, 2.0, got.Keys.Factor)
}

// With cookie affinity too, a request whose cookie names its key's home is
// counted as served at home (the cookie wins the pick, the count follows).
func TestProxyCookieAtHomeCountsHome(t *testing.T) {
	z1, z2 := newZope(t, false), newZope(t, false)
	lb, f := newLB(t, Config{Affinity: true}, z1, z2)
	url := f.URL + "/zport/dmd/Devices/Server/Linux/devices/web01/devicedetail"
	resp, err := http.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "zenpatch_zope" {
			ck = c
		}
	}
	require.NotNil(t, ck, "the first answer sets the cookie of the instance that served it")
	for range 5 {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		require.NoError(t, err)
		req.AddCookie(ck)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
	}
	st := lb.Status()
	assert.Equal(t, 1.0, st.HomeShare, "%+v", st.Backends)
}
