package zconfig

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/zenpatch/zenpatch/internal/fixture"
)

// FuzzParse: parsing never panics; whatever parses prints to text that
// parses to the same tree (print → parse → print is stable); on error there
// is no partial result.
func FuzzParse(f *testing.F) {
	var seeds []string
	for _, d := range fixture.All() {
		confs, _ := filepath.Glob(filepath.Join(d, "etc", "*.conf"))
		seeds = append(seeds, confs...)
	}
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("%define A x\nk $A ${A} $$\n<s n>\n<t/>\n</s>\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseBytes("f.conf", data, nil)
		if err != nil {
			if cfg != nil {
				t.Fatal("partial result with an error")
			}
			return
		}
		out := Print(cfg)
		again, err := ParseBytes("printed.conf", out, nil)
		if err != nil {
			t.Fatalf("printed config does not parse: %v\n%s", err, out)
		}
		if string(Print(again)) != string(out) {
			t.Fatalf("print is not stable:\n%s\n---\n%s", out, Print(again))
		}
	})
}
