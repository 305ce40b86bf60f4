package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// versionVar is the variable the linker sets to the release version.
const versionVar = "github.com/zenpatch/zenpatch/internal/buildinfo.Version"

// BuildBinary builds ./cmd/zenpatch under root for goos/goarch into out:
// static (no cgo), -trimpath, symbol tables stripped (-s -w; stack traces
// keep their file:line), the version linked in, and the commit recorded
// (-buildvcs=true overrides a GOFLAGS=-buildvcs=false).
func BuildBinary(ctx context.Context, root, version, goos, goarch, out string) error {
	args := []string{"build", "-trimpath", "-buildvcs=true",
		"-ldflags", "-s -w -X " + versionVar + "=" + version, "-o", out, "./cmd/zenpatch"}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if goarch == "amd64" {
		cmd.Env = append(cmd.Env, "GOAMD64=v1") // any x86-64 CPU, however old the host
	}
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// CheckStatic fails unless path is a statically linked x86-64 ELF
// executable: no program interpreter, no shared libraries.
func CheckStatic(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if f.Machine != elf.EM_X86_64 {
		return fmt.Errorf("%s: machine %v, not x86-64", path, f.Machine)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (it has a program interpreter)", path)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries: %s", path, strings.Join(libs, ", "))
	}
	return nil
}

// Recorded is what the go command recorded in a binary: the commit and
// whether the tree was modified ("" when it recorded none).
func Recorded(path string) (commit string, modified bool, goVersion string, err error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", false, "", err
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	return commit, modified, bi.GoVersion, nil
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("not inside the zenpatch module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}

// describe is `git describe --tags --always` in root, or "" outside git.
func describe(ctx context.Context, root string) string {
	cmd := exec.CommandContext(ctx, "git", "describe", "--tags", "--always")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// commitTime is HEAD's commit time in root (Unix seconds), or 0.
func commitTime(ctx context.Context, root string) int64 {
	cmd := exec.CommandContext(ctx, "git", "log", "-1", "--format=%ct")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return 0
	}
	var t int64
	_, _ = fmt.Sscan(strings.TrimSpace(string(out)), &t)
	return t
}
