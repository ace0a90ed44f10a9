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

// allocsPerH2RoundTrip sends GET path on one h2c connection, stream after
// stream, and returns the process's allocations per request after a
// warm-up. The request's HEADERS frame is built once (HPACK without the
// dynamic table, so the same bytes serve every stream); only its stream
// id changes.
func allocsPerH2RoundTrip(t *testing.T, addr, path string) float64 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fr := http2.NewFramer(c, c)
	io.WriteString(c, http2.ClientPreface)
	fr.WriteSettings()
	fr.WriteSettingsAck() // for the server's, which comes anyway
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	enc.SetMaxDynamicTableSizeLimit(0)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "example.com"}, {":path", path},
		{"user-agent", "test"}, {"accept-encoding", "gzip, br"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	frame := make([]byte, 9+hb.Len())
	frame[0], frame[1], frame[2] = byte(hb.Len()>>16), byte(hb.Len()>>8), byte(hb.Len())
	frame[3] = 0x1       // HEADERS
	frame[4] = 0x1 | 0x4 // END_STREAM | END_HEADERS
	copy(frame[9:], hb.Bytes())
	buf := make([]byte, 64<<10)
	have := 0
	id := uint32(1)
	roundTrip := func() {
		binary.BigEndian.PutUint32(frame[5:], id)
		if _, err := c.Write(frame); err != nil {
			t.Fatal(err)
		}
		// Read frames until this stream's END_STREAM.
		for {
			for have >= 9 {
				n := int(buf[0])<<16 | int(buf[1])<<8 | int(buf[2])
				if have < 9+n {
					break
				}
				typ, flags, sid := buf[3], buf[4], binary.BigEndian.Uint32(buf[5:])&(1<<31-1)
				have = copy(buf, buf[9+n:have])
				if sid == id && flags&0x1 != 0 && (typ == 0x0 || typ == 0x1) {
					id += 2
					return
				}
			}
			n, err := c.Read(buf[have:])
			if err != nil {
				t.Fatal(err)
			}
			have += n
		}
	}
	for i := 0; i < 200; i++ {
		roundTrip()
	}
	return testing.AllocsPerRun(2000, roundTrip)
}
