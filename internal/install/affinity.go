package install

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/zenpatch/zenpatch/internal/balancer"
	"github.com/zenpatch/zenpatch/internal/zconfig"
)

// AffinitySettings are the <affinity> section inside <balancer>: object
// affinity, which sends the requests about one Zenoss object (a device and
// its components, an organizer) to one Zope, whose cache then holds it. A
// zero field is a key not given: the balancer's default applies
// (balancer.KeyAffinity).
//
//	<balancer>
//	  <affinity>
//	    enabled on               # off: every request to the least busy instance
//	    balance-factor 1.25      # a key's home takes it while under 1.25 × the average load
//	    spill-below 1            # else it goes to another instance with fewer requests than this
//	    max-wait 0.05            # seconds a request waits for its home, at most
//	    # Rules (each kind given replaces the built-in ones; $ is written $$):
//	    key-path /devices/([^/?#]+)
//	    key-path /zport/dmd/((?:Devices|Groups|Systems|Locations)(?:/[^/?#]+)*)(?:/|\z)
//	    key-body-path _router    # POSTs whose JSON bodies are read for …
//	    key-body-field uid       # … these members' string values, matched by key-path
//	    key-body-field uids
//	    body-limit 65536         # bytes; larger bodies are not read; 0: none are
//	  </affinity>
//	</balancer>
type AffinitySettings struct {
	Off        bool          // enabled off
	Factor     float64       // balance-factor: the bounded-loads c, from 1 to 100
	SpillBelow int           // spill-below
	MaxWait    time.Duration // max-wait (seconds)
	// Rules are the key rules: the built-in Zenoss ones with the kinds
	// given replaced; nil when no rule key is given (the balancer's
	// defaults).
	Rules *balancer.KeyRules
}

// Config is the balancer's configuration of these settings.
func (a AffinitySettings) Config() balancer.KeyAffinity {
	return balancer.KeyAffinity{Off: a.Off, Rules: a.Rules, Factor: a.Factor, SpillBelow: a.SpillBelow, MaxWait: a.MaxWait}
}

// affinityKeys are the keys <affinity> knows.
var affinityKeys = map[string]bool{
	"enabled": true, "balance-factor": true, "spill-below": true, "max-wait": true,
	"key-path": true, "key-body-path": true, "key-body-field": true, "body-limit": true,
}

// readAffinity reads an <affinity> section. Errors name the file and line.
func readAffinity(sec *zconfig.Section) (AffinitySettings, error) {
	var a AffinitySettings
	if len(sec.Sections) > 0 {
		s := sec.Sections[0]
		return a, &zconfig.Error{Pos: s.Pos, Msg: fmt.Sprintf("<%s> inside <affinity>: it takes keys only", s.Type)}
	}
	for _, k := range sec.Keys {
		if !affinityKeys[k.Name] {
			return a, &zconfig.Error{Pos: k.Pos, Msg: fmt.Sprintf("%s: not a key of <affinity> (enabled, balance-factor, spill-below, max-wait, key-path, key-body-path, key-body-field, body-limit)", k.Name)}
		}
	}
	if k := sec.Get("enabled"); k != nil {
		on, err := onOff(k)
		if err != nil {
			return a, err
		}
		a.Off = !on
	}
	if k := sec.Get("balance-factor"); k != nil {
		f, err := strconv.ParseFloat(k.Value, 64)
		if err != nil || !(f >= 1 && f <= 100) { // NaN fails too
			return a, &zconfig.Error{Pos: k.Pos, Msg: fmt.Sprintf("balance-factor %q: want a number from 1 to 100 (1.25: a key's instance takes it while under 1.25 × the average load)", k.Value)}
		}
		a.Factor = f
	}
	if k := sec.Get("spill-below"); k != nil {
		n, err := strconv.Atoi(k.Value)
		if err != nil || n < 1 || n > 1<<16 {
			return a, &zconfig.Error{Pos: k.Pos, Msg: fmt.Sprintf("spill-below %q: want a whole number from 1 (to an idle instance only) up", k.Value)}
		}
		a.SpillBelow = n
	}
	if k := sec.Get("max-wait"); k != nil {
		f, err := strconv.ParseFloat(k.Value, 64)
		if err != nil || !(f >= 0.001 && f <= 3600) { // NaN fails too
			return a, &zconfig.Error{Pos: k.Pos, Msg: fmt.Sprintf("max-wait %q: want seconds from 0.001 to 3600 (0.05: 50 ms)", k.Value)}
		}
		a.MaxWait = time.Duration(f * float64(time.Second))
	}
	// Rules: the built-in ones, each kind given replacing its defaults.
	spec := balancer.DefaultKeySpec()
	given := false
	lists := map[string]*[]string{"key-path": &spec.Paths, "key-body-path": &spec.BodyPaths, "key-body-field": &spec.BodyFields}
	keysOf := map[string][]*zconfig.Key{}
	for _, k := range sec.Keys {
		if dst, ok := lists[k.Name]; ok {
			if keysOf[k.Name] == nil {
				*dst = nil
			}
			*dst = append(*dst, k.Value)
			keysOf[k.Name] = append(keysOf[k.Name], k)
			given = true
		}
	}
	if k := sec.Get("body-limit"); k != nil {
		n, err := strconv.Atoi(k.Value)
		if err != nil || n < 0 || n > balancer.MaxBody {
			return a, &zconfig.Error{Pos: k.Pos, Msg: fmt.Sprintf("body-limit %q: want bytes, a whole number from 0 (bodies are not read) to %d", k.Value, balancer.MaxBody)}
		}
		if n == 0 {
			spec.BodyPaths = nil
		} else {
			spec.BodyLimit = n
		}
		given = true
	}
	if !given {
		return a, nil
	}
	rules, err := balancer.NewKeyRules(spec)
	if err != nil {
		var ke *balancer.KeyRuleError
		if errors.As(err, &ke) {
			if ks := keysOf[ke.Kind]; ke.Index < len(ks) {
				return a, &zconfig.Error{Pos: ks[ke.Index].Pos, Msg: fmt.Sprintf("%s %q: %v", ke.Kind, ke.Value, ke.Err)}
			}
		}
		return a, &zconfig.Error{Pos: sec.Pos, Msg: fmt.Sprintf("<affinity>: %v", err)}
	}
	a.Rules = rules
	return a, nil
}
