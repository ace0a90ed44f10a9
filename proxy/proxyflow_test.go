package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRequestBodies: a body of exactly max_body is taken and forwarded
// with a Content-Length, one byte more is refused with 413 before the
// application sees anything, chunked or not; transfer codings other than
// chunked are refused with 501; an empty body keeps its Content-Length: 0.
func TestRequestBodies(t *testing.T) {
	var seen atomic.Int64
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Add(1)
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %d %q %q", r.Method, len(body), r.Header.Get("Content-Length"), r.TransferEncoding)
	}))
	cfg := proxySite(be.addr)
	cfg.Limits.MaxBodyBytes = 10
	te := startEngine(t, cfg)
	chunked := func(parts ...string) string {
		var b strings.Builder
		for _, p := range parts {
			fmt.Fprintf(&b, "%x\r\n%s\r\n", len(p), p)
		}
		return b.String() + "0\r\n\r\n"
	}
	for _, c := range []struct {
		name, request string
		status        int
		body          string // what the application says it got
		reached       bool
	}{
		{"length at the limit", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n0123456789", 200, `POST 10 "10" []`, true},
		{"length over the limit", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n0123456789a", 413, "", false},
		{"chunked at the limit", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked("01234", "56789"), 200, `POST 10 "10" []`, true},
		{"chunked over the limit", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked("01234", "56789", "a"), 413, "", false},
		{"empty chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked(), 200, `POST 0 "0" []`, true},
		{"empty length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 200, `POST 0 "0" []`, true},
		{"no body at all", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 200, `GET 0 "" []`, true},
		{"gzip before chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n" + chunked("x"), 501, "", false},
		{"malformed chunk", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n", 400, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := seen.Load()
			rc := dial(t, te.addr)
			rc.send(c.request)
			method, _, _ := strings.Cut(c.request, " ")
			resp, body := rc.response(method)
			if resp.StatusCode != c.status || (c.status == 200 && body != c.body) {
				t.Fatalf("%d %q, want %d %q", resp.StatusCode, clip([]byte(body), 80), c.status, c.body)
			}
			if reached := seen.Load() > before; reached != c.reached {
				t.Fatalf("the application saw the request: %v, want %v", reached, c.reached)
			}
			if c.status != 200 && !rc.closed(2*time.Second) {
				t.Fatal("connection kept after a refused body")
			}
		})
	}
}

// TestExpectContinueOnlyToAWaitingClient: a client that waits for the
// go-ahead gets "100 Continue" before it sends its body; one that sent
// the body along gets no 100 in front of the answer.
func TestExpectContinueOnlyToAWaitingClient(t *testing.T) {
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	te := startEngine(t, proxySite(be.addr))
	rc := dial(t, te.addr)
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := rc.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("go-ahead: %q %v", line, err)
	}
	if blank, _ := rc.br.ReadString('\n'); blank != "\r\n" {
		t.Fatalf("after the go-ahead: %q", blank)
	}
	rc.send("hello")
	if resp, body := rc.response("POST"); resp.StatusCode != 200 || decodeEcho(t, body).Length != 5 || decodeEcho(t, body).Headers["Expect"] != "" {
		t.Fatalf("after the body: %d %q", resp.StatusCode, body)
	}
	rc.send("POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello")
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err = rc.br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 200 OK\r\n" {
		t.Fatalf("body sent along: first line %q %v, want the answer itself", line, err)
	}
}

// TestRetryOnAStaleConnection: when a pooled connection turns out closed
// (the application dropped it while idle), a request that is safe to send
// twice is sent again, once, on a fresh connection; one that is not safe
// and was already written gets 502 rather than being sent twice.
func TestRetryOnAStaleConnection(t *testing.T) {
	var requests atomic.Int64
	// Each connection answers its first request, then reads the second
	// and closes without answering: a keep-alive connection the
	// application dropped just as it was reused.
	addr := serveTCP(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			requests.Add(1)
			if i == 1 {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	cfg := proxySite(addr)
	cfg.Workers = 1
	te := startEngine(t, cfg)
	for _, c := range []struct {
		method string
		status int
		tries  int64 // requests the application received for it
	}{
		{"GET", 200, 2}, {"HEAD", 200, 2}, {"PUT", 200, 2}, {"DELETE", 200, 2}, {"OPTIONS", 200, 2},
		{"POST", 502, 1}, {"PATCH", 502, 1},
	} {
		t.Run(c.method, func(t *testing.T) {
			rc := dial(t, te.addr)
			// A first request leaves one connection in the pool.
			rc.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
			if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
				t.Fatalf("first request: %d", resp.StatusCode)
			}
			before := requests.Load()
			body := "Content-Length: 2\r\n\r\nhi"
			if c.method == "GET" || c.method == "HEAD" {
				body = "\r\n"
			}
			rc.send(c.method + " /again HTTP/1.1\r\nHost: x\r\n" + body)
			resp, _ := rc.response(c.method)
			if resp.StatusCode != c.status {
				t.Fatalf("%s on a stale connection: %d, want %d", c.method, resp.StatusCode, c.status)
			}
			if got := requests.Load() - before; got != c.tries {
				t.Fatalf("the application received it %d times, want %d", got, c.tries)
			}
		})
	}
}
