package patches

import (
	"fmt"
	"io/fs"
)

// Fixture is a vendor install's files, as shipped (paths as in the
// release: /opt/zenoss or /usr/local/zenoss).
type Fixture struct {
	Name  string            // e.g. "zenoss-4.2.5"
	Files map[string][]byte // by path relative to ZENHOME
}

// Fixtures returns the embedded vendor installs (2.x, 3.x and 4.x shapes):
// the ones 'zenpatch verify --patch-set' checks every patch against.
func Fixtures() ([]Fixture, error) {
	dirs, err := fs.ReadDir(vendorFS, "vendor")
	if err != nil {
		return nil, err
	}
	var out []Fixture
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		sub, err := fs.Sub(vendorFS, "vendor/"+d.Name())
		if err != nil {
			return nil, err
		}
		f, err := ReadFixture(d.Name(), sub)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// ReadFixture reads a fixture tree (bin/zopectl, Products/ZenModel/ZVersion.py, …).
func ReadFixture(name string, fsys fs.FS) (Fixture, error) {
	f := Fixture{Name: name, Files: map[string][]byte{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(fsys, p)
		f.Files[p] = data
		return err
	})
	if err != nil {
		return f, err
	}
	if _, ok := f.Files["bin/zopectl"]; !ok {
		return f, fmt.Errorf("fixture %s has no bin/zopectl", name)
	}
	return f, nil
}

// Vendor returns the embedded vendor install of one release, by its
// directory name ("zenoss-4.2.5").
func Vendor(name string) (Fixture, error) {
	sub, err := fs.Sub(vendorFS, "vendor/"+name)
	if err == nil {
		_, err = fs.Stat(sub, ".")
	}
	if err != nil {
		return Fixture{}, fmt.Errorf("no vendor files for %s", name)
	}
	return ReadFixture(name, sub)
}
