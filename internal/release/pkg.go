package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/deb"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"
)

// Metadata common to both packages.
const (
	pkgName     = "zenpatch"
	pkgHomepage = "https://github.com/zenpatch/zenpatch"
	// pkgLicense: the repository has no license file and the README names
	// none, so no license is granted: all rights reserved.
	pkgLicense  = "Proprietary"
	pkgVendor   = "zenpatch"
	pkgLongDesc = `zenpatch patches a Zenoss Core 2.x-4.x install's bin/zopectl to run
several Zope instances, sizes their number from the CPUs and memory the
machine really lets it use, runs them behind its own HTTP balancer, applies
the patch again after every Zenoss upgrade (a yum/dnf post-transaction
hook) and restarts the instances one at a time. One static binary with the
patches embedded; no dependencies.`
	// DefaultMaintainer is the Maintainer (deb) and Packager (rpm) unless
	// --maintainer says otherwise.
	DefaultMaintainer = "zenpatch maintainers <" + pkgHomepage + "/issues>"
)

// Where the packages install things. /usr/bin, not /usr/local/bin: the FHS
// leaves /usr/local to the local administrator, and Debian policy (9.1.2)
// and Fedora's packaging guidelines forbid packages to install there. The
// hand-installed binary (README) goes to /usr/local/bin instead.
const (
	binPath     = "/usr/bin/zenpatch"
	docDir      = "/usr/share/doc/zenpatch"
	manPath     = "/usr/share/man/man1/zenpatch.1.gz"
	debComplete = "/usr/share/bash-completion/completions/zenpatch"
	// rpmComplete: RHEL/CentOS 6's bash-completion (1.x, EPEL) reads only
	// /etc/bash_completion.d; RHEL/CentOS 7's (2.1) reads it too, eagerly,
	// beside its on-demand /usr/share/bash-completion/completions. One RPM
	// serves both, so it uses the directory both read.
	rpmComplete = "/etc/bash_completion.d/zenpatch"
)

// Compression: gzip in both, which every rpm and every dpkg reads. rpm 4.8
// (RHEL/CentOS 6) also reads xz, but its xz-libs is a 4.999.9 beta, and
// xz would save 8 % (0.5 MiB) at three times gzip's build time; zstd needs
// rpm 4.14 (RHEL 8). nfpm's RPM payload is written fast (level 1) because
// FixRPM writes it again, at level 9 as the header's PAYLOADFLAGS says.
const (
	rpmCompression = "gzip:1"
	debCompression = "gzip" // level 9
)

// Staged are the files that go into the packages.
type Staged struct {
	Binary     string // the static linux/amd64 binary
	README     string
	ManPage    string // zenpatch.1.gz
	Completion string // the bash completion script
}

// PackageInfo is the metadata of one build.
type PackageInfo struct {
	Version    Version
	Summary    string // one line, from `zenpatch help`
	Maintainer string
	MTime      time.Time // every file's time, and the RPM's build time
}

func content(src, dst string, mode os.FileMode, mtime time.Time, typ, packager string) *files.Content {
	return &files.Content{
		Source: src, Destination: dst, Type: typ, Packager: packager,
		FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: mode, MTime: mtime},
	}
}

func nfpmInfo(p PackageInfo, s Staged) *nfpm.Info {
	t := p.MTime
	info := &nfpm.Info{
		Name:          pkgName,
		Arch:          "amd64",
		Platform:      "linux",
		VersionSchema: "none", // versions are mapped here, per format
		Section:       "admin",
		Priority:      "optional",
		Maintainer:    p.Maintainer,
		Description:   p.Summary + "\n" + pkgLongDesc, // deb: synopsis, then the rest
		Vendor:        pkgVendor,
		Homepage:      pkgHomepage,
		License:       pkgLicense,
		MTime:         t,
		Overridables: nfpm.Overridables{
			Umask: 0o022,
			Contents: files.Contents{
				content(s.Binary, binPath, 0o755, t, "", ""),
				// deb: plain files (docs are not special to dpkg)
				content(s.README, docDir+"/README.md", 0o644, t, "", "deb"),
				content(s.ManPage, manPath, 0o644, t, "", "deb"),
				content(s.Completion, debComplete, 0o644, t, "", "deb"),
				// rpm: the doc directory owned (so removal removes it), the
				// README and man page marked %doc (skipped under
				// --excludedocs, as rpmbuild marks them), the completion
				// a %config file since it lives under /etc.
				{Destination: docDir, Type: files.TypeDir, Packager: "rpm",
					FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: 0o755, MTime: t}},
				content(s.README, docDir+"/README.md", 0o644, t, files.TypeRPMDoc, "rpm"),
				content(s.ManPage, manPath, 0o644, t, files.TypeRPMDoc, "rpm"),
				content(s.Completion, rpmComplete, 0o644, t, files.TypeConfig, "rpm"),
			},
			RPM: nfpm.RPM{
				Group:       "Applications/System",
				Summary:     strings.TrimSuffix(sentence(p.Summary), "."), // rpm: capitalized
				Compression: rpmCompression,
				Packager:    p.Maintainer,
			},
			Deb: nfpm.Deb{Compression: debCompression},
		},
	}
	return nfpm.WithDefaults(info)
}

// BuildRPM writes the RPM into dir and returns its path.
func BuildRPM(p PackageInfo, s Staged, dir string) (string, error) {
	info := nfpmInfo(p, s)
	info.Version, info.Release = p.Version.RPM()
	info.Description = pkgLongDesc // rpm: Summary is a tag of its own
	info.Target = filepath.Join(dir, rpm.DefaultRPM.ConventionalFileName(info))
	var buf bytes.Buffer
	if err := rpm.DefaultRPM.Package(info, &buf); err != nil {
		return "", fmt.Errorf("rpm: %w", err)
	}
	pkg, err := FixRPM(buf.Bytes(), p.MTime)
	if err != nil {
		return "", fmt.Errorf("rpm: %w", err)
	}
	return info.Target, writeFileAtomic(info.Target, pkg, 0o644)
}

// BuildDeb writes the .deb into dir and returns its path.
func BuildDeb(p PackageInfo, s Staged, dir string) (string, error) {
	info := nfpmInfo(p, s)
	info.Version = p.Version.Core
	info.Prerelease, info.VersionMetadata = p.Version.Pre, p.Version.Build
	_, info.Release = p.Version.Deb()
	info.Target = filepath.Join(dir, deb.Default.ConventionalFileName(info))
	var buf bytes.Buffer
	if err := deb.Default.Package(info, &buf); err != nil {
		return "", fmt.Errorf("deb: %w", err)
	}
	return info.Target, writeFileAtomic(info.Target, buf.Bytes(), 0o644)
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, so a failed or interrupted build leaves no partial file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // after the rename, a no-op
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
