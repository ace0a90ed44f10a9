package proxy

import (
	"crypto/tls"
	"net"
	"runtime"
	"testing"
)

// TestTLSRequestsAllocateLittle: over a warm TLS connection, HTTP/1.1
// keep-alive and HTTP/2, a proxied request allocates almost nothing in the
// whole process, client included. crypto/tls itself allocates a small
// reader each time it reads a record, on both sides; nothing else may. A
// connection that goes idle gives its buffers back (tlsterm's trim: after
// every HTTP/1.1 response, after every burst of HTTP/2 streams), and they
// used to be grown again from the garbage collector on the next request
// — about a kilobyte a request, which ran the collector several times a
// second under load. Now they are lent from the loop's pools.
func TestTLSRequestsAllocateLittle(t *testing.T) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
	addr := serveTCP(t, func(up net.Conn) { serveFixed(up, resp) })
	cfg := proxySite(addr)
	cfg.Workers = 1
	he := startH2Engine(t, cfg, "example.test")
	dial := func(proto string) net.Conn {
		c, err := tls.Dial("tcp", he.httpsAddr, &tls.Config{RootCAs: he.ca.pool, ServerName: "example.test", NextProtos: []string{proto}})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ConnectionState().NegotiatedProtocol; got != proto {
			t.Fatalf("ALPN %q, want %q", got, proto)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	cases := []struct {
		proto     string
		roundTrip func() // one request, its whole response read
	}{
		{"http/1.1", h1RoundTrip(t, dial("http/1.1"), "GET /page HTTP/1.1\r\nHost: example.test\r\nUser-Agent: test\r\n\r\n", "\r\n\r\nok\n")},
		{"h2", h2RoundTrip(t, dial("h2"), "https", "example.test", "/page")},
	}
	for _, c := range cases {
		for i := 0; i < 200; i++ {
			c.roundTrip()
		}
		b := bytesPerRun(2000, c.roundTrip)
		t.Logf("%s: %.0f bytes per request", c.proto, b)
		if b > maxTLSBytesPerRequest {
			t.Errorf("%s over TLS: %.0f bytes allocated per request, want at most %d", c.proto, b, maxTLSBytesPerRequest)
		}
	}
}

// maxTLSBytesPerRequest allows crypto/tls's own allocations: a 16-byte
// reader per record read, a record each way on each side.
const maxTLSBytesPerRequest = 128

// bytesPerRun runs f n times and returns the bytes the whole process
// allocated per run.
func bytesPerRun(n int, f func()) float64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < n; i++ {
		f()
	}
	runtime.ReadMemStats(&after)
	return float64(after.TotalAlloc-before.TotalAlloc) / float64(n)
}
