// Package zconfig reads and writes ZConfig files, the configuration format of
// Zope 2 and ZEO (zope.conf, zeo.conf).
//
// The format is line based: "key value" pairs, nested sections written
// "<type [name]>" … "</type>", "%define NAME value" with later "$NAME" or
// "${NAME}" substitution ("$$" is a literal dollar), "%include file" relative
// to the including file, and "%import package". Comments are whole lines
// starting with "#". Names of keys, section types and defines are
// case-insensitive, as in ZConfig itself.
package zconfig

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// Pos is where a key or section was read: a file name and a 1-based line.
type Pos struct {
	File string
	Line int
}

// String implements fmt.Stringer.
func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Key is one "key value" line, its value already substituted.
type Key struct {
	Name  string // lower-cased
	Value string
	Pos   Pos
}

// Section is a "<type name>" block, or the file's top level (Type "").
type Section struct {
	Type     string // lower-cased
	Name     string // as written; may be empty
	Keys     []*Key
	Sections []*Section
	Pos      Pos
}

// Config is a parsed ZConfig file with its includes resolved.
type Config struct {
	Root    *Section
	Imports []string // packages named by %import, in order
	Files   []string // every file read, the main one first
}

// Error is a syntax or include error, with the position it was found at.
type Error struct {
	Pos Pos
	Msg string
	Err error // the underlying error, for a failed %include
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Pos, e.Msg) }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Hint is the next step.
func (e *Error) Hint() string {
	return "fix that line (ZConfig syntax: 'key value', <section> … </section>, %define NAME value)"
}

// ReadFunc returns the bytes of a file named relative to the main file's
// directory (slash-separated, already cleaned).
type ReadFunc func(name string) ([]byte, error)

// maxIncludeDepth stops %include cycles.
const maxIncludeDepth = 16

// Parse parses the file name, reading it and its includes with read.
func Parse(name string, read ReadFunc) (*Config, error) {
	p := &parser{read: read, defines: map[string]string{}, cfg: &Config{}}
	root := &Section{Pos: Pos{File: name, Line: 0}}
	p.cfg.Root = root
	stack := []*Section{root}
	if err := p.file(name, &stack, 0); err != nil {
		return nil, err
	}
	if len(stack) > 1 {
		open := stack[len(stack)-1]
		return nil, &Error{Pos: open.Pos, Msg: fmt.Sprintf("section <%s> is never closed; add </%s>", open.Type, open.Type)}
	}
	return p.cfg, nil
}

// ParseBytes parses data as the file name; %include is resolved with read,
// which may be nil when includes are not allowed.
func ParseBytes(name string, data []byte, read ReadFunc) (*Config, error) {
	return Parse(name, func(n string) ([]byte, error) {
		if n == name {
			return data, nil
		}
		if read == nil {
			return nil, errors.New("includes are not available here")
		}
		return read(n)
	})
}

type parser struct {
	read    ReadFunc
	defines map[string]string
	cfg     *Config
}

func (p *parser) file(name string, stack *[]*Section, depth int) error {
	data, err := p.read(name)
	if err != nil {
		return err
	}
	p.cfg.Files = append(p.cfg.Files, name)
	lines := strings.Split(string(data), "\n")
	for i, raw := range lines {
		pos := Pos{File: name, Line: i + 1}
		line := trim(raw)
		if line == "" || line[0] == '#' {
			continue
		}
		if err := p.line(line, pos, stack, depth); err != nil {
			return err
		}
	}
	return nil
}

func (p *parser) line(line string, pos Pos, stack *[]*Section, depth int) error {
	cur := (*stack)[len(*stack)-1]
	switch {
	case line[0] == '%':
		word, rest := cut(line[1:])
		switch strings.ToLower(word) {
		case "define":
			name, value := cut(rest)
			if !isName(name) {
				return &Error{Pos: pos, Msg: fmt.Sprintf("%%define needs a name of letters, digits and _; got %q", name)}
			}
			v, err := p.substitute(value, pos)
			if err != nil {
				return err
			}
			lname := strings.ToLower(name)
			if old, ok := p.defines[lname]; ok && old != v {
				return &Error{Pos: pos, Msg: fmt.Sprintf("%%define %s again with another value (ZConfig forbids redefinition)", name)}
			}
			p.defines[lname] = v
		case "include":
			target, err := p.substitute(rest, pos)
			if err != nil {
				return err
			}
			if target == "" {
				return &Error{Pos: pos, Msg: "%include needs a file name"}
			}
			if depth+1 >= maxIncludeDepth {
				return &Error{Pos: pos, Msg: "%include nested too deeply (a cycle?)"}
			}
			inc := target
			if !path.IsAbs(inc) {
				inc = path.Join(path.Dir(pos.File), inc)
			}
			if err := p.file(inc, stack, depth+1); err != nil {
				var ze *Error
				if errors.As(err, &ze) {
					return err
				}
				return &Error{Pos: pos, Msg: fmt.Sprintf("%%include %s: %v", target, err), Err: err}
			}
		case "import":
			if rest == "" {
				return &Error{Pos: pos, Msg: "%import needs a package name"}
			}
			p.cfg.Imports = append(p.cfg.Imports, rest)
		default:
			return &Error{Pos: pos, Msg: fmt.Sprintf("unknown directive %%%s (ZConfig knows %%define, %%include, %%import)", word)}
		}
	case line[0] == '<':
		if !strings.HasSuffix(line, ">") {
			return &Error{Pos: pos, Msg: fmt.Sprintf("section line %q does not end with '>'", line)}
		}
		inner := trim(line[1 : len(line)-1])
		if strings.HasPrefix(inner, "/") {
			typ := strings.ToLower(trim(inner[1:]))
			if len(*stack) == 1 {
				return &Error{Pos: pos, Msg: fmt.Sprintf("</%s> closes no open section", typ)}
			}
			if typ != cur.Type {
				return &Error{Pos: pos, Msg: fmt.Sprintf("</%s> closes <%s> opened at line %d; expected </%s>", typ, cur.Type, cur.Pos.Line, cur.Type)}
			}
			*stack = (*stack)[:len(*stack)-1]
			return nil
		}
		empty := strings.HasSuffix(inner, "/")
		inner = trim(strings.TrimSuffix(inner, "/"))
		typ, name := cut(inner)
		if !isSectionType(typ) {
			return &Error{Pos: pos, Msg: fmt.Sprintf("bad section type %q", typ)}
		}
		name, err := p.substitute(name, pos)
		if err != nil {
			return err
		}
		s := &Section{Type: strings.ToLower(typ), Name: trim(name), Pos: pos}
		cur.Sections = append(cur.Sections, s)
		if !empty {
			*stack = append(*stack, s)
		}
	default:
		name, value := cut(line)
		if !isKey(name) {
			return &Error{Pos: pos, Msg: fmt.Sprintf("bad key %q", name)}
		}
		v, err := p.substitute(value, pos)
		if err != nil {
			return err
		}
		// An empty substitution can leave white space at an end; values
		// are trimmed so that printing and parsing again agree.
		cur.Keys = append(cur.Keys, &Key{Name: strings.ToLower(name), Value: trim(v), Pos: pos})
	}
	return nil
}

// substitute replaces $NAME, ${NAME} and $$ as ZConfig does.
func (p *parser) substitute(s string, pos Pos) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(s) {
			return "", &Error{Pos: pos, Msg: "'$' at end of value; write $$ for a literal dollar"}
		}
		if s[i] == '$' {
			b.WriteByte('$')
			continue
		}
		var name string
		if s[i] == '{' {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return "", &Error{Pos: pos, Msg: "'${' without closing '}'"}
			}
			name = s[i+1 : i+end]
			i += end
		} else {
			j := i
			for j < len(s) && isNameByte(s[j]) {
				j++
			}
			name = s[i:j]
			i = j - 1
		}
		if !isName(name) {
			return "", &Error{Pos: pos, Msg: fmt.Sprintf("bad substitution name %q after '$'", name)}
		}
		v, ok := p.defines[strings.ToLower(name)]
		if !ok {
			return "", &Error{Pos: pos, Msg: fmt.Sprintf("$%s is not defined; add %%define %s above this line", name, name)}
		}
		b.WriteString(v)
	}
	return b.String(), nil
}

// space is the white space ZConfig splits and trims on (Python's).
const space = " \t\r\v\f"

func trim(s string) string { return strings.Trim(s, space) }

func cut(s string) (string, string) {
	i := strings.IndexAny(s, space)
	if i < 0 {
		return s, ""
	}
	return s[:i], trim(s[i:])
}

func isNameByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNameByte(s[i]) {
			return false
		}
	}
	return true
}

// isKey accepts ZConfig key names: letters, digits, '-', '_', '.'.
func isKey(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isNameByte(c) && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func isSectionType(s string) bool { return isKey(s) }

// Get returns the last key named name (keys are matched case-insensitively),
// or nil.
func (s *Section) Get(name string) *Key {
	name = strings.ToLower(name)
	for i := len(s.Keys) - 1; i >= 0; i-- {
		if s.Keys[i].Name == name {
			return s.Keys[i]
		}
	}
	return nil
}

// Value returns the value of key name, or def when it is absent.
func (s *Section) Value(name, def string) string {
	if k := s.Get(name); k != nil {
		return k.Value
	}
	return def
}

// Set sets key name to value: the last existing key is changed in place,
// otherwise a new key is appended.
func (s *Section) Set(name, value string) {
	if k := s.Get(name); k != nil {
		k.Value = value
		return
	}
	s.Keys = append(s.Keys, &Key{Name: strings.ToLower(name), Value: value})
}

// Children returns the direct subsections of type typ.
func (s *Section) Children(typ string) []*Section {
	typ = strings.ToLower(typ)
	var out []*Section
	for _, c := range s.Sections {
		if c.Type == typ {
			out = append(out, c)
		}
	}
	return out
}

// Walk calls fn for s and every section below it, depth first.
func (s *Section) Walk(fn func(*Section)) {
	fn(s)
	for _, c := range s.Sections {
		c.Walk(fn)
	}
}

// Clone returns a deep copy of cfg.
func (cfg *Config) Clone() *Config {
	out := &Config{Imports: append([]string(nil), cfg.Imports...), Files: append([]string(nil), cfg.Files...)}
	out.Root = cfg.Root.clone()
	return out
}

func (s *Section) clone() *Section {
	c := &Section{Type: s.Type, Name: s.Name, Pos: s.Pos}
	for _, k := range s.Keys {
		kk := *k
		c.Keys = append(c.Keys, &kk)
	}
	for _, sub := range s.Sections {
		c.Sections = append(c.Sections, sub.clone())
	}
	return c
}

// Remove deletes every key named name from s.
func (s *Section) Remove(name string) {
	name = strings.ToLower(name)
	keep := s.Keys[:0]
	for _, k := range s.Keys {
		if k.Name != name {
			keep = append(keep, k)
		}
	}
	s.Keys = keep
}
