package proxy

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// tempFileBytes sums the sizes of the files this process holds open in
// dir (the engine runs in the test's process; its spool files are
// unlinked, so only /proc/self/fd still names them).
func tempFileBytes(dir string) int64 {
	entries, _ := os.ReadDir("/proc/self/fd")
	var total int64
	for _, e := range entries {
		p := "/proc/self/fd/" + e.Name()
		target, err := os.Readlink(p)
		if err != nil || !strings.HasPrefix(target, dir+"/") {
			continue
		}
		if st, err := os.Stat(p); err == nil {
			total += st.Size()
		}
	}
	return total
}

// spoolPayload is size bytes that differ at every offset a mistake could
// shift to (a repeated pattern would hide a skipped or doubled block).
func spoolPayload(size int) []byte {
	b := make([]byte, size)
	rand.NewChaCha8([32]byte{'s', 'p', 'o', 'o', 'l'}).Read(b)
	return b
}

// TestSpooledResponseToSlowTLSClient sends a response many times larger
// than buffer_memory to an HTTPS client that reads nothing until the
// application has written all of it: the engine must take it off the
// application into memory and its temporary file, then send it through
// TLS from there (spool.sendToConn's TLS branch: pread and encrypt, since
// sendfile cannot), byte for byte, and leave the connection fit for the
// next request.
func TestSpooledResponseToSlowTLSClient(t *testing.T) {
	const size = 16 << 20
	payload := spoolPayload(size)
	var served atomic.Bool
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			w.Write([]byte("small"))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(payload)
		served.Store(true)
	}))
	ca := newTestCA(t)
	tmp := t.TempDir()
	cfg := proxySite(be.addr)
	cfg.Workers = 1
	cfg.Proxy.TempDir = tmp
	cfg.Proxy.BufferMemory = 64 << 10
	te, httpsAddr := startTLSEngine(t, cfg, ca, "example.test")

	raw, err := net.Dial("tcp", httpsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	// A small receive window, so that little of the response can wait
	// in the kernel: the rest has to be in the engine's spool.
	raw.(*net.TCPConn).SetReadBuffer(64 << 10)
	c := tls.Client(raw, &tls.Config{RootCAs: ca.pool, ServerName: "example.test", NextProtos: []string{"http/1.1"}})
	c.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprint(c, "GET /big HTTP/1.1\r\nHost: example.test\r\n\r\n")

	testkit.WaitFor(t, 20*time.Second, "the application to finish writing", served.Load)
	testkit.WaitFor(t, 10*time.Second, "the upstream to be released", func() bool {
		req, _ := te.e.InFlight(be.addr)
		return req == 0
	})
	if n := tempFileBytes(tmp); n < 1<<20 {
		t.Fatalf("temporary file holds %d bytes with the client reading nothing: the response did not go through the file", n)
	}

	// Now a slow reader: small reads, pausing every 256 KiB for the first
	// 4 MiB (the engine meets a full socket again and again), then as
	// fast as it can.
	br := bufio.NewReaderSize(c, 4<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.ContentLength != size {
		t.Fatalf("status %d, length %d", resp.StatusCode, resp.ContentLength)
	}
	got := make([]byte, 0, size)
	buf := make([]byte, 4<<10)
	for {
		n, err := resp.Body.Read(buf)
		got = append(got, buf[:n]...)
		if len(got) < 4<<20 && len(got)%(256<<10) < n {
			time.Sleep(20 * time.Millisecond)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", len(got), err)
		}
	}
	if len(got) != size {
		t.Fatalf("got %d bytes, want %d", len(got), size)
	}
	if i := firstDifference(got, payload); i >= 0 {
		t.Fatalf("byte %d differs (got %#x, want %#x): the spooled body was corrupted on its way through TLS", i, got[i], payload[i])
	}

	// The same connection serves the next request, and the spool gave
	// its file space back.
	fmt.Fprint(c, "GET /small HTTP/1.1\r\nHost: example.test\r\n\r\n")
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(body) != "small" {
		t.Fatalf("next request on the connection: %d %q", resp.StatusCode, body)
	}
	if n := tempFileBytes(tmp); n != 0 {
		t.Fatalf("temporary files still hold %d bytes after the response was sent", n)
	}
}

// firstDifference returns the first index where a and b differ, or -1.
func firstDifference(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
