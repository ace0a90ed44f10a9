package http2

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"frontdoor/proxy/http1"
)

// The test harness serves the codec over real TCP, TLS with ALPN h2 or
// cleartext h2 with prior knowledge, so that h2spec, curl, h2load and Go's
// own client can talk to it before the codec is plugged into the event
// loop. A goroutine per connection blocks in Read and Write: fine for a
// test, never the engine's way.

// harnessBody is what GET answers.
const harnessBody = "hello from the frontdoor HTTP/2 codec\n"

type harness struct {
	ln  net.Listener
	cfg Config
	tls bool
	wg  sync.WaitGroup
}

// startHarness listens on 127.0.0.1 with a kernel-chosen port.
func startHarness(t *testing.T, useTLS bool, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{tls: useTLS}
	h.cfg.EnableConnectProtocol = true
	if mod != nil {
		mod(&h.cfg)
	}
	if err := h.cfg.Normalize(); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if useTLS {
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{testCert(t)}, NextProtos: []string{"h2"}})
	}
	h.ln = ln
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				h.serve(nc)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		h.wg.Wait()
	})
	return h
}

func (h *harness) port() int { return h.ln.Addr().(*net.TCPAddr).Port }

func (h *harness) addr() string { return h.ln.Addr().String() }

// serve runs one connection: read, feed, answer, write.
func (h *harness) serve(nc net.Conn) {
	defer nc.Close()
	if tc, ok := nc.(*tls.Conn); ok {
		if err := tc.Handshake(); err != nil || tc.ConnectionState().NegotiatedProtocol != "h2" {
			return
		}
	}
	start := time.Now()
	now := func() int64 { return int64(time.Since(start)) }
	pool := NewPool()
	c := NewConn(&h.cfg, pool, now())
	defer c.Release()
	app := &harnessApp{c: c, streams: map[uint32]*harnessStream{}}
	flush := func() error {
		for out := c.Output(); len(out) > 0; out = c.Output() {
			n, err := nc.Write(out)
			c.Sent(n)
			if err != nil {
				return err
			}
		}
		return nil
	}
	app.flush = flush
	buf := make([]byte, 32<<10)
	for {
		if err := flush(); err != nil {
			return
		}
		if c.Finished() {
			linger(nc)
			return
		}
		if d := c.Deadline(); d != 0 {
			nc.SetReadDeadline(start.Add(time.Duration(d)))
		} else {
			nc.SetReadDeadline(time.Time{})
		}
		n, err := nc.Read(buf)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			app.handle(c.Tick(now()))
			continue
		}
		in := buf[:n]
		for len(in) > 0 {
			k, ev := c.Feed(in, now())
			in = in[k:]
			app.handle(ev)
		}
		if err != nil {
			return
		}
		app.pump()
	}
}

// linger half-closes the connection and reads until the client closes (or
// a second passes), so that input still in flight does not make the
// kernel reset the connection before the client has read our last frames.
func linger(nc net.Conn) {
	if tc, ok := nc.(*tls.Conn); ok {
		tc.CloseWrite()
		nc = tc.NetConn()
	}
	if tcp, ok := nc.(*net.TCPConn); ok {
		tcp.CloseWrite()
	}
	nc.SetReadDeadline(time.Now().Add(time.Second))
	var buf [4096]byte
	for {
		if _, err := nc.Read(buf[:]); err != nil {
			return
		}
	}
}

// harnessApp is the exchange layer of the harness: GET gets harnessBody,
// /big/N gets N bytes, a request with a body gets it echoed.
type harnessApp struct {
	c       *Conn
	flush   func() error
	streams map[uint32]*harnessStream
}

type harnessStream struct {
	req      *Request
	echo     bool
	body     []byte // to send
	off      int
	started  bool
	received []byte
}

func (a *harnessApp) handle(ev Event) {
	switch ev.Kind {
	case EventRequest:
		st := &harnessStream{req: ev.Req}
		a.streams[ev.Stream] = st
		path := string(ev.Req.Path)
		switch {
		case strings.HasPrefix(path, "/big/"):
			n, _ := strconv.Atoi(path[len("/big/"):])
			st.body = make([]byte, n)
			for i := range st.body {
				st.body[i] = byte('a' + i%26)
			}
		case !ev.EndStream:
			st.echo = true
		default:
			st.body = []byte(harnessBody)
		}
		if string(ev.Req.Method) == "HEAD" {
			st.body = st.body[:0]
		}
		if !st.echo {
			a.start(ev.Stream, st)
		}
	case EventData:
		st := a.streams[ev.Stream]
		if st == nil {
			return
		}
		st.received = append(st.received, ev.Data...)
		a.c.Consume(ev.Stream, len(ev.Data))
		if ev.EndStream {
			st.body = st.received
			a.start(ev.Stream, st)
		}
	case EventTrailers:
		if st := a.streams[ev.Stream]; st != nil {
			st.body = st.received
			a.start(ev.Stream, st)
		}
	case EventReset:
		delete(a.streams, ev.Stream)
	case EventWindow:
		a.pump()
	case EventClosed:
		clear(a.streams)
	}
}

func (a *harnessApp) start(id uint32, st *harnessStream) {
	st.started = true
	hs := []http1.Header{
		{Name: []byte("Content-Type"), Value: []byte("text/plain")},
		{Name: []byte("Content-Length"), Value: []byte(strconv.Itoa(len(st.body))), ID: http1.HeaderContentLength},
	}
	if err := a.c.WriteHeaders(id, 200, hs, len(st.body) == 0); err != nil || len(st.body) == 0 {
		delete(a.streams, id)
		return
	}
	a.send(id, st)
}

// send writes what the windows and the output buffer take, flushing the
// buffer to the socket as it fills.
func (a *harnessApp) send(id uint32, st *harnessStream) {
	for st.off < len(st.body) {
		n, err := a.c.WriteData(id, st.body[st.off:], true)
		st.off += n
		if err != nil {
			delete(a.streams, id)
			return
		}
		if n == 0 {
			if a.c.Writable() {
				return // waiting for a window
			}
			if a.flush() != nil {
				return
			}
		}
	}
	delete(a.streams, id)
}

// pump resumes every stream with a response body left.
func (a *harnessApp) pump() {
	for id, st := range a.streams {
		if st.started {
			a.send(id, st)
		}
	}
}

// testCert makes a self-signed certificate for 127.0.0.1 and localhost.
func testCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "localhost"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestHarnessServe keeps a harness running for manual checks with h2spec,
// curl or h2load: FRONTDOOR_H2_HARNESS=1 go test -run TestHarnessServe
// -v ./proxy/http2 prints the ports and serves for 10 minutes.
func TestHarnessServe(t *testing.T) {
	if os.Getenv("FRONTDOOR_H2_HARNESS") == "" {
		t.Skip("set FRONTDOOR_H2_HARNESS=1 to serve the harness for manual checks")
	}
	a := startHarness(t, true, nil)
	b := startHarness(t, false, nil)
	t.Logf("TLS (h2) on %d, cleartext (h2c) on %d", a.port(), b.port())
	time.Sleep(10 * time.Minute)
}
