package proxy

import (
	"bytes"
	"encoding/binary"
	"io"
	"net"
	"path/filepath"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// TestNoAllocationPerHTTP2Request: on a warm HTTP/2 connection (h2c), a
// request for a static file and a proxied request (pooled upstream
// connection, an upstream that allocates nothing) allocate nothing in the
// whole process, the hand-made client included.
func TestNoAllocationPerHTTP2Request(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.css"), "body{color:red}")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
	addr := serveTCP(t, func(up net.Conn) { serveFixed(up, resp) })
	cfg := proxySite(addr)
	cfg.Sites[0].Routes = append(cfg.Sites[0].Routes, Route{Prefix: "/static/", Static: &Static{Root: root}})
	cfg.Workers = 1
	he := startH2Engine(t, cfg, "example.test")
	for _, path := range []string{"/static/a.css", "/page"} {
		if allocs := allocsPerH2RoundTrip(t, he.addr, path); allocs > 0.05 {
			t.Errorf("%s: %.2f allocations per request, want 0", path, allocs)
		}
	}
}

// TestNoAllocationPerHTTP2Burst: a client that keeps ten streams open at
// a time, as h2load -m10 and browsers do, burst after burst on one
// connection, allocates nothing either, for a static file or a proxied
// request. The connection's list of open streams outgrows its inline
// room on every burst, and used to be grown from the garbage collector
// each time once the connection had idled in between.
func TestNoAllocationPerHTTP2Burst(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.css"), "body{color:red}")
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
	addr := serveTCP(t, func(up net.Conn) { serveFixed(up, resp) })
	cfg := proxySite(addr)
	cfg.Sites[0].Routes = append(cfg.Sites[0].Routes, Route{Prefix: "/static/", Static: &Static{Root: root}})
	cfg.Workers = 1
	he := startH2Engine(t, cfg, "example.test")
	for _, path := range []string{"/static/a.css", "/page"} {
		c, err := net.Dial("tcp", he.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		burst := h2Burst(t, c, "http", "example.com", path, 10)
		for i := 0; i < 100; i++ {
			burst()
		}
		if allocs := testing.AllocsPerRun(500, burst); allocs > 0.05 {
			t.Errorf("%s: %.2f allocations per burst of 10 streams, want 0", path, allocs)
		}
	}
}

// allocsPerH2RoundTrip sends GET path on one h2c connection, stream after
// stream, and returns the process's allocations per request after a
// warm-up.
func allocsPerH2RoundTrip(t *testing.T, addr, path string) float64 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip := h2RoundTrip(t, c, "http", "example.com", path)
	for i := 0; i < 200; i++ {
		roundTrip()
	}
	return testing.AllocsPerRun(2000, roundTrip)
}

// h2RoundTrip starts HTTP/2 on c (the preface, SETTINGS) and returns a
// function that sends GET path as the next stream and reads frames until
// its response ends, without allocating.
func h2RoundTrip(t *testing.T, c net.Conn, scheme, authority, path string) func() {
	t.Helper()
	return h2Burst(t, c, scheme, authority, path, 1)
}

// h2Burst is h2RoundTrip for n streams at once: their n HEADERS frames go
// in one write, and frames are read until the n responses have ended. The
// request's HEADERS frame is built once (HPACK without the dynamic table,
// so the same bytes serve every stream); only its stream id changes. The
// connection's window is opened wide at the start, so that the responses
// never wait for a WINDOW_UPDATE.
func h2Burst(t *testing.T, c net.Conn, scheme, authority, path string, n int) func() {
	t.Helper()
	fr := http2.NewFramer(c, c)
	io.WriteString(c, http2.ClientPreface)
	fr.WriteSettings()
	fr.WriteSettingsAck() // for the server's, which comes anyway
	fr.WriteWindowUpdate(0, 1<<30)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	enc.SetMaxDynamicTableSizeLimit(0)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", scheme}, {":authority", authority}, {":path", path},
		{"user-agent", "test"}, {"accept-encoding", "gzip, br"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	size := 9 + hb.Len()
	frames := make([]byte, n*size)
	for i := 0; i < n; i++ {
		frame := frames[i*size:]
		frame[0], frame[1], frame[2] = byte(hb.Len()>>16), byte(hb.Len()>>8), byte(hb.Len())
		frame[3] = 0x1       // HEADERS
		frame[4] = 0x1 | 0x4 // END_STREAM | END_HEADERS
		copy(frame[9:], hb.Bytes())
	}
	buf := make([]byte, 64<<10)
	have := 0
	id := uint32(1)
	return func() {
		for i := 0; i < n; i++ {
			binary.BigEndian.PutUint32(frames[i*size+5:], id+2*uint32(i))
		}
		if _, err := c.Write(frames); err != nil {
			t.Fatal(err)
		}
		// Read frames until every stream's END_STREAM.
		for ended := 0; ended < n; {
			for have >= 9 {
				l := int(buf[0])<<16 | int(buf[1])<<8 | int(buf[2])
				if have < 9+l {
					break
				}
				typ, flags, sid := buf[3], buf[4], binary.BigEndian.Uint32(buf[5:])&(1<<31-1)
				have = copy(buf, buf[9+l:have])
				if sid >= id && sid < id+2*uint32(n) && flags&0x1 != 0 && (typ == 0x0 || typ == 0x1) {
					ended++
				}
			}
			if ended == n {
				break
			}
			r, err := c.Read(buf[have:])
			if err != nil {
				t.Fatal(err)
			}
			have += r
		}
		id += 2 * uint32(n)
	}
}
