package main

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/cavaliergopher/cpio"
)

// The RPM tags and types this file reads or writes (rpm's
// include/rpm/rpmtag.h; signature tags have their own numbering).
const (
	sigTagRegion         = 62   // RPMTAG_HEADERSIGNATURES: the signature header's region marker
	hdrTagRegion         = 63   // RPMTAG_HEADERIMMUTABLE: the main header's
	sigTagSHA1           = 269  // RPMSIGTAG_SHA1: hex SHA-1 of the header (rpm 4.0.4+)
	sigTagSHA256         = 273  // RPMSIGTAG_SHA256: hex SHA-256 of the header (rpm 4.14+)
	sigTagSize           = 1000 // RPMSIGTAG_SIZE: header + payload bytes
	sigTagMD5            = 1004 // RPMSIGTAG_MD5: MD5 of header + payload (every rpm)
	sigTagPayloadSize    = 1007 // RPMSIGTAG_PAYLOADSIZE: the uncompressed payload's size
	tagPayloadCompressor = 1125 // RPMTAG_PAYLOADCOMPRESSOR
	tagPayloadDigest     = 5092 // RPMTAG_PAYLOADDIGEST: hex SHA-256 of the compressed payload

	rpmTypeInt32       = 4
	rpmTypeString      = 6
	rpmTypeBin         = 7
	rpmTypeStringArray = 8

	leadSize = 96
)

var (
	leadMagic   = []byte{0xed, 0xab, 0xee, 0xdb}
	headerMagic = []byte{0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0}
)

// hdrEntry is one header entry: its tag, type, count, data and the data's
// offset in the header's store.
type hdrEntry struct {
	tag, typ, count int32
	off             int
	data            []byte
}

// FixRPM mends two things in an RPM as nfpm v2.45 (through rpmpack)
// writes it, leaving every file, every other tag and the header's layout
// as they are:
//
//   - The payload's cpio members are named "/usr/bin/zenpatch", absolute,
//     all with time 0, where rpmbuild writes "./usr/bin/zenpatch": rpm
//     installs either way (it maps members to the header's file list), but
//     the usual look inside, `rpm2cpio PKG | cpio -idm` in a scratch
//     directory, writes into / itself (nfpm issue 1122). FixRPM names them
//     "./…" with mtime, writes the payload again with the same compressor
//     (gzip; nothing else is accepted), and puts the new payload's SHA-256
//     in place of the old one in the header (same length: nothing moves).
//   - The signature header has only the SHA-256 header digest, which rpm
//     4.8 (RHEL/CentOS 6) and 4.11 (RHEL/CentOS 7) do not know: they would
//     install without checking the header at all (file contents are still
//     checked, against the SHA-256 file digests they do know), and `rpm -K`
//     reports no digest. FixRPM adds the header SHA-1 and the
//     header-and-payload MD5 that rpm before 4.14 checks, and sets size,
//     SHA-256 and payload size anew.
//
// Applied to its own output, FixRPM changes nothing.
func FixRPM(pkg []byte, mtime time.Time) ([]byte, error) {
	if len(pkg) < leadSize+16 || !bytes.Equal(pkg[:4], leadMagic) {
		return nil, errors.New("not an RPM file (no lead)")
	}
	sigEntries, sigEnd, err := readHeader(pkg[leadSize:])
	if err != nil {
		return nil, fmt.Errorf("signature header: %w", err)
	}
	hstart := leadSize + sigEnd + (8-sigEnd%8)%8
	if hstart > len(pkg) {
		return nil, errors.New("no header after the signature header")
	}
	hEntries, hlen, err := readHeader(pkg[hstart:])
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	header, payload := bytes.Clone(pkg[hstart:hstart+hlen]), pkg[hstart+hlen:]

	// Check that the parts are where rpmpack put them: the recorded size
	// and digests must match.
	sig := byTag(sigEntries)
	if e := sig[sigTagSize]; e == nil || len(e.data) != 4 || int(binary.BigEndian.Uint32(e.data)) != len(header)+len(payload) {
		return nil, errors.New("signature header's size does not match the header and payload")
	}
	if e := sig[sigTagSHA256]; e == nil || cstring(e.data) != hexSHA256(header) {
		return nil, errors.New("signature header's SHA-256 does not match the header")
	}
	h := byTag(hEntries)
	digest := h[tagPayloadDigest]
	if digest == nil || digest.typ != rpmTypeStringArray || digest.count != 1 || cstring(digest.data) != hexSHA256(payload) {
		return nil, errors.New("header's payload digest does not match the payload")
	}
	if c := h[tagPayloadCompressor]; c == nil || cstring(c.data) != "gzip" {
		return nil, errors.New("payload is not gzip (the only compressor FixRPM writes again)")
	}

	archive, newPayload, err := relativePayload(payload, mtime)
	if err != nil {
		return nil, fmt.Errorf("payload: %w", err)
	}
	store := 16 + 16*int(binary.BigEndian.Uint32(header[8:]))
	copy(header[store+digest.off:], hexSHA256(newPayload))

	rest := append(header, newPayload...)
	sha := sha1.Sum(header)
	md := md5.Sum(rest)
	be := binary.BigEndian
	sig[sigTagSize] = &hdrEntry{tag: sigTagSize, typ: rpmTypeInt32, count: 1, data: be.AppendUint32(nil, uint32(len(rest)))}
	sig[sigTagPayloadSize] = &hdrEntry{tag: sigTagPayloadSize, typ: rpmTypeInt32, count: 1, data: be.AppendUint32(nil, uint32(archive))}
	sig[sigTagSHA256] = &hdrEntry{tag: sigTagSHA256, typ: rpmTypeString, count: 1, data: append([]byte(hexSHA256(header)), 0)}
	sig[sigTagSHA1] = &hdrEntry{tag: sigTagSHA1, typ: rpmTypeString, count: 1, data: append([]byte(hex.EncodeToString(sha[:])), 0)}
	sig[sigTagMD5] = &hdrEntry{tag: sigTagMD5, typ: rpmTypeBin, count: int32(len(md)), data: md[:]}

	sb := writeSigHeader(sig)
	out := make([]byte, 0, leadSize+len(sb)+8+len(rest))
	out = append(out, pkg[:leadSize]...)
	out = append(out, sb...)
	out = append(out, make([]byte, (8-len(sb)%8)%8)...)
	return append(out, rest...), nil
}

// relativePayload rewrites a gzip cpio payload with "./"-relative member
// names and the given mtime; it returns the new archive's uncompressed
// size and the compressed payload.
func relativePayload(payload []byte, mtime time.Time) (int, []byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(payload))
	if err != nil {
		return 0, nil, err
	}
	var archive bytes.Buffer
	cr, cw := cpio.NewReader(zr), cpio.NewWriter(&archive)
	for {
		hdr, err := cr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, nil, err
		}
		if strings.HasPrefix(hdr.Name, "/") {
			hdr.Name = "." + hdr.Name
		}
		hdr.ModTime = mtime
		if err := cw.WriteHeader(hdr); err != nil {
			return 0, nil, err
		}
		if _, err := io.Copy(cw, cr); err != nil {
			return 0, nil, err
		}
	}
	if err := cw.Close(); err != nil {
		return 0, nil, err
	}
	if _, err := io.Copy(io.Discard, zr); err != nil { // to the gzip checksum
		return 0, nil, err
	}
	var out bytes.Buffer
	zw, err := gzip.NewWriterLevel(&out, gzip.BestCompression) // PAYLOADFLAGS says 9
	if err != nil {
		return 0, nil, err
	}
	if _, err := zw.Write(archive.Bytes()); err != nil {
		return 0, nil, err
	}
	if err := zw.Close(); err != nil {
		return 0, nil, err
	}
	return archive.Len(), out.Bytes(), nil
}

func byTag(entries []hdrEntry) map[int32]*hdrEntry {
	m := make(map[int32]*hdrEntry, len(entries))
	for i := range entries {
		m[entries[i].tag] = &entries[i]
	}
	return m
}

// cstring is a NUL-terminated string's text.
func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

func hexSHA256(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// readHeader reads the header structure at b: its entries (the region
// marker left out, though counted in the index) and its length without
// padding.
func readHeader(b []byte) ([]hdrEntry, int, error) {
	n, err := headerLen(b)
	if err != nil {
		return nil, 0, err
	}
	il := int(binary.BigEndian.Uint32(b[8:]))
	store := b[16+il*16 : n]
	var entries []hdrEntry
	for i := range il {
		ie := b[16+i*16:]
		e := hdrEntry{
			tag:   int32(binary.BigEndian.Uint32(ie)),
			typ:   int32(binary.BigEndian.Uint32(ie[4:])),
			count: int32(binary.BigEndian.Uint32(ie[12:])),
		}
		off := int(int32(binary.BigEndian.Uint32(ie[8:])))
		if e.tag == sigTagRegion || e.tag == hdrTagRegion {
			continue
		}
		size, err := dataLen(e.typ, e.count, store, off)
		if err != nil {
			return nil, 0, fmt.Errorf("tag %d: %w", e.tag, err)
		}
		e.off, e.data = off, store[off:off+size]
		entries = append(entries, e)
	}
	return entries, n, nil
}

// headerLen is the length of the header structure at b: magic, counts,
// index and data store.
func headerLen(b []byte) (int, error) {
	if len(b) < 16 || !bytes.Equal(b[:8], headerMagic) {
		return 0, errors.New("no header magic")
	}
	il, dl := int(binary.BigEndian.Uint32(b[8:])), int(binary.BigEndian.Uint32(b[12:]))
	n := 16 + il*16 + dl
	if il > 1<<16 || dl > 1<<28 || n > len(b) {
		return 0, fmt.Errorf("%d entries, %d data bytes: larger than the file", il, dl)
	}
	return n, nil
}

// dataLen is the size of an entry's data at off in store.
func dataLen(typ, count int32, store []byte, off int) (int, error) {
	if off < 0 || off > len(store) || count < 0 {
		return 0, fmt.Errorf("offset %d outside the store", off)
	}
	var size int
	switch typ {
	case 0, 1, 2, rpmTypeBin: // null, char, int8, bin
		size = int(count)
	case 3: // int16
		size = 2 * int(count)
	case rpmTypeInt32:
		size = 4 * int(count)
	case 5: // int64
		size = 8 * int(count)
	case rpmTypeString, rpmTypeStringArray, 9: // 9: i18n string
		for range count {
			i := bytes.IndexByte(store[off+size:], 0)
			if i < 0 {
				return 0, errors.New("unterminated string")
			}
			size += i + 1
		}
	default:
		return 0, fmt.Errorf("unknown type %d", typ)
	}
	if off+size > len(store) {
		return 0, errors.New("data past the store")
	}
	return size, nil
}

// alignment is what rpm requires of each type's data offset.
var alignment = map[int32]int{3: 2, rpmTypeInt32: 4, 5: 8}

// writeSigHeader lays out a signature header with a region: the marker's
// index entry first, pointing at a trailer after the data, whose offset is
// minus the size of the index (rpm's "region" convention).
func writeSigHeader(byTag map[int32]*hdrEntry) []byte {
	tags := make([]int, 0, len(byTag))
	for t := range byTag {
		tags = append(tags, int(t))
	}
	sort.Ints(tags)
	var store bytes.Buffer
	offsets := make([]int, len(tags))
	for i, t := range tags {
		e := byTag[int32(t)]
		if a := alignment[e.typ]; a > 0 && store.Len()%a != 0 {
			store.Write(make([]byte, a-store.Len()%a))
		}
		offsets[i] = store.Len()
		store.Write(e.data)
	}
	il := len(tags) + 1
	trailerOff := store.Len()
	be := binary.BigEndian
	store.Write(be.AppendUint32(be.AppendUint32(be.AppendUint32(be.AppendUint32(nil,
		sigTagRegion), rpmTypeBin), uint32(int32(-16*il))), 16))

	var b bytes.Buffer
	b.Write(headerMagic)
	b.Write(be.AppendUint32(be.AppendUint32(nil, uint32(il)), uint32(store.Len())))
	b.Write(be.AppendUint32(be.AppendUint32(be.AppendUint32(be.AppendUint32(nil,
		sigTagRegion), rpmTypeBin), uint32(trailerOff)), 16))
	for i, t := range tags {
		e := byTag[int32(t)]
		b.Write(be.AppendUint32(be.AppendUint32(be.AppendUint32(be.AppendUint32(nil,
			uint32(e.tag)), uint32(e.typ)), uint32(offsets[i])), uint32(e.count)))
	}
	b.Write(store.Bytes())
	return b.Bytes()
}
