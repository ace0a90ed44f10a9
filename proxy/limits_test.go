package proxy

import (
	"bufio"
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// dialFrom connects from a given loopback source address.
func dialFrom(t *testing.T, src, addr string) *rawConn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func TestConnectionLimitPerIP(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := staticSite(root)
	cfg.Limits.Clients.MaxConnsPerIP = 3
	te := startEngine(t, cfg)
	var held []*rawConn
	for i := 0; i < 3; i++ {
		rc := dialFrom(t, "127.0.0.2", te.addr)
		rc.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
		if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
			t.Fatalf("connection %d: %d", i, resp.StatusCode)
		}
		held = append(held, rc)
	}
	over := dialFrom(t, "127.0.0.2", te.addr)
	resp, _ := over.response("GET")
	if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("fourth connection: %d", resp.StatusCode)
	}
	// Another address is not affected, nor are the held connections.
	other := dialFrom(t, "127.0.0.3", te.addr)
	other.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := other.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("other address: %d", resp.StatusCode)
	}
	held[0].send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := held[0].response("GET"); resp.StatusCode != 200 {
		t.Fatalf("held connection: %d", resp.StatusCode)
	}
	// Closing one frees a place.
	held[1].c.Close()
	testkit.WaitFor(t, 2*time.Second, "a freed place", func() bool {
		rc := dialFrom(t, "127.0.0.2", te.addr)
		rc.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, _ := rc.response("GET")
		rc.c.Close()
		return resp.StatusCode == 200
	})
}

func TestRequestRateLimitPerIP(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := staticSite(root)
	cfg.Limits.Clients.RequestsPerSecond = 2
	cfg.Limits.Clients.Burst = 5
	te := startEngine(t, cfg)
	rc := dialFrom(t, "127.0.0.4", te.addr)
	codes := map[int]int{}
	for i := 0; i < 8; i++ {
		rc.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, _ := rc.response("GET")
		codes[resp.StatusCode]++
		if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
			t.Fatal("429 without Retry-After")
		}
	}
	if codes[200] != 5 || codes[429] != 3 {
		t.Fatalf("burst of 5 then limited: %v", codes)
	}
	other := dialFrom(t, "127.0.0.5", te.addr)
	other.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := other.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("another address limited too: %d", resp.StatusCode)
	}
	time.Sleep(600 * time.Millisecond) // refills one token
	rc.send("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n")
	if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("after the refill: %d", resp.StatusCode)
	}
}

// lockedWriter collects the access log.
type lockedWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestAccessLogKeepsNoSecrets(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := staticSite(root)
	var log lockedWriter
	cfg.AccessLog = &log
	te := startEngine(t, cfg)
	rc := dial(t, te.addr)
	rc.send("GET /a.txt?token=s3cr3t-token&page=2&Password=hunter2&api_key=k-123 HTTP/1.1\r\nHost: x\r\n" +
		"Authorization: Bearer auth-value\r\nCookie: sessionid=cookie-value\r\nUser-Agent: t\r\n\r\n")
	rc.response("GET")
	rc.c.Close()
	te.e.Shutdown(t.Context()) // flushes the log
	line := log.String()
	for _, secret := range []string{"s3cr3t-token", "hunter2", "k-123", "auth-value", "cookie-value"} {
		if strings.Contains(line, secret) {
			t.Fatalf("the access log holds %q:\n%s", secret, line)
		}
	}
	if !strings.Contains(line, `/a.txt?token=REDACTED&page=2&Password=REDACTED&api_key=REDACTED`) {
		t.Fatalf("redacted target missing:\n%s", line)
	}
}
