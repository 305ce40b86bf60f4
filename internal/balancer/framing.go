package balancer

import (
	"bytes"
	"sync"
	"sync/atomic"
)

// framing follows the requests a client sends on one connection, as the
// bytes arrive, with the same framing rules as net/http's server (request
// line and header lines ended by LF or CRLF; a Content-Length body; a
// chunked one, whose lines must end in CRLF, then its trailer). net/http
// reads them for real; framing only keeps track of where each request
// starts and what its head held, for three things net/http does not do:
//
//   - A byte that cannot start a request where one must start (a NUL, a
//     space, a TLS handshake, garbage after a request): net/http waits for
//     the rest of a line that never comes, until the header deadline, then
//     closes without a word. The balancer answers 400 at once (nginx and
//     HAProxy do too).
//   - A head with both Content-Length and Transfer-Encoding (the request
//     smuggling shape), Transfer-Encoding in an HTTP/1.0 request, or a
//     header line folded onto the next (obs-fold): net/http accepts each
//     (it drops the length, ignores the coding, joins the lines); the
//     balancer refuses them with 400, as nginx does.
//   - A head left half-sent past the header deadline (slowloris): net/http
//     closes silently; the balancer says 408 first.
//
// Wherever the bytes follow a shape net/http refuses anyway (it answers and
// closes the connection), framing stops looking (state off) rather than
// guess.
type framing struct {
	st        scanState
	remain    int64 // bytes left in a Content-Length body or a chunk (and its CRLF)
	line      [lineKeep]byte
	lineLen   int     // length of the current line so far, LF excluded
	lineCRs   int     // CR bytes in the current line
	last      byte    // the current line's last byte so far
	headBytes int     // bytes of the current head (or trailer) so far
	first     bool    // the current line is the request line
	tail      [9]byte // the request line's last bytes
	http10    bool
	clSeen    bool
	clBad     bool
	cl        int64
	clText    [20]byte
	clTextN   int
	teN       int
	teChunked bool
	flags     headFlags

	bad atomic.Bool // a request cannot start here: the bytes from here on are refused

	mu    sync.Mutex
	heads [maxHeads]headFlags // ring of heads read whose handler has not yet taken them
	head  int                 // the oldest in the ring
	nHead int
}

// maxHeads is how many pipelined heads framing keeps for their handlers;
// past that it stops looking (state off).
const maxHeads = 64

type scanState uint8

const (
	scanStart     scanState = iota // where a request must start
	scanHead                       // in the request line or a header line
	scanBody                       // in a Content-Length body
	scanChunkLine                  // in a chunk-size line
	scanChunkData                  // in a chunk's data, or the CRLF after it
	scanTrailer                    // in the trailer after the last chunk
	scanOff                        // lost track: net/http refuses what came
)

// headFlags are what a head held that the balancer refuses though net/http
// accepts it.
type headFlags uint8

const (
	headCLTE   headFlags = 1 << iota // Content-Length and Transfer-Encoding
	headTE10                         // Transfer-Encoding in an HTTP/1.0 request
	headFolded                       // obs-fold: a header line continued on the next
)

// lineKeep is how much of a line framing keeps: enough for a header name
// and a Content-Length or Transfer-Encoding value (a longer one stops it).
const lineKeep = 64

// headLimit is past net/http's own limit on a head (MaxHeaderBytes plus
// its 4 KiB of slack): it has refused such a head already.
const headLimit = MaxHeaderBytes + 8<<10

// feed follows p, the next bytes of the connection, and returns how many of
// them may be given to net/http: all, or those before a byte where a
// request must start and cannot (then bad is set).
func (f *framing) feed(p []byte) int {
	i := 0
	for i < len(p) {
		switch f.st {
		case scanOff:
			return len(p)
		case scanBody:
			n := min(int64(len(p)-i), f.remain)
			i += int(n)
			if f.remain -= n; f.remain == 0 {
				f.st = scanStart
			}
		case scanChunkData:
			n := min(int64(len(p)-i), f.remain)
			if f.remain <= 2 { // the CRLF after the data: net/http wants exactly that
				if p[i] != "\r\n"[2-f.remain] {
					f.st = scanOff
					return len(p)
				}
				n = 1
			} else {
				n = min(n, f.remain-2)
			}
			i += int(n)
			if f.remain -= n; f.remain == 0 {
				f.startLine()
				f.st = scanChunkLine
			}
		case scanStart:
			c := p[i]
			if c == '\r' || c == '\n' {
				// net/http skips a few after a POST (old clients send them),
				// and otherwise reads an empty request line and answers 400:
				// either way no request starts with them.
				i++
				continue
			}
			if !isTokenByte(c) {
				f.bad.Store(true)
				return i
			}
			f.startHead()
		default: // a line: scanHead, scanChunkLine, scanTrailer
			seg := p[i:]
			j := bytes.IndexByte(seg, '\n')
			if j >= 0 {
				seg = seg[:j]
			}
			f.addToLine(seg)
			if f.st == scanOff {
				return len(p)
			}
			if j < 0 {
				return len(p)
			}
			i += j + 1
			f.endLine()
		}
	}
	return len(p)
}

// startHead starts following a request's head.
func (f *framing) startHead() {
	f.st = scanHead
	f.first = true
	f.headBytes = 0
	f.http10, f.clSeen, f.clBad, f.cl, f.clTextN, f.teN, f.teChunked, f.flags = false, false, false, 0, 0, 0, false, 0
	f.startLine()
}

func (f *framing) startLine() {
	f.lineLen, f.lineCRs, f.last = 0, 0, 0
	f.tail = [9]byte{}
}

// addToLine takes the next part of the current line.
func (f *framing) addToLine(seg []byte) {
	if f.lineLen < lineKeep {
		copy(f.line[f.lineLen:], seg)
	}
	if len(seg) > 0 {
		f.last = seg[len(seg)-1]
	}
	if f.first {
		if len(seg) >= len(f.tail) {
			copy(f.tail[:], seg[len(seg)-len(f.tail):])
		} else {
			copy(f.tail[:], f.tail[len(seg):])
			copy(f.tail[len(f.tail)-len(seg):], seg)
		}
	}
	f.lineLen += len(seg)
	f.lineCRs += bytes.Count(seg, []byte{'\r'})
	if f.st == scanChunkLine {
		if f.lineLen > 4096 { // net/http's limit on a chunk line
			f.st = scanOff
		}
		return
	}
	if f.headBytes += len(seg) + 1; f.headBytes > headLimit {
		f.st = scanOff
	}
}

// endLine acts on a complete line (its LF just read).
func (f *framing) endLine() {
	n := f.lineLen
	endsCR := n > 0 && f.last == '\r' // bufio's ReadLine drops it, as net/http reads
	if endsCR {
		n--
	}
	kept := f.line[:min(n, lineKeep)]
	switch f.st {
	case scanHead:
		switch {
		case f.first:
			f.first = false
			f.http10 = f.requestLineHTTP10(endsCR)
		case n == 0:
			f.endHead()
		case kept[0] == ' ' || kept[0] == '\t':
			f.flags |= headFolded
		default:
			f.header(kept, n)
		}
	case scanChunkLine:
		// net/http: CRLF at the end and no other CR; blanks at the end and
		// extensions after ';' ignored; the size in at most 16 hex digits.
		if !endsCR || f.lineCRs != 1 {
			f.st = scanOff
			return
		}
		if i := bytes.IndexByte(kept, ';'); i >= 0 {
			kept = kept[:i]
		} else if n > lineKeep {
			f.st = scanOff
			return
		} else {
			kept = bytes.TrimRight(kept, " \t")
		}
		size, ok := parseHex(kept)
		if !ok {
			f.st = scanOff
			return
		}
		if size == 0 {
			f.st, f.headBytes = scanTrailer, 0
		} else {
			f.st, f.remain = scanChunkData, int64(size)+2
		}
		f.startLine()
		return
	case scanTrailer:
		if n == 0 {
			f.st = scanStart
		}
	}
	f.startLine()
}

// requestLineHTTP10 says whether the request line ends in HTTP/1.0, the one
// version net/http reads without Transfer-Encoding.
func (f *framing) requestLineHTTP10(endsCR bool) bool {
	t := f.tail[:]
	if endsCR {
		t = t[:len(t)-1]
	}
	return bytes.HasSuffix(t, []byte("HTTP/1.0"))
}

// header notes a Content-Length or Transfer-Encoding header line.
func (f *framing) header(kept []byte, n int) {
	var name string
	switch {
	case hasPrefixFold(kept, "content-length:"):
		name = "content-length:"
	case hasPrefixFold(kept, "transfer-encoding:"):
		name = "transfer-encoding:"
	default:
		return
	}
	if n > lineKeep {
		f.st = scanOff // a value too long to follow (net/http may take it)
		return
	}
	v := bytes.Trim(kept[len(name):], " \t")
	if name == "transfer-encoding:" {
		f.teN++
		f.teChunked = f.teN == 1 && len(v) == 7 && hasPrefixFold(v, "chunked")
		return
	}
	// net/http: every Content-Length the same digits, at most 2^63-1.
	if f.clSeen {
		if !bytes.Equal(v, f.clText[:f.clTextN]) {
			f.clBad = true
		}
		return
	}
	f.clSeen = true
	if len(v) == 0 || len(v) > len(f.clText) {
		f.clBad = true
		return
	}
	f.clTextN = copy(f.clText[:], v)
	var cl int64
	for _, c := range v {
		if c < '0' || c > '9' || cl > (1<<63-1-9)/10 {
			f.clBad = true
			return
		}
		cl = cl*10 + int64(c-'0')
	}
	f.cl = cl
}

// endHead decides how the request's body is framed, as net/http does, and
// queues the head's flags for its handler.
func (f *framing) endHead() {
	te := f.teN > 0 && !f.http10 // net/http ignores Transfer-Encoding in HTTP/1.0
	if f.teN > 0 && f.http10 {
		f.flags |= headTE10
	}
	if f.teN > 0 && f.clSeen {
		f.flags |= headCLTE
	}
	switch {
	case f.clBad, te && !f.teChunked:
		f.st = scanOff // net/http answers 400 or 501 and closes
	case te:
		f.st = scanChunkLine
	case f.clSeen && f.cl > 0:
		f.st, f.remain = scanBody, f.cl
	default:
		f.st = scanStart
	}
	f.mu.Lock()
	if f.nHead == maxHeads {
		f.st = scanOff // this head and those after it go without flags
	} else {
		f.heads[(f.head+f.nHead)%maxHeads] = f.flags
		f.nHead++
	}
	f.mu.Unlock()
}

// takeHead returns the flags of the oldest head not yet taken (none when
// framing lost track).
func (f *framing) takeHead() headFlags {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.nHead == 0 {
		return 0
	}
	h := f.heads[f.head]
	f.head, f.nHead = (f.head+1)%maxHeads, f.nHead-1
	return h
}

// midHead says whether part of a request's head has arrived.
func (f *framing) midHead() bool { return f.st == scanHead }

func parseHex(v []byte) (uint64, bool) {
	if len(v) == 0 || len(v) > 16 {
		return 0, false
	}
	var n uint64
	for _, c := range v {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		n = n<<4 | uint64(c)
	}
	return n, true
}

func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := range len(prefix) {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// isTokenByte says whether c may be in a token (RFC 9110 5.6.2): a method
// starts with one.
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return c < 0x80 && bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0
}
