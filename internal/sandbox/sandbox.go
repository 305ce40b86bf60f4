// Package sandbox creates Zenoss installs that run: real-shaped bin/zopectl,
// etc/zope.conf and ZVersion.py (the same bytes as the fixtures in
// patches/vendor, with ZENHOME and the HTTP port put in), whose zopectl
// starts a stand-in Zope: a Python program that plays Zope's control
// program (pid file, lock file, logs, daemonising, start/stop/status/fg)
// and its HTTP server, with GIL-bound page rendering and a cold start; and a
// stand-in bin/zenoss that plays Zenoss's upgrade flow (the first start
// after an upgrade migrates, then starts Zope, then deletes .upgraded). It
// needs python3 and nothing else. Used by tests and 'zenpatch demo' (Demo).
package sandbox

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"

	"github.com/zenpatch/zenpatch/patches"
)

//go:embed files
var files embed.FS // the stand-in Zope and the stand-in bin/zenoss

// Shapes are the install shapes a sandbox can take, by Zenoss version.
var Shapes = []string{"4.2.5", "3.2.1"}

// Options for Create.
type Options struct {
	Version string // one of Shapes; default "4.2.5"
	Port    int    // the HTTP port in zope.conf; default 8080
}

// ErrNoPython says python3 is missing.
var ErrNoPython error = noPython{}

type noPython struct{}

// Error implements error.
func (noPython) Error() string {
	return "python3 not found on PATH: the sandbox's stand-in Zope is a Python program"
}

// Hint is the next step.
func (noPython) Hint() string {
	return "install python3 (e.g. apt-get install python3) and run it again"
}

// Python returns python3's path, or ErrNoPython.
func Python() (string, error) {
	p, err := exec.LookPath("python3")
	if err != nil {
		return "", ErrNoPython
	}
	return p, nil
}

// Create writes a sandbox install into dir (created; it must be empty or
// missing) and returns nothing else: dir is its ZENHOME.
func Create(dir string, opt Options) error {
	if opt.Version == "" {
		opt.Version = "4.2.5"
	}
	if opt.Port == 0 {
		opt.Port = 8080
	}
	fx, err := patches.Vendor("zenoss-" + opt.Version)
	if err != nil {
		return fmt.Errorf("no sandbox shape for Zenoss %s (have %v)", opt.Version, Shapes)
	}
	home, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	if entries, err := os.ReadDir(home); err == nil && len(entries) > 0 {
		return fmt.Errorf("%s is not empty; a sandbox goes into a new directory", home)
	}
	python, err := Python()
	if err != nil {
		return err
	}
	for rel, data := range fx.Files {
		mode := fs.FileMode(0o644)
		if path.Dir(rel) == "bin" { // zopectl, runzope: scripts
			mode = 0o755
		}
		if err := write(filepath.Join(home, rel), Localize(data, home, opt.Port), mode); err != nil {
			return err
		}
	}
	standin, err := files.ReadFile("files/standin_zope.py")
	if err != nil {
		return err
	}
	standin = bytes.Replace(standin, []byte("#!/usr/bin/env python3"), []byte("#!"+python), 1)
	switch opt.Version {
	case "4.2.5": // ZDCTL="$ZENHOME/zopehome/zopectl", ZOPE_RUN="$ZENHOME/zopehome/runzope", run directly
		err = write(filepath.Join(home, "zopehome/zopectl"), standin, 0o755)
		if err == nil {
			err = write(filepath.Join(home, "zopehome/runzope"), standin, 0o755)
		}
	default: // exec "$PYTHON" "$SOFTWARE_HOME/Zope2/Startup/zopectl.py" (and run.py)
		err = write(filepath.Join(home, "lib/python/Zope2/Startup/zopectl.py"), standin, 0o644)
		if err == nil {
			err = write(filepath.Join(home, "lib/python/Zope2/Startup/run.py"), standin, 0o644)
		}
		if err == nil {
			err = os.Symlink(python, filepath.Join(home, "bin/python"))
		}
	}
	if err != nil {
		return err
	}
	master, err := files.ReadFile("files/zenoss")
	if err != nil {
		return err
	}
	if err := write(filepath.Join(home, "bin/zenoss"), Localize(master, home, opt.Port), 0o755); err != nil {
		return err
	}
	for _, d := range []string{"var", "log"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o755); err != nil {
			return err
		}
	}
	return nil
}

// Localize puts a sandbox's ZENHOME and HTTP port into a fixture file.
func Localize(data []byte, home string, port int) []byte {
	data = bytes.ReplaceAll(data, []byte("/opt/zenoss"), []byte(home))
	data = bytes.ReplaceAll(data, []byte("/usr/local/zenoss"), []byte(home))
	return bytes.ReplaceAll(data, []byte("address 8080"), []byte("address "+strconv.Itoa(port)))
}

func write(p string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, mode)
}

// Zopectl returns the stock (unpatched) zopectl of a shape, localized: what
// a vendor upgrade would put back.
func Zopectl(version, home string) ([]byte, error) {
	fx, err := patches.Vendor("zenoss-" + version)
	if err != nil {
		return nil, err
	}
	data := fx.Files["bin/zopectl"]
	return Localize(data, home, 0), nil
}
