package balancer

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
)

// Object affinity keys. A Zope instance keeps its own cache of ZODB objects,
// so a request is cheapest on the instance that served the same object last.
// A request's key names the object it is about; requests with the same key
// go to the same instance (see Ring and KeyAffinity). Rules are regular
// expressions over URL paths, tried in order; the first that matches gives
// the key, its one capture group. An Ext.Direct router call (a POST whose
// path matches a body rule) names its object in the JSON body instead: the
// string values of the body fields (uid, uids) are matched by the same path
// rules, and the first that gives a key wins. A request without a key goes
// to the least busy instance, as without affinity.
//
// The default rules are Zenoss's (DefaultKeySpec):
//
//   - a device and everything under it (its components, graphs, events) is
//     keyed by the device id alone, …/devices/<id>[/…]: Zenoss refuses a
//     device id that exists anywhere under /zport/dmd/Devices
//     (DeviceClass._checkDeviceExists and Device.renameDevice call
//     Devices.findDeviceByIdExact), so the id names one device whichever
//     organizer path (device class, group, system, location) leads to it;
//   - organizer pages (/zport/dmd/Devices/<class…>, Groups, Systems,
//     Locations) by their path below /zport/dmd;
//   - router calls (POST …_router) by the uid or uids in their JSON body,
//     single calls or batches.

// KeySpec is the text of a set of key rules, as etc/zenpatch.conf gives
// them (key-path, key-body-path, key-body-field, body-limit lines).
type KeySpec struct {
	// Paths are regular expressions (RE2 syntax) with one capture group,
	// tried in order on a request's path (query string cut off) and on body
	// field values; the first that matches gives the key: what its group
	// captured. An empty capture gives no key.
	Paths []string
	// BodyPaths are regular expressions: a POST whose path matches one of
	// them has its JSON body read for BodyFields. None: bodies are not read.
	BodyPaths []string
	// BodyFields are JSON object member names whose values (a string, or an
	// array of strings) are matched by Paths, at any depth of the body, in
	// the order they appear in it.
	BodyFields []string
	// BodyLimit is the largest body read, in bytes; a larger one is not
	// (default DefaultBodyLimit). Router calls are a few hundred bytes; a
	// large body is an upload, not a lookup.
	BodyLimit int
}

// DefaultBodyLimit is the largest request body read for a key, in bytes.
const DefaultBodyLimit = 64 << 10

// Limits on rules, so that a settings file cannot make key extraction slow.
const (
	maxKeyRules   = 64
	maxRuleBytes  = 1024
	maxKeyBytes   = 512  // a longer capture gives no key
	maxValueBytes = 1024 // a longer body value with escapes is not read
	maxBodyDepth  = 64   // a body nested deeper is not read further
)

// DefaultKeySpec returns Zenoss's key rules (see the package's
// description of object affinity above).
func DefaultKeySpec() KeySpec {
	return KeySpec{
		Paths: []string{
			// …/devices/<id>[/component…]: the device id (unique across
			// device classes); any organizer path leading to it.
			`/devices/([^/?#]+)`,
			// Organizers: device classes, groups, systems, locations.
			// (?:/|\z) ends the path at a segment's end: not "DevicesX".
			`/zport/dmd/((?:Devices|Groups|Systems|Locations)(?:/[^/?#]+)*)(?:/|\z)`,
		},
		BodyPaths:  []string{`_router`},
		BodyFields: []string{"uid", "uids"},
		BodyLimit:  DefaultBodyLimit,
	}
}

// KeyRuleError is a rule that does not compile: the Index-th line of its
// Kind ("key-path", "key-body-path", "key-body-field"), counted from 0.
type KeyRuleError struct {
	Kind  string
	Index int
	Value string
	Err   error
}

// Error implements error.
func (e *KeyRuleError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %v", e.Kind, e.Err)
	}
	return fmt.Sprintf("%s %q: %v", e.Kind, e.Value, e.Err)
}

// Unwrap returns the underlying error.
func (e *KeyRuleError) Unwrap() error { return e.Err }

// pathRule is one compiled key-path rule.
type pathRule struct {
	re *regexp.Regexp
	// lit must occur in any path the rule matches: a path without it is
	// passed over without running the regular expression.
	lit []byte
	// simple, when set, is the rule's shape lit([^stop]+) with no anchors:
	// matched by hand, without the regexp engine (the common rule shape;
	// about ten times as fast).
	simple bool
	stop   [256]bool // bytes that end a simple rule's capture
}

// KeyRules are compiled key rules; the zero value gives no keys. They are
// read-only once made, and safe for concurrent use.
type KeyRules struct {
	paths     []pathRule
	bodyPaths []pathRule
	fields    [][]byte
	limit     int
	spec      KeySpec
}

// NewKeyRules compiles spec. An error is a *KeyRuleError naming the rule.
func NewKeyRules(spec KeySpec) (*KeyRules, error) {
	r := &KeyRules{limit: spec.BodyLimit, spec: spec}
	if r.limit == 0 {
		r.limit = DefaultBodyLimit
		r.spec.BodyLimit = DefaultBodyLimit
	}
	if r.limit < 0 {
		return nil, &KeyRuleError{Kind: "body-limit", Value: fmt.Sprint(spec.BodyLimit), Err: errors.New("want a size of 0 or more bytes")}
	}
	if n := len(spec.Paths) + len(spec.BodyPaths) + len(spec.BodyFields); n > maxKeyRules {
		return nil, &KeyRuleError{Kind: "key rules", Err: fmt.Errorf("%d lines, at most %d", n, maxKeyRules)}
	}
	for i, p := range spec.Paths {
		pr, err := compileRule(p, 1)
		if err != nil {
			return nil, &KeyRuleError{Kind: "key-path", Index: i, Value: p, Err: err}
		}
		r.paths = append(r.paths, pr)
	}
	for i, p := range spec.BodyPaths {
		pr, err := compileRule(p, -1)
		if err != nil {
			return nil, &KeyRuleError{Kind: "key-body-path", Index: i, Value: p, Err: err}
		}
		r.bodyPaths = append(r.bodyPaths, pr)
	}
	for i, f := range spec.BodyFields {
		if err := checkField(f); err != nil {
			return nil, &KeyRuleError{Kind: "key-body-field", Index: i, Value: f, Err: err}
		}
		r.fields = append(r.fields, []byte(f))
	}
	return r, nil
}

// DefaultKeyRules returns the compiled DefaultKeySpec.
func DefaultKeyRules() *KeyRules {
	r, err := NewKeyRules(DefaultKeySpec())
	if err != nil {
		panic("balancer: default key rules: " + err.Error()) // a bug, caught by the tests
	}
	return r
}

// Spec returns the rules' text.
func (r *KeyRules) Spec() KeySpec { return r.spec }

// compileRule compiles one rule; groups is the number of capture groups it
// must have (-1: any).
func compileRule(expr string, groups int) (pathRule, error) {
	var pr pathRule
	if expr == "" {
		return pr, errors.New("want a regular expression")
	}
	if len(expr) > maxRuleBytes {
		return pr, fmt.Errorf("longer than %d bytes", maxRuleBytes)
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return pr, err
	}
	if groups >= 0 && re.NumSubexp() != groups {
		return pr, fmt.Errorf("want exactly one capture group (the key), found %d; write (?:…) for the others", re.NumSubexp())
	}
	pr.re = re
	tree, err := syntax.Parse(expr, syntax.Perl)
	if err != nil { // regexp.Compile accepted it with the same flags
		return pr, err
	}
	tree = tree.Simplify()
	pr.lit = requiredLiteral(tree)
	if groups == 1 {
		pr.simple = simpleShape(tree, &pr)
	}
	return pr, nil
}

// requiredLiteral returns the longest literal that every match contains: a
// literal among the top-level parts of a concatenation (or the whole
// expression), not folded for case. Nil when there is none.
func requiredLiteral(re *syntax.Regexp) []byte {
	parts := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		parts = re.Sub
	}
	var best []rune
	for _, p := range parts {
		if p.Op == syntax.OpLiteral && p.Flags&syntax.FoldCase == 0 && len(p.Rune) > len(best) {
			best = p.Rune
		}
	}
	if best == nil {
		return nil
	}
	return []byte(string(best))
}

// simpleShape reports whether re is lit([^set]+) (a literal, then a
// capture of one or more bytes outside a set of ASCII bytes, nothing
// else) and records the set of stop bytes in pr. Such a rule matches at
// the first occurrence of lit followed by a byte outside the set, and
// captures up to the next byte in it.
func simpleShape(re *syntax.Regexp, pr *pathRule) bool {
	if re.Op != syntax.OpConcat || len(re.Sub) != 2 {
		return false
	}
	lit, capt := re.Sub[0], re.Sub[1]
	if lit.Op != syntax.OpLiteral || lit.Flags&syntax.FoldCase != 0 || capt.Op != syntax.OpCapture {
		return false
	}
	plus := capt.Sub[0]
	if plus.Op != syntax.OpPlus || plus.Flags&syntax.NonGreedy != 0 || plus.Sub[0].Op != syntax.OpCharClass {
		return false
	}
	// A negated class of ASCII bytes is, as ranges, everything but them:
	// [0, a-1], [a+1, b-1], …, [z+1, MaxRune]. Collect what is left out.
	cls := plus.Sub[0].Rune
	if len(cls) == 0 || cls[0] != 0 || cls[len(cls)-1] != utf8.MaxRune {
		return false
	}
	var stop [256]bool
	for i := 1; i+1 < len(cls); i += 2 {
		lo, hi := cls[i]+1, cls[i+1]-1 // the gap between two ranges
		if lo > hi || hi >= utf8.RuneSelf {
			return false
		}
		for c := lo; c <= hi; c++ {
			stop[c] = true
		}
	}
	// The ranges must cover all else: the gaps found are the only ones.
	pr.stop = stop
	return true
}

// checkField checks a body field name: what is written between the quotes
// of a JSON member name, without escapes.
func checkField(f string) error {
	if f == "" || len(f) > 128 {
		return errors.New("want a JSON member name of 1 to 128 characters")
	}
	for i := 0; i < len(f); i++ {
		if c := f[i]; c < 0x20 || c == '"' || c == '\\' || c == 0x7f {
			return errors.New("want a JSON member name without quotes, backslashes or control characters")
		}
	}
	return nil
}

// Key returns the key of a request: method, the path of its target (a
// query string is cut off), its Content-Type and body (nil when it has
// none). ok is false when no rule gives one. It does not keep or change
// the slices given.
func (r *KeyRules) Key(method string, path, contentType, body []byte) (key string, ok bool) {
	k, ok := r.keyBytes(method, path, contentType, body)
	return string(k), ok
}

// Hash is KeyHash(Key(…)) without making the key a string: the request
// path calls this one (no allocation).
func (r *KeyRules) Hash(method string, path, contentType, body []byte) (hash uint64, ok bool) {
	k, ok := r.keyBytes(method, path, contentType, body)
	if !ok {
		return 0, false
	}
	return xxhash.Sum64(k), true
}

// keyBytes is Key; the key is a part of path, of body, or of a body value
// with escapes, unescaped (the only case that allocates).
func (r *KeyRules) keyBytes(method string, path, contentType, body []byte) ([]byte, bool) {
	if r == nil {
		return nil, false
	}
	if q := bytes.IndexByte(path, '?'); q >= 0 {
		path = path[:q]
	}
	if method == "POST" && len(body) > 0 && len(body) <= r.limit && len(r.fields) > 0 && jsonType(contentType) && r.bodyPath(path) {
		if k := r.bodyKey(body); k != nil {
			return k, true
		}
	}
	if k := r.match(path); k != nil {
		return k, true
	}
	return nil, false
}

// jsonType reports whether a body of this Content-Type may be JSON: none
// given, or a media type with "json" in it (application/json,
// application/vnd.x+json; parameters allowed).
func jsonType(ct []byte) bool {
	if len(ct) == 0 {
		return true
	}
	if i := bytes.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	for i := 0; i+4 <= len(ct); i++ {
		if (ct[i]|0x20) == 'j' && (ct[i+1]|0x20) == 's' && (ct[i+2]|0x20) == 'o' && (ct[i+3]|0x20) == 'n' {
			return true
		}
	}
	return false
}

func (r *KeyRules) bodyPath(path []byte) bool {
	for i := range r.bodyPaths {
		p := &r.bodyPaths[i]
		if p.lit != nil && !bytes.Contains(path, p.lit) {
			continue
		}
		if p.re.Match(path) {
			return true
		}
	}
	return false
}

// match returns the key the path rules give s, or nil. The result is a
// part of s.
func (r *KeyRules) match(s []byte) []byte {
	for i := range r.paths {
		p := &r.paths[i]
		if p.simple {
			if k := p.matchSimple(s); k != nil {
				return k
			}
			continue
		}
		if p.lit != nil && !bytes.Contains(s, p.lit) {
			continue
		}
		m := p.re.FindSubmatchIndex(s)
		if m == nil || m[2] < 0 || m[3] == m[2] || m[3]-m[2] > maxKeyBytes {
			continue
		}
		return s[m[2]:m[3]]
	}
	return nil
}

// matchSimple matches a rule of the shape lit([^stop]+): the leftmost
// occurrence of lit followed by at least one byte that is not a stop byte.
// Non-ASCII bytes are never stop bytes, as in the regexp (which works on
// UTF-8 runes: a rune outside the class is captured whole).
func (p *pathRule) matchSimple(s []byte) []byte {
	for off := 0; ; {
		i := bytes.Index(s[off:], p.lit)
		if i < 0 {
			return nil
		}
		start := off + i + len(p.lit)
		end := start
		for end < len(s) && !p.stop[s[end]] {
			end++
		}
		if end > start {
			if end-start > maxKeyBytes {
				return nil
			}
			return s[start:end]
		}
		off += i + 1
	}
}

// bodyKey scans a JSON body for the members named by r.fields and returns
// the key of the first value the path rules give one. It is a scanner, not
// a validator: it follows strings and nesting, and stops at the first thing
// it cannot read (a malformed body gives the keys found before it).
func (r *KeyRules) bodyKey(body []byte) []byte {
	depth := 0
	for i := 0; i < len(body); {
		switch body[i] {
		case '{', '[':
			if depth++; depth > maxBodyDepth {
				return nil
			}
			i++
			continue
		case '}', ']':
			depth--
			i++
			continue
		case '"':
		default:
			i++
			continue
		}
		name, esc, end := scanString(body, i)
		if end < 0 {
			return nil
		}
		i = skipSpace(body, end)
		if i >= len(body) || body[i] != ':' || esc || !r.isField(name) {
			continue // a value, or a member we do not want
		}
		i = skipSpace(body, i+1)
		if i >= len(body) {
			return nil
		}
		switch body[i] {
		case '"':
			v, vesc, vend := scanString(body, i)
			if vend < 0 {
				return nil
			}
			if k := r.valueKey(v, vesc); k != nil {
				return k
			}
			i = vend
		case '[': // an array of strings; anything else in it ends the look
			if depth++; depth > maxBodyDepth {
				return nil
			}
			i = skipSpace(body, i+1)
			for i < len(body) && body[i] == '"' {
				v, vesc, vend := scanString(body, i)
				if vend < 0 {
					return nil
				}
				if k := r.valueKey(v, vesc); k != nil {
					return k
				}
				i = skipSpace(body, vend)
				if i < len(body) && body[i] == ',' {
					i = skipSpace(body, i+1)
				}
			}
		}
	}
	return nil
}

func (r *KeyRules) isField(name []byte) bool {
	for _, f := range r.fields {
		if bytes.Equal(name, f) {
			return true
		}
	}
	return false
}

// valueKey is the key of a body string value (esc: it has escapes, and is
// unescaped first), or nil.
func (r *KeyRules) valueKey(v []byte, esc bool) []byte {
	if esc {
		if len(v) > maxValueBytes {
			return nil
		}
		u, ok := unescape(make([]byte, 0, maxValueBytes), v)
		if !ok {
			return nil
		}
		v = u
	}
	return r.match(v)
}

// scanString reads the JSON string that starts at s[i] == '"'. It returns
// its contents (escapes as written), whether it has escapes, and the index
// after the closing quote, or end -1 when the string does not end.
func scanString(s []byte, i int) (str []byte, esc bool, end int) {
	j := i + 1
	for {
		k := bytes.IndexByte(s[j:], '"')
		if k < 0 {
			return nil, false, -1
		}
		q := j + k
		// The quote is escaped when an odd number of backslashes precede it.
		n := 0
		for q-1-n > i && s[q-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			str = s[i+1 : q]
			return str, bytes.IndexByte(str, '\\') >= 0, q + 1
		}
		j = q + 1
	}
}

func skipSpace(s []byte, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

// unescape appends the JSON string contents s, unescaped, to dst; it fails
// on a bad escape or when the result would exceed cap(dst).
func unescape(dst, s []byte) ([]byte, bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' {
			if len(dst) == cap(dst) {
				return nil, false
			}
			dst = append(dst, c)
			continue
		}
		if i++; i >= len(s) {
			return nil, false
		}
		var r rune
		switch s[i] {
		case '"', '\\', '/':
			r = rune(s[i])
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			var ok bool
			if r, ok = hex4(s, i+1); !ok {
				return nil, false
			}
			i += 4
			if utf16High(r) {
				if i+2 < len(s) && s[i+1] == '\\' && s[i+2] == 'u' {
					if lo, ok := hex4(s, i+3); ok && lo >= 0xdc00 && lo <= 0xdfff {
						r = (r-0xd800)<<10 + (lo - 0xdc00) + 0x10000
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
		default:
			return nil, false
		}
		if n := utf8.RuneLen(r); n < 0 || len(dst)+n > cap(dst) {
			return nil, false
		}
		dst = utf8.AppendRune(dst, r)
	}
	return dst, true
}

func utf16High(r rune) bool { return r >= 0xd800 && r <= 0xdbff }

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// String describes the rules in the syntax of etc/zenpatch.conf's
// <affinity> section (for logs and status).
func (r *KeyRules) String() string {
	var b strings.Builder
	for _, p := range r.spec.Paths {
		fmt.Fprintf(&b, "key-path %s\n", p)
	}
	for _, p := range r.spec.BodyPaths {
		fmt.Fprintf(&b, "key-body-path %s\n", p)
	}
	for _, f := range r.spec.BodyFields {
		fmt.Fprintf(&b, "key-body-field %s\n", f)
	}
	fmt.Fprintf(&b, "body-limit %d\n", r.limit)
	return b.String()
}
