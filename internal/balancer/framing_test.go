package balancer

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// follow feeds stream to a fresh framing in pieces of size step (0: all at
// once) and reports how many bytes it let through, the heads' flags and the
// state it ends in.
func follow(stream string, step int) (passed int, heads []headFlags, f *framing) {
	f = &framing{}
	p := []byte(stream)
	for len(p) > 0 && !f.bad.Load() {
		n := len(p)
		if step > 0 {
			n = min(step, n)
		}
		passed += f.feed(p[:n])
		p = p[n:]
	}
	for {
		f.mu.Lock()
		n := f.nHead
		f.mu.Unlock()
		if n == 0 {
			break
		}
		heads = append(heads, f.takeHead())
	}
	return passed, heads, f
}

func TestFraming(t *testing.T) {
	const get = "GET / HTTP/1.1\r\nHost: z\r\n\r\n"
	for name, tc := range map[string]struct {
		stream string
		heads  []headFlags
		bad    int // index of the first refused byte; -1: none
		end    scanState
	}{
		"one GET":               {get, []headFlags{0}, -1, scanStart},
		"pipelined":             {get + get + get, []headFlags{0, 0, 0}, -1, scanStart},
		"bare LF":               {"GET / HTTP/1.1\nHost: z\n\n", []headFlags{0}, -1, scanStart},
		"CL body":               {"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n\x00\x00\x00\x00\x00" + get, []headFlags{0, 0}, -1, scanStart},
		"chunked body":          {"POST / HTTP/1.1\r\ntransfer-encoding: Chunked\r\n\r\n3;ext=1\r\n\x00\x00\x00\r\n10\r\n0123456789abcdef\r\n0\r\n\r\n" + get, []headFlags{0, 0}, -1, scanStart},
		"chunked trailer":       {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-T: 1\r\n\r\n" + get, []headFlags{0, 0}, -1, scanStart},
		"CRLF after POST":       {"POST / HTTP/1.1\r\nContent-Length: 1\r\n\r\nx\r\n" + get, []headFlags{0, 0}, -1, scanStart},
		"CL and TE":             {"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []headFlags{headCLTE}, -1, scanStart},
		"TE in HTTP/1.0":        {"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\nab", []headFlags{headTE10 | headCLTE}, -1, scanStart},
		"obs-fold":              {"GET / HTTP/1.1\r\nX-A: 1\r\n  2\r\n\r\n", []headFlags{headFolded}, -1, scanStart},
		"NULs after":            {get + "\x00\x00\x00", []headFlags{0}, len(get), scanStart},
		"space after":           {get + " GET", []headFlags{0}, len(get), scanStart},
		"NUL first":             {"\x00GET / HTTP/1.1\r\n\r\n", nil, 0, scanStart},
		"TLS hello":             {"\x16\x03\x01\x00\xa5\x01", nil, 0, scanStart},
		"body bytes not a head": {"PUT / HTTP/1.1\r\nContent-Length: 4\r\n\r\n\x00 \x16\xff", []headFlags{0}, -1, scanStart},
		"half a head":           {"GET / HTTP/1.1\r\nHost:", nil, -1, scanHead},
		"conflicting CL":        {"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", []headFlags{0}, -1, scanOff},
		"same CL twice":         {"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc" + get, []headFlags{0, 0}, -1, scanStart},
		"unknown coding":        {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", []headFlags{0}, -1, scanOff},
		"chunk line bare LF":    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\nx\r\n0\r\n\r\n", []headFlags{0}, -1, scanOff},
		"chunk data no CRLF":    {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nxy\r\n", []headFlags{0}, -1, scanOff},
	} {
		t.Run(name, func(t *testing.T) {
			for _, step := range []int{0, 1, 3, 7} {
				passed, heads, f := follow(tc.stream, step)
				assert.Equal(t, tc.heads, heads, "step %d", step)
				if tc.bad >= 0 {
					assert.True(t, f.bad.Load(), "step %d", step)
					assert.Equal(t, tc.bad, passed, "step %d: bytes before the refused one", step)
				} else {
					assert.False(t, f.bad.Load(), "step %d", step)
					assert.Equal(t, len(tc.stream), passed, "step %d", step)
					assert.Equal(t, tc.end, f.st, "step %d", step)
				}
			}
		})
	}
}

func TestFramingLongLines(t *testing.T) {
	long := strings.Repeat("a", 5000)
	passed, heads, f := follow("GET /"+long+" HTTP/1.0\r\nX-Long: "+long+"\r\n\r\n", 100)
	assert.Equal(t, []headFlags{0}, heads)
	assert.True(t, f.http10, "the version is read at the end of a long request line")
	assert.Equal(t, scanStart, f.st)
	assert.Greater(t, passed, 10000)

	_, _, f = follow("GET / HTTP/1.1\r\nX: "+strings.Repeat("b", MaxHeaderBytes+9000)+"\r\n\r\n", 4096)
	assert.Equal(t, scanOff, f.st, "past net/http's own limit framing stops looking")
}

// framingAgrees checks framing against net/http's own reading of stream:
// wherever net/http has read whole requests (bodies included), framing is
// at the start of the next request with a head for each, and it refused
// nothing net/http read.
func framingAgrees(t *testing.T, stream []byte) {
	src := bytes.NewReader(stream)
	br := bufio.NewReader(src)
	var ends []int // offsets where a request, body included, ends
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			break
		}
		if req.ProtoMajor != 1 || len(req.TransferEncoding) > 0 && req.ProtoMinor == 0 {
			break // the server refuses it (505; framing flags TE in HTTP/1.0): not compared
		}
		if _, err := io.Copy(io.Discard, req.Body); err != nil {
			break
		}
		req.Body.Close()
		ends = append(ends, len(stream)-src.Len()-br.Buffered())
	}
	for k, end := range ends {
		f := &framing{}
		passed := f.feed(stream[:end])
		if f.st == scanOff {
			return // framing gave up: allowed, it then checks nothing
		}
		require.False(t, f.bad.Load(), "refused a byte net/http read as a request: %q", stream[:end])
		require.Equal(t, end, passed)
		require.Equal(t, scanStart, f.st, "request %d of %q: net/http read it to its end, framing did not", k+1, stream[:end])
		require.Equal(t, k+1, f.nHead, "%q", stream[:end])
	}
}

func TestFramingAgreesWithNetHTTP(t *testing.T) {
	for _, s := range framingSeeds {
		framingAgrees(t, []byte(s))
	}
}

var framingSeeds = []string{
	"GET / HTTP/1.1\r\nHost: z\r\n\r\nGET /2 HTTP/1.1\r\nHost: z\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: z\r\nContent-Length: 3\r\n\r\nabcGET / HTTP/1.1\r\nHost: z\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: z\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: z\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: z\r\nTransfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n0\r\nT: 1\r\n\r\nGET / HTTP/1.1\r\nHost: z\r\n\r\n",
	"POST / HTTP/1.0\r\nHost: z\r\nContent-Length: 2\r\n\r\nabGET / HTTP/1.0\r\n\r\n",
	"GET / HTTP/1.1\nHost: z\n\nGET / HTTP/1.1\nHost: z\n\n",
	"PUT /x HTTP/1.1\r\nHost: z\r\ncontent-length:  4 \r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: z\r\n\r\n",
	"POST / HTTP/1.1\r\nHost: z\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: z\r\n\r\n",
	"GET / HTTP/1.1\r\nHost: z\r\nX: a\r\n b\r\n\r\nGET / HTTP/1.1\r\nHost: z\r\n\r\n",
}

func FuzzFraming(f *testing.F) {
	for _, s := range framingSeeds {
		f.Add([]byte(s), uint8(3))
	}
	f.Fuzz(func(t *testing.T, stream []byte, step uint8) {
		// pieces or whole: the same result
		whole := &framing{}
		wp := whole.feed(stream)
		parts := &framing{}
		pp := 0
		for p := stream; len(p) > 0 && !parts.bad.Load(); {
			n := min(max(int(step), 1), len(p))
			pp += parts.feed(p[:n])
			p = p[n:]
		}
		require.Equal(t, whole.bad.Load(), parts.bad.Load())
		require.Equal(t, wp, pp)
		require.Equal(t, whole.st, parts.st)
		require.Equal(t, whole.nHead, parts.nHead)
		require.Equal(t, whole.heads, parts.heads)
		framingAgrees(t, stream)
	})
}
