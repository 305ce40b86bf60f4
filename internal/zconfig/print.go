package zconfig

import (
	"bytes"
	"strings"
)

// Print writes cfg back as ZConfig text: %import lines, then keys and
// sections, indented two spaces a level. Values are written substituted
// (no %define), with '$' escaped as "$$", so parsing the output yields the
// same tree.
func Print(cfg *Config) []byte {
	var b bytes.Buffer
	for _, imp := range cfg.Imports {
		b.WriteString("%import " + imp + "\n")
	}
	printBody(&b, cfg.Root, "")
	return b.Bytes()
}

func printBody(b *bytes.Buffer, s *Section, indent string) {
	for _, k := range s.Keys {
		b.WriteString(indent + k.Name)
		if k.Value != "" {
			b.WriteString(" " + escape(k.Value))
		}
		b.WriteByte('\n')
	}
	for _, c := range s.Sections {
		b.WriteString(indent + "<" + c.Type)
		if c.Name != "" {
			b.WriteString(" " + escape(c.Name))
		}
		b.WriteString(">\n")
		printBody(b, c, indent+"  ")
		b.WriteString(indent + "</" + c.Type + ">\n")
	}
}

func escape(v string) string { return strings.ReplaceAll(v, "$", "$$") }
