package balancer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// Bodies. A request is read whole before an instance is chosen, so that it
// can be sent again to another; a response is read whole before the client
// gets any of it, so that the instance's slot is free as soon as Zope has
// answered, however slowly the client reads. Small bodies stay in memory,
// under one budget for the whole balancer (BodyMemory); bigger ones, and any
// once that budget is spent, go to a spool file. A spool file is unlinked as
// soon as it is created, so nothing is left behind even if the balancer is
// killed; the spool files in use at once are bounded too (SpoolLimit).

// Body limits.
const (
	MaxBody           = 256 << 20 // the largest request or response body carried
	DefaultBodyMemory = 32 << 20  // all bodies held in memory at once
	DefaultSpoolLimit = 2 << 30   // all spool files at once
	memEach           = 1 << 20   // one body in memory at most; beyond, it is spooled
	smallBuf          = 16 << 10  // pooled buffer size: most bodies fit
	spoolPrefix       = "zenpatch-body-"
)

// Body errors. errNoSpool: the body could not go to a spool file (none
// could be made, or the spool limit is reached), and nothing read is lost:
// what was read is in memory. errSpoolWrite: writing the spool file failed
// (a full disk), and what was read is lost.
var (
	errBodyTooLarge = errors.New("body larger than 256 MiB")
	errNoSpool      = errors.New("no room to spool the body")
	errSpoolWrite   = errors.New("spool write failed")
)

// bodyStore hands out memory and spool space for bodies.
type bodyStore struct {
	dir        string // spool directory
	memLimit   int64
	memEach    int64
	spoolLimit int64
	mem        atomic.Int64 // bytes of memory held by bodies
	spool      atomic.Int64 // bytes in spool files
	spooled    atomic.Int64 // bodies spooled so far
}

func newBodyStore(dir string, memLimit, spoolLimit int64) *bodyStore {
	if dir == "" {
		dir = os.TempDir()
	}
	return &bodyStore{dir: dir, memLimit: memLimit, memEach: memEach, spoolLimit: spoolLimit}
}

// charge takes n bytes of the memory budget, if there are.
func (s *bodyStore) charge(n int64) bool {
	if s.mem.Add(n) > s.memLimit {
		s.mem.Add(-n)
		return false
	}
	return true
}

// create makes a spool file and unlinks it at once: it lives as long as
// it is open.
func (s *bodyStore) create() (*os.File, error) {
	f, err := os.CreateTemp(s.dir, spoolPrefix+"*")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errNoSpool, err)
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %v", errNoSpool, err)
	}
	s.spooled.Add(1)
	return f, nil
}

// prepareSpool makes the spool directory (mode 0700) and removes spool
// files a previous balancer left there (one killed between creating a file
// and unlinking it). Only for a directory of the balancer's own.
func prepareSpool(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("spool directory: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil { // bodies are private
		return fmt.Errorf("spool directory: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("spool directory: %w", err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), spoolPrefix) && e.Type().IsRegular() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("spool directory: %w", err)
			}
		}
	}
	return nil
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, smallBuf); return &b }}

// copyPool holds the buffers spool files are written and read through.
var copyPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// body is one request or response body: in memory (buf) or in a spool file
// (f), n bytes.
type body struct {
	st      *bodyStore
	buf     []byte
	pooled  *[]byte // buf's pool entry, when it came from bufPool
	charged int64   // memory budget held
	f       *os.File
	n       int64
	spooled int64 // spool budget held
}

// fill reads r to its end into b: size is its declared length (-1:
// unknown); more than limit bytes is errBodyTooLarge. What was read stays
// in b on error.
func (b *body) fill(r io.Reader, size, limit int64) error {
	if size > limit {
		return errBodyTooLarge
	}
	if size != 0 && size <= b.st.memEach {
		done, err := b.fillMem(r, size, limit)
		if err != nil || done {
			return err
		}
	}
	return b.fillFile(r, limit)
}

// fillMem reads into memory while the body fits memEach and the budget;
// done is false when the rest must go to a file.
func (b *body) fillMem(r io.Reader, size, limit int64) (done bool, err error) {
	want := int64(smallBuf)
	if size > 0 {
		want = size
	}
	if want <= smallBuf {
		want = smallBuf
	}
	if !b.st.charge(want) {
		return false, nil
	}
	b.charged = want
	if want == smallBuf {
		b.pooled = bufPool.Get().(*[]byte)
		b.buf = (*b.pooled)[:0]
	} else {
		b.buf = make([]byte, 0, want)
	}
	for {
		if len(b.buf) == cap(b.buf) {
			grow := min(int64(cap(b.buf)), b.st.memEach-int64(cap(b.buf)))
			if grow <= 0 || !b.st.charge(grow) {
				return false, nil
			}
			b.charged += grow
			nb := make([]byte, len(b.buf), int64(cap(b.buf))+grow)
			copy(nb, b.buf)
			b.putBuf()
			b.buf = nb
		}
		n, err := r.Read(b.buf[len(b.buf):cap(b.buf)])
		b.buf = b.buf[:len(b.buf)+n]
		b.n = int64(len(b.buf))
		if b.n > limit {
			return false, errBodyTooLarge
		}
		if err == io.EOF {
			return true, nil
		}
		if err != nil {
			return false, err
		}
	}
}

// putBuf gives buf back to the pool it came from.
func (b *body) putBuf() {
	if b.pooled != nil {
		*b.pooled = b.buf[:0]
		bufPool.Put(b.pooled)
		b.pooled = nil
	}
	b.buf = nil
}

// fillFile moves what is in memory to a spool file and reads the rest of r
// after it. Spool space is taken before each read, so that on errNoSpool
// nothing read is lost.
func (b *body) fillFile(r io.Reader, limit int64) error {
	if !b.reserve(int64(len(b.buf))) {
		return b.st.full()
	}
	f, err := b.st.create()
	if err != nil {
		b.unreserve(int64(len(b.buf)))
		return err
	}
	b.f = f
	b.n = 0 // counted again as it is written
	if err := b.write(b.buf); err != nil {
		return err
	}
	b.putBuf()
	b.st.mem.Add(-b.charged)
	b.charged = 0
	cp := copyPool.Get().(*[]byte)
	defer copyPool.Put(cp)
	for {
		if !b.reserve(int64(len(*cp))) {
			return b.st.full()
		}
		n, err := r.Read(*cp)
		b.unreserve(int64(len(*cp) - n))
		if b.n+int64(n) > limit {
			return errBodyTooLarge
		}
		if werr := b.write((*cp)[:n]); werr != nil {
			return werr
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// reserve takes n bytes of spool space for the body.
func (b *body) reserve(n int64) bool {
	if b.st.spool.Add(n) > b.st.spoolLimit {
		b.st.spool.Add(-n)
		return false
	}
	b.spooled += n
	return true
}

func (b *body) unreserve(n int64) {
	b.st.spool.Add(-n)
	b.spooled -= n
}

// full is errNoSpool for a spent spool limit.
func (s *bodyStore) full() error {
	return fmt.Errorf("%w: %d MiB of spool files in use", errNoSpool, s.spool.Load()>>20)
}

// write appends p (its spool space reserved) to the spool file.
func (b *body) write(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	if _, err := b.f.Write(p); err != nil {
		return fmt.Errorf("%w: %v", errSpoolWrite, err)
	}
	b.n += int64(len(p))
	return nil
}

// reader returns the body from its start, as often as asked (a retry
// sends it again).
func (b *body) reader() io.Reader {
	if b.f != nil {
		return io.NewSectionReader(b.f, 0, b.n)
	}
	return bytes.NewReader(b.buf)
}

// writeTo sends the body to w (a spool file through sendfile where w's
// connection can).
func (b *body) writeTo(w io.Writer) error {
	if b.f == nil {
		_, err := w.Write(b.buf)
		return err
	}
	if _, err := b.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	_, err := io.Copy(w, io.LimitReader(b.f, b.n))
	return err
}

// release gives back the memory and spool space the body holds.
func (b *body) release() {
	b.putBuf()
	if b.charged != 0 {
		b.st.mem.Add(-b.charged)
		b.charged = 0
	}
	if b.f != nil {
		b.f.Close()
		b.f = nil
	}
	if b.spooled != 0 {
		b.st.spool.Add(-b.spooled)
		b.spooled = 0
	}
	b.n = 0
}
