package balancer

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// scriptedZope answers each request but the health checks with the raw
// response that answer returns for it (the request as Go's server reads it,
// body included), then closes the connection when close says so.
func scriptedZope(t testing.TB, answer func(r *http.Request, body string) (raw string, close bool)) string {
	return serveTCP(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			b, _ := io.ReadAll(r.Body)
			raw, cl := "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false
			if r.Header.Get("User-Agent") != "zenpatch-balancer-health" {
				raw, cl = answer(r, string(b))
			}
			if _, err := io.WriteString(c, raw); err != nil || cl {
				return
			}
		}
	})
}

// rawFront runs a balancer over addr and returns a raw connection to it.
func rawFront(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	c := dialServer(t, Config{SlowStart: -1, HealthInterval: time.Hour}, addr, 0)
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c, bufio.NewReader(c)
}

// exchange writes raw to c and reads the response.
func exchange(t *testing.T, c net.Conn, br *bufio.Reader, raw, method string) (*http.Response, string) {
	_, err := io.WriteString(c, raw)
	require.NoError(t, err)
	return readResp(t, br, method)
}

func readResp(t *testing.T, br *bufio.Reader, method string) (*http.Response, string) {
	resp, err := http.ReadResponse(br, &http.Request{Method: method})
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp, string(b)
}

func TestProxyBodiesEveryWay(t *testing.T) {
	addr := scriptedZope(t, func(r *http.Request, body string) (string, bool) {
		switch r.URL.Path {
		case "/chunked":
			return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: 1\r\n\r\n", false
		case "/to-close": // no length: the body runs to the end of the connection
			return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", true
		case "/close":
			return "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbye.", true
		case "/nocontent":
			return "HTTP/1.1 204 No Content\r\n\r\n", false
		case "/early":
			return "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nlater", false
		}
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(r.Method+" "+body), r.Method+" "+body), false
	})
	c, br := rawFront(t, addr)
	for _, tc := range []struct{ req, method, want string }{
		{"GET /chunked HTTP/1.1\r\nHost: z\r\n\r\n", "GET", "abcde"},
		{"GET /nocontent HTTP/1.1\r\nHost: z\r\n\r\n", "GET", ""},
		{"GET /early HTTP/1.1\r\nHost: z\r\n\r\n", "GET", "later"},
		{"POST /echo HTTP/1.1\r\nHost: z\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwiki\r\n5\r\npedia\r\n0\r\n\r\n", "POST", "POST wikipedia"},
		{"POST /echo HTTP/1.1\r\nHost: z\r\nContent-Length: 5\r\n\r\nhello", "POST", "POST hello"},
		{"GET /close HTTP/1.1\r\nHost: z\r\n\r\n", "GET", "bye."},
		{"GET /to-close HTTP/1.1\r\nHost: z\r\n\r\n", "GET", "until the end"},
		{"GET /after HTTP/1.1\r\nHost: z\r\n\r\n", "GET", "GET "},
	} {
		resp, body := exchange(t, c, br, tc.req, tc.method)
		assert.Less(t, resp.StatusCode, 300, tc.req)
		assert.Equal(t, tc.want, body, tc.req)
		assert.False(t, resp.Close, "the Zope closing its connection does not close the client's: %s", tc.req)
	}
}

func TestProxyHeadAndHTTP10(t *testing.T) {
	addr := scriptedZope(t, func(r *http.Request, _ string) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n" + map[bool]string{true: "", false: "hello world"}[r.Method == "HEAD"], false
	})
	c, br := rawFront(t, addr)
	resp, body := exchange(t, c, br, "HEAD / HTTP/1.1\r\nHost: z\r\n\r\n", "HEAD")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, int64(11), resp.ContentLength, "HEAD keeps the Zope's length")
	assert.Empty(t, body)

	resp, body = exchange(t, c, br, "GET / HTTP/1.0\r\n\r\n", "GET") // no Host, no keep-alive
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "hello world", body)
	_, err := br.ReadByte()
	assert.ErrorIs(t, err, io.EOF, "an HTTP/1.0 client without keep-alive gets its connection closed")
}

func TestProxyPipelinedRequestsInOrder(t *testing.T) {
	addr := scriptedZope(t, func(r *http.Request, _ string) (string, bool) {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(r.URL.Path), r.URL.Path), false
	})
	c, br := rawFront(t, addr)
	_, err := io.WriteString(c, "GET /1 HTTP/1.1\r\nHost: z\r\n\r\nGET /22 HTTP/1.1\r\nHost: z\r\n\r\nGET /333 HTTP/1.1\r\nHost: z\r\n\r\n")
	require.NoError(t, err)
	for _, want := range []string{"/1", "/22", "/333"} {
		_, body := readResp(t, br, "GET")
		assert.Equal(t, want, body)
	}
}

func TestProxyExpectContinue(t *testing.T) {
	addr := scriptedZope(t, func(r *http.Request, body string) (string, bool) {
		return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body), false
	})
	c, br := rawFront(t, addr)
	_, err := io.WriteString(c, "PUT /f HTTP/1.1\r\nHost: z\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	require.NoError(t, err)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	assert.Equal(t, "HTTP/1.1 100 Continue\r\n", line)
	_, err = br.ReadString('\n')
	require.NoError(t, err)
	resp, body := exchange(t, c, br, "data", "PUT")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "data", body)
}

func TestProxyRefusesBadRequests(t *testing.T) {
	addr := scriptedZope(t, func(*http.Request, string) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false
	})
	for name, tc := range map[string]struct {
		req  string
		code int
	}{
		"garbage":          {"NOT HTTP AT ALL\r\n\r\n", 400},
		"header too large": {"GET / HTTP/1.1\r\nHost: z\r\nX-Big: " + strings.Repeat("a", MaxHeaderBytes) + "\r\n\r\n", 431},
		"body too large":   {fmt.Sprintf("POST / HTTP/1.1\r\nHost: z\r\nContent-Length: %d\r\n\r\n", MaxBody+1), 413},
		"bad chunk size":   {"POST / HTTP/1.1\r\nHost: z\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
	} {
		t.Run(name, func(t *testing.T) {
			c, br := rawFront(t, addr)
			resp, _ := exchange(t, c, br, tc.req, "GET")
			assert.Equal(t, tc.code, resp.StatusCode)
			assert.True(t, resp.Close, "the connection is closed after a refusal")
		})
	}
}

// A Zope that sends a broken response: the client gets a 502, and the
// balancer goes on serving.
func TestProxyBrokenResponse(t *testing.T) {
	addr := scriptedZope(t, func(r *http.Request, _ string) (string, bool) {
		if r.URL.Path == "/broken" {
			return "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
	})
	c, br := rawFront(t, addr)
	resp, _ := exchange(t, c, br, "POST /broken HTTP/1.1\r\nHost: z\r\nContent-Length: 0\r\n\r\n", "POST")
	assert.Equal(t, 502, resp.StatusCode)
	resp, body := exchange(t, c, br, "GET / HTTP/1.1\r\nHost: z\r\n\r\n", "GET")
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "ok", body)
}

// A request with both Content-Length and Transfer-Encoding (the request
// smuggling shape) is refused with 400, as nginx does, and the connection
// closed (RFC 9112 6.3), so what followed it is never read as a request:
// the Zope sees nothing.
func TestProxyNoSmuggling(t *testing.T) {
	var seen []string
	var mu sync.Mutex
	addr := scriptedZope(t, func(r *http.Request, body string) (string, bool) {
		mu.Lock()
		seen = append(seen, fmt.Sprintf("%s %s [%s] te=%v", r.Method, r.URL.Path, body, r.TransferEncoding))
		mu.Unlock()
		return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
	})
	for name, req := range map[string]string{
		"CL then TE": "POST /a HTTP/1.1\r\nHost: z\r\nContent-Length: 30\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: z\r\n\r\n",
		"TE then CL": "POST /a HTTP/1.1\r\nHost: z\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: z\r\n\r\n",
		"TE in 1.0":  "POST /a HTTP/1.0\r\nHost: z\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
		"obs-fold":   "POST /a HTTP/1.1\r\nHost: z\r\nTransfer-Encoding:\r\n chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			c, br := rawFront(t, addr)
			resp, _ := exchange(t, c, br, req, "POST")
			assert.Equal(t, 400, resp.StatusCode)
			assert.True(t, resp.Close, "the connection closes after an ambiguous request")
			_, err := br.ReadByte()
			assert.ErrorIs(t, err, io.EOF)
		})
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, seen, "the Zope saw nothing")
}

func TestProxyConflictingLengthsRefused(t *testing.T) {
	addr := scriptedZope(t, func(*http.Request, string) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false
	})
	c, br := rawFront(t, addr)
	resp, _ := exchange(t, c, br, "POST / HTTP/1.1\r\nHost: z\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde", "POST")
	assert.Equal(t, 400, resp.StatusCode)
}
