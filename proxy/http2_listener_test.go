package proxy

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestHTTP2PerListener: of two TLS listeners, the one with NoHTTP2 is
// served with Config.TLSNoHTTP2: a client offering h2 and http/1.1 gets
// h2 on the other and http/1.1 there, and requests work on both; the
// choice survives a reload. A listener with NoHTTP2 while Config.TLS
// offers h2 and nothing without it is refused by New and by Reload.
func TestHTTP2PerListener(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "a.txt"), "alpha")
	ca := newTestCA(t)
	cert := ca.issue(t, "example.test")
	withH2 := serverTLS(map[string]*tls.Certificate{"example.test": &cert})
	withH2.NextProtos = []string{"h2", "http/1.1"}
	withoutH2 := serverTLS(map[string]*tls.Certificate{"example.test": &cert})
	cfg := Config{
		Workers: 2,
		TLS:     withH2, TLSNoHTTP2: withoutH2,
		Sites: []Site{{Hosts: []string{"example.test"}, Routes: []Route{{Prefix: "/", Static: &Static{Root: root}}}}},
	}
	var listeners []Listener
	for _, noH2 := range []bool{false, true} {
		l, err := Listen("127.0.0.1:0", "https")
		if err != nil {
			t.Fatal(err)
		}
		l.TLS, l.NoHTTP2 = true, noH2
		listeners = append(listeners, l)
	}
	var errLog *lockedWriter
	cfg.Logger, errLog = errorLogger()
	e, err := New(cfg, listeners)
	if err != nil {
		t.Fatal(err)
	}
	e.Start()
	te := &testEngine{e: e, addr: listeners[0].Addr, errLog: errLog}
	te.watchPanics(t)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	clientTLS := &tls.Config{RootCAs: ca.pool, ServerName: "example.test", NextProtos: []string{"h2", "http/1.1"}}
	alpn := func(addr string) string {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, clientTLS)
		if err != nil {
			return "dial: " + err.Error()
		}
		defer c.Close()
		return c.ConnectionState().NegotiatedProtocol
	}
	get := func(addr string) string {
		tr := &http.Transport{TLSClientConfig: clientTLS.Clone(), ForceAttemptHTTP2: true,
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			}}
		defer tr.CloseIdleConnections()
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://example.test/a.txt")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.Proto + " " + resp.Status + " " + string(b)
	}
	check := func(when string) {
		t.Helper()
		if got := alpn(listeners[0].Addr); got != "h2" {
			t.Errorf("%s: ALPN on the listener with HTTP/2: %q, want h2", when, got)
		}
		if got := alpn(listeners[1].Addr); got != "http/1.1" {
			t.Errorf("%s: ALPN on the listener with NoHTTP2: %q, want http/1.1", when, got)
		}
		if got := get(listeners[0].Addr); got != "HTTP/2.0 200 OK alpha" {
			t.Errorf("%s: GET on the listener with HTTP/2: %s", when, got)
		}
		if got := get(listeners[1].Addr); got != "HTTP/1.1 200 OK alpha" {
			t.Errorf("%s: GET on the listener with NoHTTP2: %s", when, got)
		}
	}
	check("at start")
	if err := e.Reload(cfg); err != nil {
		t.Fatal(err)
	}
	check("after a reload")

	// Nothing without h2 for the NoHTTP2 listener: refused, and the
	// running configuration stays.
	bad := cfg
	bad.TLSNoHTTP2 = nil
	if err := e.Reload(bad); err == nil || !strings.Contains(err.Error(), "NoHTTP2") {
		t.Errorf("Reload without TLSNoHTTP2 for a NoHTTP2 listener: %v, want a refusal", err)
	}
	check("after the refused reload")
	bad.TLSNoHTTP2 = withH2
	if err := e.Reload(bad); err == nil || !strings.Contains(err.Error(), `offers "h2"`) {
		t.Errorf("Reload with a TLSNoHTTP2 that offers h2: %v, want a refusal", err)
	}
	l, err := Listen("127.0.0.1:0", "https")
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(l.Fd)
	l.TLS, l.NoHTTP2 = true, true
	bad.TLSNoHTTP2 = nil
	if _, err := New(bad, []Listener{l}); err == nil || !strings.Contains(err.Error(), "NoHTTP2") {
		t.Errorf("New without TLSNoHTTP2 for a NoHTTP2 listener: %v, want a refusal", err)
	}
	// A TLS config without h2 serves such a listener by itself (the quick
	// modes' --http2=false).
	bad.TLS = withoutH2
	if errs := checkListenerTLS(&bad, []Listener{l}); errs != nil {
		t.Errorf("TLS without h2 and a NoHTTP2 listener: %v", errs)
	}
}
