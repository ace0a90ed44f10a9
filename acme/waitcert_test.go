package acme

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// orderUnderWay makes the manager look as if an order for name were
// running (started, with an attempt that has not finished), without a CA:
// the handshake side of an order is what these tests are about.
func orderUnderWay(t *testing.T, m *Manager, name string) *attempt {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.started = true
	ns := m.names[name]
	a := &attempt{ns: ns, done: make(chan struct{})}
	ns.attempt = a
	return a
}

// finishAttempt ends a as run does, with cert installed (nil: failed).
func finishAttempt(m *Manager, a *attempt, cert *tls.Certificate, err error) {
	if cert != nil {
		a.ns.cert.Store(cert)
	}
	m.mu.Lock()
	a.err = err
	a.ns.attempt = nil
	m.mu.Unlock()
	close(a.done)
}

// A handshake that arrives while the first order for its name runs waits
// for it: it gets the certificate the order brings, or, when the order
// fails, the order's error.
func TestHandshakeWaitsForTheOrderUnderWay(t *testing.T) {
	for _, c := range []struct {
		name    string
		succeed bool
		failure error
	}{{"order succeeds", true, nil}, {"order fails", false, errors.New("the CA said no")}} {
		t.Run(c.name, func(t *testing.T) {
			m := localManager(t, tempStorePath(t), func(c *Config) { c.Names = []string{"wait.example"} })
			var cert *tls.Certificate
			if c.succeed {
				var err error
				cert, err = m.local.certFor("wait.example")
				must(t, err)
			}
			a := orderUnderWay(t, m, "wait.example")
			type result struct {
				cert *tls.Certificate
				err  error
			}
			got := make(chan result, 1)
			go func() {
				cert, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "wait.example"})
				got <- result{cert, err}
			}()
			select {
			case r := <-got:
				t.Fatalf("the handshake did not wait for the order: %v", r.err)
			case <-time.After(50 * time.Millisecond):
			}
			finishAttempt(m, a, cert, c.failure)
			r := <-got
			if c.succeed && (r.err != nil || r.cert != cert) {
				t.Errorf("got the certificate %v (error %v); want the order's certificate", r.cert != nil, r.err)
			}
			if c.failure != nil && (r.err == nil || !strings.Contains(r.err.Error(), "the CA said no")) {
				t.Errorf("got %v; want the order's error", r.err)
			}
		})
	}
}

// The wait is bounded by HandshakeWait: a slow order fails the handshake
// (the client retries later) and keeps running.
func TestHandshakeWaitTimesOut(t *testing.T) {
	m := localManager(t, tempStorePath(t), func(c *Config) {
		c.Names = []string{"slow.example"}
		c.HandshakeWait = 100 * time.Millisecond
	})
	a := orderUnderWay(t, m, "slow.example")
	defer finishAttempt(m, a, nil, errors.New("test over"))
	_, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "slow.example"})
	if err == nil || !strings.Contains(err.Error(), "still under way") {
		t.Fatalf("GetCertificate = %v, want the order-still-under-way error", err)
	}
	m.mu.Lock()
	running := m.names["slow.example"].attempt == a
	m.mu.Unlock()
	if !running {
		t.Error("the timed-out handshake ended the order")
	}
}

// A handshake whose context ends (the client went away, the engine's
// handshake timeout) stops waiting at once, through a real crypto/tls
// server handshake.
func TestHandshakeCancelledWhileWaiting(t *testing.T) {
	m := localManager(t, tempStorePath(t), func(c *Config) {
		c.Names = []string{"cancel.example"}
		c.HandshakeWait = time.Minute // only the cancellation can end the wait
	})
	a := orderUnderWay(t, m, "cancel.example")
	defer finishAttempt(m, a, nil, errors.New("test over"))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := m.TLSConfig()
	var getErr error
	getCert := cfg.GetCertificate
	cfg.GetCertificate = func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		cancel() // the handshake's context ends while the manager waits
		c, err := getCert(hello)
		getErr = err
		return c, err
	}
	serverConn, clientConn := net.Pipe()
	defer clientConn.Close()
	go tls.Client(clientConn, &tls.Config{ServerName: "cancel.example", InsecureSkipVerify: true}).Handshake()
	start := time.Now()
	err := tls.Server(serverConn, cfg).HandshakeContext(ctx)
	if err == nil {
		t.Fatal("the handshake succeeded without a certificate")
	}
	if !errors.Is(getErr, context.Canceled) {
		t.Errorf("GetCertificate error %v, want one wrapping context.Canceled", getErr)
	}
	if time.Since(start) > 30*time.Second {
		t.Error("the cancelled handshake waited for HandshakeWait")
	}
}
