package proxy

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/http"
	"testing"
	"time"
)

// TestExpectContinue: a client that sends "Expect: 100-continue" waits for
// the edge's go-ahead before it sends its body (curl does, for large
// uploads); the go-ahead must come in the connection's own protocol — over
// TLS through the cipher, not as plaintext into the TLS stream — and the
// body then reaches the application.
func TestExpectContinue(t *testing.T) {
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	ca := newTestCA(t)
	te, httpsAddr := startTLSEngine(t, proxySite(be.addr), ca, "example.test")
	tlsDial := func() net.Conn {
		c, err := tls.Dial("tcp", httpsAddr, &tls.Config{RootCAs: ca.pool, ServerName: "example.test", NextProtos: []string{"http/1.1"}})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	plainDial := func() net.Conn {
		c, err := net.Dial("tcp", te.addr)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for name, dial := range map[string]func() net.Conn{"plain": plainDial, "TLS": tlsDial} {
		t.Run(name, func(t *testing.T) {
			c := dial()
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			if _, err := c.Write([]byte("POST /echo HTTP/1.1\r\nHost: example.test\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 100 {
				t.Fatalf("before the body: %v %v; want 100 Continue", resp, err)
			}
			if _, err := c.Write([]byte("hello")); err != nil {
				t.Fatal(err)
			}
			resp, err = http.ReadResponse(br, &http.Request{Method: "POST"})
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("after the body: %v %v", resp, err)
			}
			var body [4096]byte
			n, _ := resp.Body.Read(body[:])
			if e := decodeEcho(t, string(body[:n])); e.Length != 5 {
				t.Fatalf("the application got %d bytes of body, want 5", e.Length)
			}
		})
	}
}

// TestPanicOverTLSIsAnswered500: the 500 that a panic's connection gets
// before it closes goes through the TLS layer like any answer (it was
// written to the socket in plaintext, which the client's TLS took for a
// broken record).
func TestPanicOverTLSIsAnswered500(t *testing.T) {
	root := t.TempDir()
	ca := newTestCA(t)
	te, httpsAddr := startTLSEngine(t, staticSite(root), ca, "example.test")
	hook := func(path []byte) {
		if string(path) == "/boom" {
			panic("handler bug")
		}
	}
	te.e.beforeServe.Store(&hook)
	te.panicsProvoked = 1
	c, err := tls.Dial("tcp", httpsAddr, &tls.Config{RootCAs: ca.pool, ServerName: "example.test", NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("GET /boom HTTP/1.1\r\nHost: example.test\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 500 {
		t.Fatalf("panicking request over TLS: %v %v; want 500", resp, err)
	}
}
