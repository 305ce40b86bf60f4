package main

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
	"github.com/goreleaser/nfpm/v2"
	"github.com/goreleaser/nfpm/v2/files"
	"github.com/goreleaser/nfpm/v2/rpm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testMTime = time.Unix(1790000000, 0).UTC()

// smallRPM is an RPM as nfpm writes it, holding a file and a directory.
func smallRPM(t testing.TB) []byte {
	t.Helper()
	src := filepath.Join(t.TempDir(), "hello")
	require.NoError(t, os.WriteFile(src, []byte("hello\n"), 0o644))
	info := nfpm.WithDefaults(&nfpm.Info{
		Name: "hello", Arch: "amd64", Version: "1.0.0", VersionSchema: "none", License: "Proprietary",
		Description: "a test", MTime: testMTime,
		Overridables: nfpm.Overridables{
			Contents: files.Contents{
				content(src, "/usr/share/hello/hello.txt", 0o644, testMTime, "", ""),
				{Destination: "/usr/share/hello", Type: files.TypeDir,
					FileInfo: &files.ContentFileInfo{Owner: "root", Group: "root", Mode: 0o755, MTime: testMTime}},
			},
			RPM: nfpm.RPM{Compression: "gzip", BuildHost: "test"},
		},
	})
	var b bytes.Buffer
	require.NoError(t, rpm.DefaultRPM.Package(info, &b))
	return b.Bytes()
}

// parts returns an RPM's signature entries, main-header entries, header
// and payload.
func parts(t *testing.T, pkg []byte) (sig, hdr map[int32]*hdrEntry, header, payload []byte) {
	t.Helper()
	se, n, err := readHeader(pkg[leadSize:])
	require.NoError(t, err)
	start := leadSize + n + (8-n%8)%8
	he, hlen, err := readHeader(pkg[start:])
	require.NoError(t, err)
	return byTag(se), byTag(he), pkg[start : start+hlen], pkg[start+hlen:]
}

// members lists a gzip cpio payload's member names and times.
func members(t *testing.T, payload []byte) map[string]time.Time {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(payload))
	require.NoError(t, err)
	cr := cpio.NewReader(zr)
	m := map[string]time.Time{}
	for {
		h, err := cr.Next()
		if errors.Is(err, io.EOF) {
			return m
		}
		require.NoError(t, err)
		m[h.Name] = h.ModTime.UTC()
	}
}

func TestFixRPM(t *testing.T) {
	orig := smallRPM(t)
	sigBefore, hdrBefore, headerBefore, payloadBefore := parts(t, orig)
	require.NotContains(t, sigBefore, int32(sigTagSHA1), "nfpm writes SHA-1 now: FixRPM's digests may go")
	require.NotContains(t, sigBefore, int32(sigTagMD5), "nfpm writes MD5 now: FixRPM's digests may go")
	require.Contains(t, members(t, payloadBefore), "/usr/share/hello/hello.txt", "nfpm writes relative names now: FixRPM's payload rewrite may go")

	pkg, err := FixRPM(orig, testMTime)
	require.NoError(t, err)
	assert.Equal(t, orig[:leadSize], pkg[:leadSize], "lead unchanged")
	sig, hdr, header, payload := parts(t, pkg)

	assert.Equal(t, map[string]time.Time{"./usr/share/hello": testMTime, "./usr/share/hello/hello.txt": testMTime}, members(t, payload))
	assert.Equal(t, len(headerBefore), len(header), "header layout unchanged")
	for tag, e := range hdrBefore {
		if tag != tagPayloadDigest {
			assert.Equal(t, e, hdr[tag], "header tag %d unchanged", tag)
		}
	}
	assert.Equal(t, hexSHA256(payload), cstring(hdr[tagPayloadDigest].data))

	sha := sha1.Sum(header)
	md := md5.Sum(append(bytes.Clone(header), payload...))
	assert.Equal(t, hex.EncodeToString(sha[:]), cstring(sig[sigTagSHA1].data))
	assert.Equal(t, md[:], sig[sigTagMD5].data)
	assert.Equal(t, hexSHA256(header), cstring(sig[sigTagSHA256].data))
	assert.Zero(t, (len(pkg)-len(header)-len(payload))%8, "signature header padded to 8 bytes")

	again, err := FixRPM(pkg, testMTime)
	require.NoError(t, err)
	assert.Equal(t, pkg, again, "idempotent")
}

// TestFixRPMWithRPM has rpm itself check the digests, fail them once the
// payload is damaged, and extract the payload with rpm2cpio and cpio into
// the working directory.
func TestFixRPMWithRPM(t *testing.T) {
	for _, tool := range []string{"rpm", "rpm2cpio", "cpio"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skip(tool + " not installed")
		}
	}
	pkg, err := FixRPM(smallRPM(t), testMTime)
	require.NoError(t, err)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.rpm")
	require.NoError(t, os.WriteFile(good, pkg, 0o644))
	out, err := exec.Command("rpm", "-Kv", good).CombinedOutput()
	require.NoError(t, err, string(out))
	for _, d := range []string{"Header SHA256 digest: OK", "Header SHA1 digest: OK", "Payload SHA256 digest: OK", "MD5 digest: OK"} {
		assert.Contains(t, string(out), d)
	}

	x := filepath.Join(dir, "x")
	require.NoError(t, os.Mkdir(x, 0o755))
	cmd := exec.Command("sh", "-c", "rpm2cpio \"$1\" | cpio -idm --quiet", "sh", good)
	cmd.Dir = x
	out, err = cmd.CombinedOutput()
	require.NoError(t, err, string(out))
	data, err := os.ReadFile(filepath.Join(x, "usr/share/hello/hello.txt"))
	require.NoError(t, err, "extracted below the working directory")
	assert.Equal(t, "hello\n", string(data))
	fi, err := os.Stat(filepath.Join(x, "usr/share/hello/hello.txt"))
	require.NoError(t, err)
	assert.True(t, fi.ModTime().Equal(testMTime), "cpio -m keeps the files' time: %v", fi.ModTime())

	bad := bytes.Clone(pkg)
	bad[len(bad)-10] ^= 0xff // inside the gzip payload
	badFile := filepath.Join(dir, "bad.rpm")
	require.NoError(t, os.WriteFile(badFile, bad, 0o644))
	out, err = exec.Command("rpm", "-Kv", badFile).CombinedOutput()
	require.Error(t, err)
	assert.Contains(t, string(out), "MD5 digest: BAD")
}

func TestFixRPMRefusesOtherFiles(t *testing.T) {
	pkg := smallRPM(t)
	tests := []struct {
		name string
		data []byte
		err  string
	}{
		{"empty", nil, "not an RPM file"},
		{"not an rpm", bytes.Repeat([]byte("x"), 200), "not an RPM file"},
		{"truncated signature", pkg[:leadSize+20], "signature header"},
		{"truncated payload", pkg[:len(pkg)-1], "size does not match"},
		{"header changed", bytes.Replace(pkg, []byte("a test"), []byte("b test"), 1), "SHA-256 does not match the header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := FixRPM(tt.data, testMTime)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
		})
	}
}

// FuzzFixRPM: any input gives a result or an error, no panic, and a result
// is accepted again unchanged.
func FuzzFixRPM(f *testing.F) {
	pkg := smallRPM(f)
	f.Add(pkg)
	f.Add(pkg[:leadSize+16])
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := FixRPM(data, testMTime)
		if err != nil {
			return
		}
		again, err := FixRPM(out, testMTime)
		require.NoError(t, err)
		require.Equal(t, out, again)
	})
}
