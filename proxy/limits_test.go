package proxy

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/netip"
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

// entries is how many client addresses the limiter remembers.
func (l *ipLimiter) entries() int {
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

// TestLimiterSweepBoundsMemory feeds the limiter new client addresses
// every two minutes for twenty minutes, sweeping as the engine does: the
// map never holds more than the addresses of the last five minutes,
// however many were seen; an address with a connection open, or seen
// recently, stays (its counts must survive); a swept one starts afresh.
func TestLimiterSweepBoundsMemory(t *testing.T) {
	const (
		perRound = 20000
		rounds   = 10
		idle     = 5 * time.Minute
		step     = 2 * time.Minute
	)
	var l ipLimiter
	start := time.Now().UnixNano()
	addr := func(round, i int) netip.Addr {
		return netip.AddrFrom4([4]byte{10, byte(round), byte(i >> 8), byte(i)})
	}
	held := netip.MustParseAddr("192.0.2.1")
	if !l.acquireConn(held, 1, start) {
		t.Fatal("first connection refused")
	}
	for r := range rounds {
		now := start + int64(r)*int64(step)
		for i := range perRound {
			if !l.allow(addr(r, i), 10, 5, now) {
				t.Fatalf("round %d: a new address refused", r)
			}
		}
		l.sweep(now, idle)
		// Rounds younger than idle stay: this one, and the two before.
		want := min(r+1, 3)*perRound + 1
		if got := l.entries(); got != want {
			t.Fatalf("round %d: %d addresses after the sweep, want %d (%d seen in all)", r, got, want, (r+1)*perRound+1)
		}
	}
	last := start + int64(rounds-1)*int64(step)
	// A recent address keeps its spent bucket through a sweep.
	recent := addr(rounds-1, 0)
	for l.allow(recent, 10, 5, last) {
	}
	l.sweep(last+int64(time.Minute), idle)
	if l.allow(recent, 10, 5, last) {
		t.Fatal("a sweep refilled the bucket of an address seen a minute ago")
	}
	// Long after: only the address with a connection open is left.
	later := last + int64(idle) + int64(time.Second)
	l.sweep(later, idle)
	if got := l.entries(); got != 1 {
		t.Fatalf("%d addresses left after all went idle, want 1 (the one holding a connection)", got)
	}
	if l.acquireConn(held, 1, later) {
		t.Fatal("the sweep forgot an open connection: a second one was let in over the cap")
	}
	l.releaseConn(held)
	l.sweep(later+int64(idle)+1, idle)
	if got := l.entries(); got != 0 {
		t.Fatalf("%d addresses left after the last connection closed", got)
	}
	// A forgotten address starts with a full bucket again.
	for i := range 5 {
		if !l.allow(recent, 10, 5, later) {
			t.Fatalf("request %d of a forgotten address refused", i)
		}
	}
}

// TestLimiterForgetsManyClients connects from 500 loopback addresses
// (127.0.x.y) and sends 2,000 requests from as many addresses behind a
// trusted proxy (X-Forwarded-For), with both client limits on: the engine
// remembers each address, and a sweep after they went idle forgets them
// all (connections closed are counted back, so nothing pins an entry).
func TestLimiterForgetsManyClients(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	cfg := staticSite(root)
	cfg.Limits.Clients.MaxConnsPerIP = 2
	cfg.Limits.Clients.RequestsPerSecond = 10
	cfg.Proxy.TrustedProxies = []string{"127.0.0.1/32"}
	te := startEngine(t, cfg)
	l := &te.e.limiter
	const peers = 500
	for i := range peers {
		src := fmt.Sprintf("127.0.%d.%d", 1+i/250, 2+i%250)
		rc := dialFrom(t, src, te.addr)
		rc.send("GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
			t.Fatalf("from %s: %d", src, resp.StatusCode)
		}
		rc.c.Close()
	}
	const forwarded = 2000
	rc := dialFrom(t, "127.0.0.1", te.addr)
	var batch strings.Builder
	for i := range forwarded {
		fmt.Fprintf(&batch, "GET /a.txt HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 198.51.%d.%d\r\n\r\n", i/250, i%250)
		if i%100 == 99 {
			rc.send(batch.String())
			batch.Reset()
			for range 100 {
				if resp, _ := rc.response("GET"); resp.StatusCode != 200 {
					t.Fatalf("forwarded request %d: %d", i, resp.StatusCode)
				}
			}
		}
	}
	rc.c.Close()
	// Every peer plus every forwarded client plus the proxy itself.
	if got, want := l.entries(), peers+forwarded+1; got != want {
		t.Fatalf("the limiter remembers %d addresses, want %d", got, want)
	}
	testkit.WaitFor(t, 5*time.Second, "the connections to close", func() bool { return te.e.Stats().Connections == 0 })
	now := time.Now().UnixNano()
	l.sweep(now, 5*time.Minute)
	if got := l.entries(); got != peers+forwarded+1 {
		t.Fatalf("a sweep forgot addresses seen a moment ago: %d left", got)
	}
	l.sweep(now+int64(6*time.Minute), 5*time.Minute)
	if got := l.entries(); got != 0 {
		t.Fatalf("%d addresses left after every client went idle and the sweep ran", got)
	}
}
