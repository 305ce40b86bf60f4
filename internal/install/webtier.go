package install

import (
	"bytes"
	"fmt"
	"strings"
)

// GlobalConfPath is Zenoss's global settings: "key value" lines, '#'
// comments.
const GlobalConfPath = "etc/global.conf"

// WebTier is the program that runs the install's web tier: bin/zenoss
// starts the one named by webserverctl in etc/global.conf, zopectl by
// default. The WebScale ZenPack sets "webserverctl zenwebserver" (nginx in
// front of its own Zope workers, configured in etc/zenwebserver.conf).
type WebTier struct {
	Program string `json:"program"`          // "zopectl", "zenwebserver", …
	Source  string `json:"source,omitempty"` // "etc/global.conf:7"; "" when defaulted
}

// Zopectl reports whether zopectl runs the web tier (zenpatch's case).
func (w WebTier) Zopectl() bool { return w.Program == "zopectl" }

// ReadWebTier reads webserverctl from etc/global.conf (missing file or
// key: zopectl). The value may be a name or a path (bin/zopectl).
func (i *Install) ReadWebTier() (WebTier, error) {
	w := WebTier{Program: "zopectl"}
	data, err := i.ReadFile(GlobalConfPath)
	if isNotExist(err) {
		return w, nil
	}
	if err != nil {
		return w, err
	}
	for n, line := range bytes.Split(data, []byte("\n")) {
		f := strings.Fields(strings.TrimSuffix(string(line), "\r"))
		if len(f) >= 2 && f[0] == "webserverctl" {
			prog := f[1]
			if k := strings.LastIndexByte(prog, '/'); k >= 0 {
				prog = prog[k+1:]
			}
			w = WebTier{Program: prog, Source: fmt.Sprintf("%s:%d", GlobalConfPath, n+1)}
		}
	}
	return w, nil
}

// WebTierError says the web tier is run by another program than zopectl:
// zenpatch leaves it alone.
type WebTierError struct{ WebTier WebTier }

// Error implements error.
func (e *WebTierError) Error() string {
	return fmt.Sprintf("the web tier is run by %s (%s: webserverctl %s), not zopectl: zenpatch leaves it alone", e.WebTier.Program, e.WebTier.Source, e.WebTier.Program)
}

// Hint is the next step.
func (e *WebTierError) Hint() string {
	if e.WebTier.Program == "zenwebserver" {
		return "WebScale's zenwebserver already runs several Zope workers behind nginx: scale them in etc/zenwebserver.conf"
	}
	return "zenpatch patches bin/zopectl only; scale the web tier with " + e.WebTier.Program + "'s own settings"
}
