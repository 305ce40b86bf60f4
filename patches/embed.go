// Package patches holds the multi-Zope patches for each Zenoss series, the
// index that maps Zenoss versions to them, and the code that reads both.
//
// The bundled set is embedded in the binary (Embedded); an operator's own
// directory with the same layout (index.json beside the .patch files) is
// read with Load.
package patches

import "embed"

//go:embed index.json *.patch
var embedded embed.FS

// vendorFS holds vendor/<release>/…: each supported release's files as
// shipped (bin/zopectl, etc/zope.conf, Products/ZenModel/ZVersion.py).
//
//go:embed vendor
var vendorFS embed.FS

// Embedded returns the patch set built into zenpatch.
func Embedded() *Set {
	s, err := load(embedded, "embedded patches")
	if err != nil {
		// The embedded set is checked by tests; failing here is a build bug.
		panic("zenpatch: embedded patch index: " + err.Error())
	}
	return s
}
