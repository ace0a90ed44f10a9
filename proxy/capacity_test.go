package proxy

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// raiseFileLimit lifts the soft open-files limit to the hard one.
func raiseFileLimit(t testing.TB, need uint64) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	if rl.Max < need {
		t.Skipf("open-files hard limit %d < %d", rl.Max, need)
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
}

// TestHoldsManyIdleKeepAliveConnections opens 9,000 connections, makes each
// idle after one request, and checks that all are still held and answer a
// second request. Client and server share this process, so 18,000
// descriptors are in use (the machine's hard limit is 20,000).
func TestHoldsManyIdleKeepAliveConnections(t *testing.T) {
	const n = 9000
	raiseFileLimit(t, 2*n+500)
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	te := startEngine(t, staticSite(root))
	conns := make([]net.Conn, n)
	readers := make([]*bufio.Reader, n)
	t.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	req := []byte("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	roundTrip := func(i int) error {
		c := conns[i]
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write(req); err != nil {
			return err
		}
		resp, err := http.ReadResponse(readers[i], nil)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return &net.AddrError{Err: resp.Status}
		}
		return nil
	}
	// Open in parallel batches.
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				c, err := net.Dial("tcp", te.addr)
				if err != nil {
					errs <- err
					return
				}
				conns[i], readers[i] = c, bufio.NewReader(c)
				if err := roundTrip(i); err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("opening connections: %v", err)
	}
	if got := te.e.Stats().Connections; got < n {
		t.Fatalf("engine holds %d connections, want %d", got, n)
	}
	// All idle now; every one still answers.
	errs = make(chan error, n)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; i < n; i += 8 {
				if err := roundTrip(i); err != nil {
					errs <- err
					return
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("second round: %v", err)
	}
}

// TestNoAllocationPerRequest measures the whole process's allocations per
// keep-alive request/response round trip, client included (its reads and
// writes reuse buffers): the engine's request path must allocate nothing.
func TestNoAllocationPerRequest(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.css"), "body{color:red}")
	cfg := staticSite(root)
	cfg.Workers = 1
	te := startEngine(t, cfg)
	req := "GET /a.css HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\nAccept-Encoding: gzip, br\r\n\r\n"
	if allocs := allocsPerRoundTrip(t, te.addr, req, "body{color:red}"); allocs > 0.05 {
		t.Fatalf("%.2f allocations per request, want 0", allocs)
	}
}

// TestNoAllocationPerProxiedRequest is TestNoAllocationPerRequest for the
// reverse proxy: a keep-alive client, a pooled upstream connection, and an
// upstream that itself allocates nothing per request (a loop over one
// connection with fixed buffers), so that every allocation counted is the
// engine's. Allocation per request means garbage collections under load,
// and each one takes the worker's CPU away for a moment: tail latency.
func TestNoAllocationPerProxiedRequest(t *testing.T) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
	addr := serveTCP(t, func(up net.Conn) { serveFixed(up, resp) })
	cfg := proxySite(addr)
	cfg.Workers = 1
	te := startEngine(t, cfg)
	req := "GET /page HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test\r\nX-Request-ID: 0123456789abcdef\r\n\r\n"
	if allocs := allocsPerRoundTrip(t, te.addr, req, "\r\n\r\nok\n"); allocs > 0.05 {
		t.Fatalf("%.2f allocations per proxied request, want 0", allocs)
	}
}

// serveFixed answers every request head on c with resp until c closes.
func serveFixed(c net.Conn, resp []byte) {
	defer c.Close()
	buf := make([]byte, 8192)
	have := 0
	for {
		n, err := c.Read(buf[have:])
		if err != nil {
			return
		}
		have += n
		for {
			end := bytes.Index(buf[:have], []byte("\r\n\r\n"))
			if end < 0 {
				break
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
			have = copy(buf, buf[end+4:have])
		}
		if have == len(buf) {
			return
		}
	}
}

// allocsPerRoundTrip sends req on one keep-alive connection to addr, reads
// each response until it ends with last (small responses come in one
// write), and returns the process's allocations per round trip after a
// warm-up (pools, caches, map growth).
func allocsPerRoundTrip(t *testing.T, addr, req, last string) float64 {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	roundTrip := h1RoundTrip(t, c, req, last)
	for i := 0; i < 100; i++ {
		roundTrip()
	}
	return testing.AllocsPerRun(2000, roundTrip)
}

// h1RoundTrip returns a function that sends req on the keep-alive
// connection c and reads the response until it ends with last, without
// allocating.
func h1RoundTrip(t *testing.T, c net.Conn, req, last string) func() {
	reqBytes := []byte(req)
	buf := make([]byte, 4096)
	roundTrip := func() {
		if _, err := c.Write(reqBytes); err != nil {
			t.Fatal(err)
		}
		got := 0
		for {
			n, err := c.Read(buf[got:])
			if err != nil {
				t.Fatal(err)
			}
			got += n
			if got >= len(last) && string(buf[got-len(last):got]) == last {
				return
			}
		}
	}
	return roundTrip
}

// serveTCP runs a plain TCP server on loopback for the test, handling each
// connection in a goroutine, and returns its address.
func serveTCP(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go handle(c)
		}
	}()
	return l.Addr().String()
}
