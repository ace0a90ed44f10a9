package proxy

import (
	"bytes"
	"crypto/tls"
	"net"
	"testing"
	"unsafe"
)

// TestTLSTrimmerFindsFields fails loudly when a Go release renames or
// retypes the tls.Conn fields the engine trims (trimming would silently
// turn off, and idle TLS connections would cost several KiB more).
func TestTLSTrimmerFindsFields(t *testing.T) {
	tr := newTLSTrimmer()
	if !tr.ok {
		t.Fatal("crypto/tls.Conn no longer has rawInput/input/hand of the expected types: update tlstrim.go")
	}
	// On a real connection after a handshake and some data, the buffers
	// are released.
	ca := newTestCA(t)
	cert := ca.issue(t, "a.test")
	a, b := net.Pipe()
	server := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{cert}})
	client := tls.Client(b, &tls.Config{ServerName: "a.test", RootCAs: ca.pool})
	go func() {
		client.Handshake()
		client.Write(bytes.Repeat([]byte("x"), 3000))
	}()
	if err := server.Handshake(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3000)
	for got := 0; got < 3000; {
		n, err := server.Read(buf[got:])
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	raw := (*bytes.Buffer)(unsafe.Add(unsafe.Pointer(server), tr.rawInput))
	if raw.Cap() == 0 {
		t.Fatal("test setup: the record buffer was never grown")
	}
	tr.trim(server)
	hand := (*bytes.Buffer)(unsafe.Add(unsafe.Pointer(server), tr.hand))
	if raw.Cap() != 0 || hand.Cap() != 0 {
		t.Fatalf("after trim: record buffer cap %d, handshake buffer cap %d", raw.Cap(), hand.Cap())
	}
	// The connection still works after trimming.
	go client.Write([]byte("more"))
	n, err := server.Read(buf)
	if err != nil || string(buf[:n]) != "more" {
		t.Fatalf("read after trim: %q %v", buf[:n], err)
	}
}
