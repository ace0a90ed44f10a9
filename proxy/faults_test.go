package proxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// TestDeadlinesAnswerAndCloseSilentClients drives each client-side deadline
// with a client that stops sending and then waits: the engine must answer
// (408, 413) by itself — not only when the client sends another byte — and
// then close the connection after lingering, so that no connection is ever
// left without a timer (the slowloris variant that sends half a head and
// goes quiet, or a slow upload that stalls). Each case ends with the engine
// holding no connection and the application having seen no request.
func TestDeadlinesAnswerAndCloseSilentClients(t *testing.T) {
	var appRequests atomic.Int64
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		appRequests.Add(1)
		echoHandler(w, r)
	}))
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := proxySite(be.addr)
	cfg.Sites[0].Routes = append(cfg.Sites[0].Routes, Route{Prefix: "/static/", Static: &Static{Root: root}})
	cfg.Timeouts.RequestHead = time.Second
	cfg.Timeouts.BodyIdle = time.Second
	cfg.Timeouts.Linger = 500 * time.Millisecond
	cfg.Limits.MaxBodyBytes = 1 << 20
	te := startEngine(t, cfg)

	tests := []struct {
		name   string
		send   []string // written with a pause between, then silence
		pause  time.Duration
		status int           // expected answer; 0: only a close
		after  time.Duration // earliest answer, from the first byte
	}{
		{"half a head, then silence", []string{"GET /static/a.txt HTTP/1.1\r\nHost: x\r\n"}, 0, 408, time.Second},
		{"request line only, then silence", []string{"GET /static/a.txt HTTP/1.1\r\n"}, 0, 408, time.Second},
		{"proxied upload stalls", []string{"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n", "0123456789"}, 100 * time.Millisecond, 408, time.Second},
		{"proxied chunked upload stalls", []string{"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "a\r\n0123456789\r\n"}, 100 * time.Millisecond, 408, time.Second},
		{"proxied upload trickles below the minimum rate",
			[]string{"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n", "ab", "cd", "ef", "gh", "ij", "kl", "mn", "op"}, 300 * time.Millisecond, 408, time.Second},
		{"proxied upload over the limit", []string{"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n", "0123456789"}, 0, 413, 0},
		{"chunked upload over the limit",
			[]string{"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", "200000\r\n" + strings.Repeat("z", 1100<<10)}, 0, 413, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := appRequests.Load()
			rc := dial(t, te.addr)
			start := time.Now()
			rc.send(tc.send[0])
			go func() {
				// The rest, ignoring errors: the engine may refuse and
				// close before the client is done.
				for _, s := range tc.send[1:] {
					time.Sleep(tc.pause)
					if _, err := rc.c.Write([]byte(s)); err != nil {
						return
					}
				}
			}()
			rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(rc.br, nil)
			if err != nil {
				t.Fatalf("no answer within 5 s (%v): the connection waits for a byte that never comes", err)
			}
			io.Copy(io.Discard, resp.Body)
			elapsed := time.Since(start)
			if resp.StatusCode != tc.status || elapsed < tc.after {
				t.Fatalf("answered %d after %v, want %d after at least %v", resp.StatusCode, elapsed, tc.status, tc.after)
			}
			if !rc.closed(3 * time.Second) {
				t.Fatal("the connection stayed open after the refusal (no linger timer)")
			}
			if n := appRequests.Load() - before; n != 0 {
				t.Fatalf("the application saw %d requests from an incomplete upload", n)
			}
		})
	}
	testkit.WaitFor(t, 3*time.Second, "the engine to hold no connection", func() bool { return te.e.Stats().Connections == 0 })
}

// TestAbandonedUploadIsClosed: a client that gives up half way through a
// proxied upload — closing, or closing after a refusal it never reads —
// must not leave its connection behind in CLOSE-WAIT.
func TestAbandonedUploadIsClosed(t *testing.T) {
	be := startBackend(t, true, http.HandlerFunc(echoHandler))
	cfg := proxySite(be.addr)
	cfg.Timeouts.BodyIdle = 500 * time.Millisecond
	cfg.Timeouts.Linger = 10 * time.Second // the close must come from the client's FIN, not the timer
	te := startEngine(t, cfg)
	for _, refusedFirst := range []bool{false, true} {
		rc := dial(t, te.addr)
		rc.send("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
		if refusedFirst {
			rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			resp, err := http.ReadResponse(rc.br, nil)
			if err != nil || resp.StatusCode != 408 {
				t.Fatalf("stalled upload: %v %v", resp, err)
			}
		} else {
			testkit.WaitFor(t, 2*time.Second, "the connection", func() bool { return te.e.Stats().Connections == 1 })
		}
		rc.c.Close()
		testkit.WaitFor(t, 3*time.Second, "the abandoned connection to be closed", func() bool { return te.e.Stats().Connections == 0 })
	}
}

// TestSendIdleResetsSlowReader: a reader that takes a few bytes now and
// then, never enough for the engine to write again within send_idle, must
// lose its connection at the deadline. A plain close is not enough: the
// kernel would keep the unsent megabytes of the socket buffer as an
// orphaned socket and go on trickling them to the reader, so the
// connection the timeout meant to end lives on; the engine resets it.
func TestSendIdleResetsSlowReader(t *testing.T) {
	const size = 8 << 20
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "big.bin"), strings.Repeat("x", size))
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(make([]byte, size))
	}))
	cfg := proxySite(be.addr)
	cfg.Sites[0].Routes = append(cfg.Sites[0].Routes, Route{Prefix: "/static/", Static: &Static{Root: root}})
	cfg.Timeouts.SendIdle = time.Second
	te := startEngine(t, cfg)
	for name, path := range map[string]string{"static": "/static/big.bin", "proxied": "/app"} {
		t.Run(name, func(t *testing.T) {
			// A small receive buffer set before connecting (as slowhttptest
			// -X does), so that the window is small from the start.
			d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) {
					syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 1024)
				})
			}}
			c, err := d.Dial("tcp", te.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
			start := time.Now()
			buf := make([]byte, 128)
			got := 0
			for time.Since(start) < 10*time.Second {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := c.Read(buf)
				got += n
				if err != nil {
					elapsed := time.Since(start)
					// send_idle, plus the second the reader needs for what
					// its own receive buffer already held.
					if elapsed < 900*time.Millisecond || elapsed > 4*time.Second {
						t.Fatalf("cut after %v (%v), want about 1–2 s", elapsed, err)
					}
					t.Logf("cut after %v with %d of %d bytes read: %v", elapsed, got, size, err)
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Fatalf("a reader taking 1.3 KB/s still connected after %v (%d bytes read): the unsent data lives on in the kernel", time.Since(start), got)
		})
	}
}

// TestBackPressureNeverStalls relays a 16 MiB response to a client that
// reads in small steps, in each case where the engine must stop reading
// the application until the client drains: the temporary file at its cap
// (max_temp_file), no temporary file possible at all (a full or missing
// disk: the engine then holds one buffer in memory), and a streamed
// response (never spooled). The application's bytes left in its socket
// raise no new event, so the engine must go back to them by itself once
// the client has made room; the response must arrive whole.
func TestBackPressureNeverStalls(t *testing.T) {
	const size = 16 << 20
	pattern := func(i int) byte { return byte('a' + i%26) }
	body := make([]byte, size)
	for i := range body {
		body[i] = pattern(i)
	}
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			w.Header().Set("X-Accel-Buffering", "no")
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(body)
	}))
	tests := []struct {
		name  string
		path  string
		cfg   func(*Config)
		pause time.Duration // once, after 4 MiB
	}{
		{"temporary file at its cap", "/", func(c *Config) { c.Proxy.MaxTempFile = 256 << 10 }, 0},
		{"no temporary file possible", "/", func(c *Config) { c.Proxy.TempDir = filepath.Join(t.TempDir(), "missing") }, 0},
		{"streamed", "/stream", func(c *Config) {}, 0},
		// The file takes some, then the disk is full while it still has
		// data to send: what comes next must wait behind it.
		{"disk full half way", "/", func(c *Config) { c.Proxy.TempDir = smallTmpfs(t, "512k") }, 0},
		// The application is not late while the engine does not read
		// it: a client pause longer than response_timeout is no
		// upstream timeout.
		{"client pauses longer than response_timeout", "/", func(c *Config) {
			c.Proxy.MaxTempFile = 256 << 10
			c.Proxy.ResponseTimeout = 300 * time.Millisecond
		}, time.Second},
		{"streamed, client pauses longer than response_timeout", "/stream", func(c *Config) {
			c.Proxy.ResponseTimeout = 300 * time.Millisecond
		}, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := proxySite(be.addr)
			tc.cfg(&cfg)
			te := startEngine(t, cfg)
			c, err := net.Dial("tcp", te.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", tc.path)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 16<<10)
			got := 0
			for got < size {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := resp.Body.Read(buf)
				for i := range n {
					if buf[i] != pattern(got+i) {
						t.Fatalf("byte %d is %q, want %q", got+i, buf[i], pattern(got+i))
					}
				}
				got += n
				if err != nil && !(err == io.EOF && got == size) {
					t.Fatalf("after %d of %d bytes: %v", got, size, err)
				}
				if got%(1<<20) < n {
					time.Sleep(5 * time.Millisecond) // slower than the application
				}
				if tc.pause > 0 && got >= 4<<20 {
					time.Sleep(tc.pause)
					tc.pause = 0
				}
			}
		})
	}
}

// smallTmpfs mounts a tmpfs of the given size for the test (unmounted in
// Cleanup), skipping the test where mounting is not allowed.
func smallTmpfs(t *testing.T, size string) string {
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// TestTempFileStaysUnderItsCap: max_temp_file bounds the disk one response
// takes, not only what is unsent: a client that reads steadily but slower
// than the application never lets the file drain completely, and the sent
// part must not pile up on disk behind it.
func TestTempFileStaysUnderItsCap(t *testing.T) {
	const size = 32 << 20
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(make([]byte, size))
	}))
	tmp := t.TempDir()
	cfg := proxySite(be.addr)
	cfg.Proxy.TempDir = tmp
	cfg.Proxy.MaxTempFile = 1 << 20
	te := startEngine(t, cfg)
	c, err := net.Dial("tcp", te.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	onDisk := func() int64 {
		var total int64
		entries, _ := os.ReadDir("/proc/self/fd")
		for _, e := range entries {
			p := "/proc/self/fd/" + e.Name()
			if target, err := os.Readlink(p); err == nil && strings.HasPrefix(target, tmp+"/") {
				if st, err := os.Stat(p); err == nil {
					total += st.Size()
				}
			}
		}
		return total
	}
	buf := make([]byte, 32<<10)
	var got, most int64
	for got < size {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		n, err := resp.Body.Read(buf)
		got += int64(n)
		if err != nil && !(err == io.EOF && got == size) {
			t.Fatalf("after %d bytes: %v", got, err)
		}
		if got%(256<<10) < int64(n) {
			most = max(most, onDisk())
			time.Sleep(2 * time.Millisecond)
		}
	}
	t.Logf("32 MiB through a 1 MiB temporary file: at most %d KiB on disk", most>>10)
	if most > 1<<20 {
		t.Fatalf("the temporary file reached %d KiB on disk (max_temp_file 1 MiB)", most>>10)
	}
}

// TestResponseTimeoutCutsAStalledBody: with the read timer paused under
// back-pressure, an application that stops half way through its body must
// still be cut at response_timeout.
func TestResponseTimeoutCutsAStalledBody(t *testing.T) {
	be := startBackend(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write(make([]byte, 500000))
		w.(http.Flusher).Flush()
		time.Sleep(3 * time.Second)
	}))
	cfg := proxySite(be.addr)
	cfg.Proxy.ResponseTimeout = 500 * time.Millisecond
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	start := time.Now()
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != io.ErrUnexpectedEOF || n != 500000 || time.Since(start) > 2*time.Second {
		t.Fatalf("stalled body: %d bytes, %v after %v; want 500000, unexpected EOF, about 0.5 s", n, err, time.Since(start))
	}
}

// TestAccessLogRedactsReferer: the page a client came from carries its own
// query — a password-reset link's token, an OAuth code — and the Referer
// is logged: its secret-bearing parameters are redacted like the target's,
// and a fragment (an implicit-flow access_token) is not logged at all.
func TestAccessLogRedactsReferer(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := staticSite(root)
	var log lockedWriter
	cfg.AccessLog = &log
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	rc.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n" +
		"Referer: https://example.com/reset/?token=ref-s3cr3t&code=ref-code&lang=fr#access_token=frag-s3cr3t\r\n\r\n")
	rc.response("GET")
	rc.c.Close()
	te.e.Shutdown(t.Context()) // flushes the log
	line := log.String()
	for _, secret := range []string{"ref-s3cr3t", "ref-code", "frag-s3cr3t"} {
		if strings.Contains(line, secret) {
			t.Fatalf("the access log holds %q:\n%s", secret, line)
		}
	}
	if !strings.Contains(line, `"referer":"https://example.com/reset/?token=REDACTED&code=REDACTED&lang=fr"`) {
		t.Fatalf("redacted referer missing:\n%s", line)
	}
}

// TestBothClientLimitsGrantTheBurst: with the connection cap and the
// request rate both on, a new address's connection is counted first — and
// its first requests must still get the whole burst, not a bucket that
// starts empty.
func TestBothClientLimitsGrantTheBurst(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := staticSite(root)
	cfg.Limits.Clients.MaxConnsPerIP = 10
	cfg.Limits.Clients.RequestsPerSecond = 1
	cfg.Limits.Clients.Burst = 5
	te := startEngine(t, cfg)
	rc := dialFrom(t, "127.0.0.4", te.addr)
	for i := range 5 {
		rc.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
			t.Fatalf("request %d of a burst of 5: %d", i+1, resp.StatusCode)
		}
	}
	rc.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 429 {
		t.Fatalf("request 6 of a burst of 5: %d, want 429", resp.StatusCode)
	}
}

// TestResponseEndedByCloseIsSeenAtOnce: an application that writes its
// response and closes at once makes the data and the end arrive in one
// edge-triggered event. A short read must not be taken for "drained,
// wait for the next edge": no edge follows the end. Each response must
// reach the client whole and at once, not after response_timeout.
func TestResponseEndedByCloseIsSeenAtOnce(t *testing.T) {
	responses := map[string]string{
		"/close":     "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nbody until the end",
		"/truncated": "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly part of it",
	}
	addr := serveTCP(t, func(up net.Conn) {
		defer up.Close()
		buf := make([]byte, 4096)
		n, _ := up.Read(buf)
		path := strings.Fields(string(buf[:n]) + " x x")[1]
		up.Write([]byte(responses[path])) // then close: data and end together
	})
	cfg := proxySite(addr)
	cfg.Workers = 1
	te := startEngine(t, cfg)
	for i := 0; i < 200; i++ {
		for path, want := range map[string]string{"/close": "body until the end", "/truncated": "only part of it"} {
			c, err := net.Dial("tcp", te.addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(5 * time.Second))
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n", path)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				c.Close()
				t.Fatalf("request %d %s: head: %v", i, path, err)
			}
			body, err := io.ReadAll(resp.Body)
			c.Close()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("request %d %s: %v after %q: the end of the response was missed", i, path, err, body)
			}
			if string(body) != want {
				t.Fatalf("request %d %s: body %q (%v), want %q", i, path, body, err, want)
			}
		}
	}
}
