package proxy

import (
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// TestTLSUploadOnANewConnection: a large body sent on a new TLS connection
// arrives with the request. In TLS 1.3 the client sends it right behind
// its Finished, while the server still counts the handshake as running;
// the engine used to close a connection that buffered more than 64 KiB by
// then, and a third to a half of such uploads were reset (curl: "Recv
// failure: Connection reset by peer"; a Django admin upload of 300 KB).
func TestTLSUploadOnANewConnection(t *testing.T) {
	ca := newTestCA(t)
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	cfg := Config{
		Upstreams: []Upstream{{Name: "app", Servers: []UpstreamServer{{Addr: be.addr}}}},
		Sites:     []Site{{Hosts: []string{"example.test"}, Routes: []Route{{Prefix: "/", Upstream: "app"}}}},
	}
	_, httpsAddr := startTLSEngine(t, cfg, ca, "example.test")
	upload := make([]byte, 300000)
	rand.Read(upload)
	sum := sha256.Sum256(upload)
	failed := 0
	const uploads = 40
	for i := 0; i < uploads; i++ {
		client := httpsClient(ca, "example.test", httpsAddr) // a new connection each time
		resp, err := client.Do(newRequest(t, "POST", "https://example.test/echo", upload, nil))
		if err != nil {
			failed++
			t.Logf("upload %d: %v", i, err)
			continue
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		client.CloseIdleConnections()
		if err != nil {
			failed++
			t.Logf("upload %d: reading the answer: %v", i, err)
			continue
		}
		if e := decodeEcho(t, string(body)); e.Length != len(upload) || e.SHA256 != fmt.Sprintf("%x", sum[:]) {
			t.Fatalf("upload %d arrived as %d bytes, sha256 %s", i, e.Length, e.SHA256)
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d uploads of 300 KB on a new TLS connection failed", failed, uploads)
	}
}

// TestTLSExpectContinue: a client that sends Expect: 100-continue over TLS
// (curl does for every upload over 1 MB) gets the interim response as a
// TLS record, then sends its body and gets the answer. The engine used to
// write "HTTP/1.1 100 Continue" on the raw socket, and the client saw a
// broken record (curl: "SSL routines::wrong version number").
func TestTLSExpectContinue(t *testing.T) {
	ca := newTestCA(t)
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	cfg := Config{
		Upstreams: []Upstream{{Name: "app", Servers: []UpstreamServer{{Addr: be.addr}}}},
		Sites:     []Site{{Hosts: []string{"example.test"}, Routes: []Route{{Prefix: "/", Upstream: "app"}}}},
	}
	_, httpsAddr := startTLSEngine(t, cfg, ca, "example.test")
	client := httpsClient(ca, "example.test", httpsAddr)
	// The transport waits this long for 100 Continue before it sends the
	// body anyway; long, so the body goes only after the go-ahead.
	client.Transport.(*http.Transport).ExpectContinueTimeout = time.Minute
	upload := make([]byte, 2<<20)
	rand.Read(upload)
	sum := sha256.Sum256(upload)
	for i := 0; i < 3; i++ {
		req := newRequest(t, "POST", "https://example.test/echo", upload, map[string]string{"Expect": "100-continue"})
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("upload %d with Expect: 100-continue over TLS: %v", i, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if e := decodeEcho(t, string(body)); e.Length != len(upload) || e.SHA256 != fmt.Sprintf("%x", sum[:]) {
			t.Fatalf("upload %d arrived as %d bytes", i, e.Length)
		}
	}
}
