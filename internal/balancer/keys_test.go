package balancer

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// routerCall is one Ext.Direct call as Zenoss's UI sends it.
func routerCall(method, data string, tid int) string {
	return fmt.Sprintf(`{"action":"DeviceRouter","method":"%s","data":[%s],"type":"rpc","tid":%d}`, method, data, tid)
}

const devUID = "/zport/dmd/Devices/Server/Linux/devices/dev00042"

func TestKeyZenoss(t *testing.T) {
	r := DefaultKeyRules()
	js := "application/json; charset=UTF-8"
	for _, tc := range []struct {
		name, method, path, ct, body string
		want                         string // "" = no key
	}{
		// Device pages and everything under a device.
		{"device page", "GET", devUID + "/devicedetail", "", "", "dev00042"},
		{"device itself", "GET", devUID, "", "", "dev00042"},
		{"device trailing slash", "GET", devUID + "/", "", "", "dev00042"},
		{"device graphs", "GET", devUID + "/deviceGraphs", "", "", "dev00042"},
		{"device status", "GET", devUID + "/viewDeviceStatus", "", "", "dev00042"},
		{"component page", "GET", devUID + "/os/interfaces/eth0", "", "", "dev00042"},
		{"component view", "GET", devUID + "/os/interfaces/eth0/viewIpInterfaceStatus", "", "", "dev00042"},
		{"hw component", "GET", "/zport/dmd/Devices/Network/Router/Cisco/devices/core-rtr1.example.com/hw/cards/slot1", "", "", "core-rtr1.example.com"},
		{"query string", "GET", devUID + "/deviceGraphs?drange=129600&x=/devices/other", "", "", "dev00042"},
		{"device via group", "GET", "/zport/dmd/Groups/Production/devices/dev00042/devicedetail", "", "", "dev00042"},
		{"device via location", "GET", "/zport/dmd/Locations/Berlin/Rack1/devices/dev00042", "", "", "dev00042"},
		{"device via collector", "GET", "/zport/dmd/Monitors/Performance/localhost/devices/dev00042", "", "", "dev00042"},
		{"virtual host", "GET", "/VirtualHostBase/https/zenoss.example.com:443/zport/dmd/Devices/Server/devices/web1/VirtualHostRoot/devicedetail", "", "", "web1"},
		{"HEAD", "HEAD", devUID + "/devicedetail", "", "", "dev00042"},
		{"POST to a device page", "POST", devUID + "/manage_editDevice", "application/x-www-form-urlencoded", "tag=x", "dev00042"},
		// Organizers.
		{"device class", "GET", "/zport/dmd/Devices/Server/Linux", "", "", "Devices/Server/Linux"},
		{"device class slash", "GET", "/zport/dmd/Devices/Server/Linux/", "", "", "Devices/Server/Linux"},
		{"device class root", "GET", "/zport/dmd/Devices", "", "", "Devices"},
		{"device list", "GET", "/zport/dmd/Devices/Server/Linux/devices", "", "", "Devices/Server/Linux/devices"},
		{"empty device id", "GET", "/zport/dmd/Devices/Server/Linux/devices/", "", "", "Devices/Server/Linux/devices"},
		{"group", "GET", "/zport/dmd/Groups/Production", "", "", "Groups/Production"},
		{"nested group view", "GET", "/zport/dmd/Groups/Production/Web/viewEvents", "", "", "Groups/Production/Web/viewEvents"},
		{"system", "GET", "/zport/dmd/Systems/Billing", "", "", "Systems/Billing"},
		{"location", "GET", "/zport/dmd/Locations/Berlin/Rack1", "", "", "Locations/Berlin/Rack1"},
		{"not an organizer", "GET", "/zport/dmd/DevicesSearch", "", "", ""},
		// No key.
		{"event console", "GET", "/zport/dmd/Events/evconsole", "", "", ""},
		{"dashboard", "GET", "/zport/dmd/Dashboard", "", "", ""},
		{"root", "GET", "/", "", "", ""},
		{"static", "GET", "/++resource++zenui/js/zenoss/zenoss-all.js", "", "", ""},
		{"empty", "GET", "", "", "", ""},
		// Router calls.
		{"router single", "POST", "/zport/dmd/device_router", js, routerCall("getInfo", `{"uid":"`+devUID+`"}`, 7), "dev00042"},
		{"router no content type", "POST", "/zport/dmd/device_router", "", routerCall("getInfo", `{"uid":"`+devUID+`"}`, 7), "dev00042"},
		{"router component uid", "POST", "/zport/dmd/device_router", js, routerCall("getInfo", `{"uid":"`+devUID+`/os/interfaces/eth0","keys":["name","status"]}`, 1), "dev00042"},
		{"router batch", "POST", "/zport/dmd/device_router", js,
			"[" + routerCall("getInfo", `{"uid":"/zport/dmd/Devices/Server/Linux/devices/a1"}`, 1) + "," + routerCall("getEvents", `{"uid":"/zport/dmd/Devices/Server/Linux/devices/b2"}`, 2) + "]", "a1"},
		{"router batch first has none", "POST", "/zport/dmd/detailnav_router", js,
			"[" + routerCall("getDetailNavConfigs", `{"uid":"/zport/dmd"}`, 1) + "," + routerCall("getEvents", `{"uid":"/zport/dmd/Devices/Server/Linux/devices/b2"}`, 2) + "]", "b2"},
		{"router uids", "POST", "/zport/dmd/device_router", js, routerCall("setProductionState", `{"uids":["`+devUID+`","/zport/dmd/Devices/Server/devices/x"],"prodState":300,"hashcheck":"abc"}`, 3), "dev00042"},
		{"router uids first not keyed", "POST", "/zport/dmd/device_router", js, routerCall("lock", `{"uids":["/zport/dmd/Events","/zport/dmd/Devices/Server/devices/x"]}`, 3), "x"},
		{"router empty uids", "POST", "/zport/dmd/device_router", js, routerCall("lock", `{"uids":[],"uid":"`+devUID+`"}`, 3), "dev00042"},
		{"router organizer uid", "POST", "/zport/dmd/device_router", js, routerCall("getDevices", `{"uid":"/zport/dmd/Groups/Production","start":0,"limit":50}`, 4), "Groups/Production"},
		{"router uid spaces", "POST", "/zport/dmd/device_router", js, "{ \"data\" : [ { \"uid\" :\n\t\"" + devUID + "\" } ] }", "dev00042"},
		{"router escaped slashes", "POST", "/zport/dmd/device_router", js, routerCall("getInfo", `{"uid":"\/zport\/dmd\/Devices\/Server\/devices\/esc1"}`, 1), "esc1"},
		{"router unicode escape", "POST", "/zport/dmd/device_router", js, routerCall("getInfo", `{"uid":"/zport/dmd/Devices/devices/h\u00e9"}`, 1), "hé"},
		{"router uid in params", "POST", "/zport/dmd/evconsole_router", js, `{"action":"EventsRouter","method":"query","data":[{"params":{"uid":"` + devUID + `"},"limit":100}],"type":"rpc","tid":9}`, "dev00042"},
		{"router uid string has quote", "POST", "/zport/dmd/device_router", js, routerCall("x", `{"name":"a \"uid\":\"/zport/dmd/Devices/devices/no\"","uid":"/zport/dmd/Devices/devices/yes"}`, 1), "yes"},
		{"router uid not a string", "POST", "/zport/dmd/device_router", js, routerCall("x", `{"uid":42,"uids":null}`, 1), ""},
		{"router uid as value", "POST", "/zport/dmd/device_router", js, routerCall("x", `{"name":"uid","other":"/zport/dmd/Devices/devices/no"}`, 1), ""},
		{"router event console", "POST", "/zport/dmd/evconsole_router", js, `{"action":"EventsRouter","method":"query","data":[{"uid":"/zport/dmd","limit":100}],"type":"rpc","tid":9}`, ""},
		{"router in device context", "POST", devUID + "/device_router", js, routerCall("getInfo", `{"keys":["name"]}`, 1), "dev00042"},
		{"router body wins over path", "POST", devUID + "/device_router", js, routerCall("getInfo", `{"uid":"/zport/dmd/Devices/devices/other"}`, 1), "other"},
		{"malformed JSON", "POST", "/zport/dmd/device_router", js, `{"data":[{"uid":"/zport/dmd/Devices/devices/m1`, ""},
		{"malformed after key", "POST", "/zport/dmd/device_router", js, `{"data":[{"uid":"/zport/dmd/Devices/devices/m2"}]]]}}`, "m2"},
		{"not JSON", "POST", "/zport/dmd/device_router", js, "uid=/zport/dmd/Devices/devices/f1", ""},
		{"form body", "POST", "/zport/dmd/device_router", "application/x-www-form-urlencoded", routerCall("getInfo", `{"uid":"`+devUID+`"}`, 1), ""},
		{"GET router", "GET", "/zport/dmd/device_router", js, routerCall("getInfo", `{"uid":"`+devUID+`"}`, 1), ""},
		{"POST elsewhere", "POST", "/zport/dmd/Events/evconsole", js, routerCall("getInfo", `{"uid":"`+devUID+`"}`, 1), ""},
		{"empty body", "POST", "/zport/dmd/device_router", js, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ct, body []byte
			if tc.ct != "" {
				ct = []byte(tc.ct)
			}
			if tc.body != "" {
				body = []byte(tc.body)
			}
			k, ok := r.Key(tc.method, []byte(tc.path), ct, body)
			assert.Equal(t, tc.want != "", ok)
			assert.Equal(t, tc.want, k)
			h, hok := r.Hash(tc.method, []byte(tc.path), ct, body)
			assert.Equal(t, ok, hok)
			if ok {
				assert.Equal(t, KeyHash(k), h)
			}
		})
	}
}

// The device page, its graphs, a component and a router call naming it
// share one key: that is the point.
func TestKeySameDevice(t *testing.T) {
	r := DefaultKeyRules()
	want, ok := r.Key("GET", []byte(devUID+"/devicedetail"), nil, nil)
	require.True(t, ok)
	for _, p := range []string{devUID + "/deviceGraphs", devUID + "/os/interfaces/eth0", "/zport/dmd/Groups/G/devices/dev00042"} {
		k, _ := r.Key("GET", []byte(p), nil, nil)
		assert.Equal(t, want, k, p)
	}
	k, _ := r.Key("POST", []byte("/zport/dmd/device_router"), []byte("application/json"), []byte(routerCall("getComponents", `{"uid":"`+devUID+`"}`, 1)))
	assert.Equal(t, want, k)
}

func TestKeyBodyLimit(t *testing.T) {
	spec := DefaultKeySpec()
	spec.BodyLimit = 100
	r, err := NewKeyRules(spec)
	require.NoError(t, err)
	body := routerCall("getInfo", `{"uid":"`+devUID+`"}`, 1)
	k, ok := r.Key("POST", []byte("/zport/dmd/device_router"), nil, []byte(body))
	assert.False(t, ok, "a body over the limit is not read")
	assert.Empty(t, k)
	spec.BodyLimit = len(body)
	r, err = NewKeyRules(spec)
	require.NoError(t, err)
	k, ok = r.Key("POST", []byte("/zport/dmd/device_router"), nil, []byte(body))
	assert.True(t, ok)
	assert.Equal(t, "dev00042", k)
}

// Rules for another Zope application: keys from its own URL shape and body.
func TestKeyCustomRules(t *testing.T) {
	r, err := NewKeyRules(KeySpec{
		Paths:      []string{`^/plone/(?:fr|de)/([a-z0-9-]+)`, `(?i)/TICKET/(\d+)`},
		BodyPaths:  []string{`/@@api\z`},
		BodyFields: []string{"path"},
	})
	require.NoError(t, err)
	for path, want := range map[string]string{
		"/plone/fr/news-2026/view":             "news-2026",
		"/plone/en/news-2026":                  "",
		"/x/ticket/123/edit":                   "123",
		"/zport/dmd/Devices/Server/devices/d1": "",
	} {
		k, ok := r.Key("GET", []byte(path), nil, nil)
		assert.Equal(t, want, k, path)
		assert.Equal(t, want != "", ok, path)
	}
	k, ok := r.Key("POST", []byte("/site/@@api"), []byte("application/json"), []byte(`{"path":"/plone/de/faq"}`))
	assert.True(t, ok)
	assert.Equal(t, "faq", k)
	_, ok = r.Key("POST", []byte("/site/@@api/x"), []byte("application/json"), []byte(`{"path":"/plone/de/faq"}`))
	assert.False(t, ok)
	// The zero value and nil give no keys.
	var none *KeyRules
	_, ok = none.Key("GET", []byte(devUID), nil, nil)
	assert.False(t, ok)
	_, ok = (&KeyRules{}).Key("GET", []byte(devUID), nil, nil)
	assert.False(t, ok)
}

func TestKeyRulesRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spec  KeySpec
		kind  string
		index int
		msg   string
	}{
		{"bad regexp", KeySpec{Paths: []string{`/devices/([^/]+)`, `/x/(`}}, "key-path", 1, "missing closing )"},
		{"no group", KeySpec{Paths: []string{`/devices/[^/]+`}}, "key-path", 0, "want exactly one capture group"},
		{"two groups", KeySpec{Paths: []string{`/(a)/(b)`}}, "key-path", 0, "found 2"},
		{"empty", KeySpec{Paths: []string{""}}, "key-path", 0, "want a regular expression"},
		{"too long", KeySpec{Paths: []string{"(" + strings.Repeat("a", 2000) + ")"}}, "key-path", 0, "longer than"},
		{"bad body path", KeySpec{BodyPaths: []string{`_router[`}}, "key-body-path", 0, "missing closing ]"},
		{"bad field", KeySpec{BodyFields: []string{"uid", `u"id`}}, "key-body-field", 1, "without quotes"},
		{"empty field", KeySpec{BodyFields: []string{""}}, "key-body-field", 0, "1 to 128"},
		{"negative limit", KeySpec{BodyLimit: -1}, "body-limit", 0, "0 or more"},
		{"too many", KeySpec{BodyFields: strings.Fields(strings.Repeat("f ", 65))}, "key rules", 0, "key rules: 65 lines, at most 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewKeyRules(tc.spec)
			require.Error(t, err)
			assert.Nil(t, r)
			var ke *KeyRuleError
			require.True(t, errors.As(err, &ke))
			assert.Equal(t, tc.kind, ke.Kind)
			assert.Equal(t, tc.index, ke.Index)
			assert.Contains(t, err.Error(), tc.msg)
		})
	}
}

func TestKeyRulesSpecString(t *testing.T) {
	r := DefaultKeyRules()
	assert.Equal(t, DefaultKeySpec(), r.Spec())
	s := r.String()
	assert.Contains(t, s, "key-path /devices/([^/?#]+)\n")
	assert.Contains(t, s, "key-body-field uids\n")
	assert.Contains(t, s, "body-limit 65536\n")
}

// The hand matcher of lit([^…]+) rules agrees with the regexp engine.
func TestSimpleShape(t *testing.T) {
	for _, tc := range []struct {
		expr   string
		simple bool
	}{
		{`/devices/([^/?#]+)`, true},
		{`/devices/([^/]+)`, true},
		{`x([^a-z0-9]+)`, true},
		{`/devices/([^/]*)`, false},
		{`^/devices/([^/]+)`, false},
		{`/devices/([^/]+)/`, false},
		{`(?i)/devices/([^/]+)`, false},
		{`/devices/([^/é]+)`, false},
		{`/devices/([a-z]+)`, false},
		{`/devices/([^/]+?)`, false},
	} {
		pr, err := compileRule(tc.expr, 1)
		require.NoError(t, err, tc.expr)
		assert.Equal(t, tc.simple, pr.simple, tc.expr)
	}
	pr, err := compileRule(`/devices/([^/?#]+)`, 1)
	require.NoError(t, err)
	for _, s := range []string{"", "/devices/", "/devices//devices/a", "/devices/devices/b", "x/devices/\xff\xfe/", "/devices/é?", "/devices/a#b", "/devices/a\nb", "/devices/?/devices/z"} {
		assertSimpleAgrees(t, &pr, []byte(s))
	}
}

func assertSimpleAgrees(t *testing.T, pr *pathRule, s []byte) {
	t.Helper()
	var want []byte
	if m := pr.re.FindSubmatchIndex(s); m != nil && m[3]-m[2] <= maxKeyBytes {
		want = s[m[2]:m[3]]
	}
	assert.Equal(t, string(want), string(pr.matchSimple(s)), "%q", s)
}

// keySeeds are the request shapes of bench zenoss-ui.lua and the table
// above: method, path, content type, body.
func keySeeds() [][4]string {
	js := "application/json"
	return [][4]string{
		{"GET", "/zport/dmd/Events/evconsole", "", ""},
		{"GET", "/zport/dmd/Devices/Server/Linux/devices/dev01234/devicedetail", "", ""},
		{"GET", "/zport/dmd/Devices/Server/Linux/devices/dev01234/viewDeviceStatus", "", ""},
		{"GET", "/zport/dmd/Devices/Server/Linux/devices/dev01234/deviceGraphs", "", ""},
		{"GET", "/zport/dmd/Devices/Server/Linux/devices/dev01234/deviceComponents", "", ""},
		{"POST", "/zport/dmd/device_router", js, `{"action":"DeviceRouter","method":"getInfo","data":[{"uid":"/zport/dmd/Devices/Server/Linux/devices/dev01234"}],"type":"rpc","tid":17}`},
		{"POST", "/zport/dmd/device_router", js, `[{"action":"DeviceRouter","method":"getComponents","data":[{"uid":"/zport/dmd/Devices/Server/Linux/devices/a"}],"type":"rpc","tid":1},{"action":"DeviceRouter","method":"getEvents","data":[{"uids":["/zport/dmd/Devices/devices/b"]}],"type":"rpc","tid":2}]`},
		{"POST", "/zport/dmd/device_router", js, `{"data":[{"uid":"\/zport\/dmd\/Devices\/devices\/\u00e9\ud83d\ude00"}]}`},
		{"POST", "/zport/dmd/device_router", js, `{"data":[{"uid":"/zport/dmd/Devices/devices/x\`},
		{"POST", "/zport/dmd/device_router", "", `[[[[{"uids":["a",1,"/zport/dmd/Groups/G"]}]]]]`},
		{"GET", "/zport/dmd/Groups/Production/Web?x=1", "", ""},
	}
}

// jsonString matches a JSON string literal.
var jsonString = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// escapeControls escapes the control characters JSON forbids raw in a
// string (the scanner is lenient about them).
func escapeControls(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 {
			fmt.Fprintf(&b, `\u%04x`, s[i])
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// FuzzKey: Key never panics; a key is non-empty, at most maxKeyBytes and
// occurs in the path or (unescaped) in the body; the hand matcher agrees
// with the regexp engine; Key does not change its input.
func FuzzKey(f *testing.F) {
	for _, s := range keySeeds() {
		f.Add(s[0], s[1], s[2], s[3])
	}
	r := DefaultKeyRules()
	dev := &r.paths[0]
	f.Fuzz(func(t *testing.T, method, path, ct, body string) {
		p, c, b := []byte(path), []byte(ct), []byte(body)
		k, ok := r.Key(method, p, c, b)
		require.Equal(t, path, string(p))
		require.Equal(t, body, string(b))
		if !ok {
			require.Empty(t, k)
		} else {
			require.NotEmpty(t, k)
			require.LessOrEqual(t, len(k), maxKeyBytes)
			if !strings.Contains(path, k) && !strings.Contains(body, k) {
				// From an escaped body value: in one of its strings as
				// encoding/json decodes them.
				found := !utf8.ValidString(k)
				for _, lit := range jsonString.FindAllString(body, -1) {
					var s string
					if json.Unmarshal([]byte(escapeControls(lit)), &s) == nil && strings.Contains(s, k) {
						found = true
					}
				}
				require.True(t, found, "key %q in neither path nor body", k)
			}
		}
		assertSimpleAgrees(t, dev, p)
	})
}

// Key against encoding/json on well-formed bodies: the scanner finds the
// first uid/uids string that gives a key, as a full decoder would.
func TestBodyKeyMatchesDecoder(t *testing.T) {
	r := DefaultKeyRules()
	re := regexp.MustCompile(`/devices/([^/?#]+)`)
	bodies := []string{
		`{"data":[{"uid":"/zport/dmd/Devices/devices/a"}]}`,
		`[{"data":[{"x":{"uid":"/zport/dmd/Devices/devices/b"}}]},{"data":[{"uids":["/zport/dmd/Devices/devices/c"]}]}]`,
		`{"data":[{"uids":["/zport","/zport/dmd/Devices/devices/d"],"uid":"/zport/dmd/Devices/devices/e"}]}`,
		`{"data":[{"uid":"/zport/dmd/Devices/devices/f\u0041"}]}`,
	}
	for _, body := range bodies {
		var v any
		require.NoError(t, json.Unmarshal([]byte(body), &v))
		want := firstDeviceUID(v, re)
		got := string(r.bodyKey([]byte(body)))
		assert.Equal(t, want, got, body)
	}
}

// firstDeviceUID walks a decoded JSON value in document order (the bodies
// above have one key per object, so map order does not matter).
func firstDeviceUID(v any, re *regexp.Regexp) string {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			if k := firstDeviceUID(e, re); k != "" {
				return k
			}
		}
	case map[string]any:
		for _, name := range []string{"uids", "uid", "x", "data"} {
			e, ok := x[name]
			if !ok {
				continue
			}
			if name == "uid" || name == "uids" {
				vals := []any{e}
				if l, ok := e.([]any); ok {
					vals = l
				}
				for _, s := range vals {
					if s, ok := s.(string); ok {
						if m := re.FindStringSubmatch(s); m != nil {
							return m[1]
						}
					}
				}
				continue
			}
			if k := firstDeviceUID(e, re); k != "" {
				return k
			}
		}
	}
	return ""
}

func BenchmarkKey(b *testing.B) {
	r := DefaultKeyRules()
	js := []byte("application/json; charset=UTF-8")
	for _, bc := range []struct {
		name, method, path string
		ct                 []byte
		body               string
	}{
		{"device-GET", "GET", "/zport/dmd/Devices/Server/Linux/devices/dev01234/devicedetail", nil, ""},
		{"component-GET", "GET", "/zport/dmd/Devices/Server/Linux/devices/dev01234/os/interfaces/eth0", nil, ""},
		{"organizer-GET", "GET", "/zport/dmd/Groups/Production/Web", nil, ""},
		{"nokey-GET", "GET", "/zport/dmd/Events/evconsole", nil, ""},
		{"router-POST", "POST", "/zport/dmd/device_router", js, `{"action":"DeviceRouter","method":"getInfo","data":[{"uid":"/zport/dmd/Devices/Server/Linux/devices/dev01234"}],"type":"rpc","tid":17}`},
		{"router-batch-POST", "POST", "/zport/dmd/device_router", js, "[" + routerCall("getInfo", `{"uid":"/zport/dmd","keys":["a","b","c"]}`, 1) + "," + routerCall("getComponents", `{"uid":"/zport/dmd/Devices/Server/Linux/devices/dev01234","start":0,"limit":50,"sort":"name","dir":"ASC"}`, 2) + "]"},
		{"nokey-router-POST", "POST", "/zport/dmd/evconsole_router", js, `{"action":"EventsRouter","method":"query","data":[{"uid":"/zport/dmd","limit":100,"params":{"severity":[5,4,3],"eventState":[0,1]}}],"type":"rpc","tid":9}`},
	} {
		path, body := []byte(bc.path), []byte(bc.body)
		if bc.body == "" {
			body = nil
		}
		b.Run(bc.name+"/Key", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Key(bc.method, path, bc.ct, body)
			}
		})
		b.Run(bc.name+"/Hash", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				r.Hash(bc.method, path, bc.ct, body)
			}
		})
	}
}
