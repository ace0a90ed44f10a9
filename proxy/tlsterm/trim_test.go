package tlsterm

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
	"unsafe"
)

// TestTLSTrimmerFindsFields fails loudly when a Go release renames or
// retypes the tls.Conn fields the engine trims (trimming would silently
// turn off, and idle TLS connections would cost several KiB more).
func TestTLSTrimmerFindsFields(t *testing.T) {
	tr := newTrimmer()
	if !tr.ok {
		t.Fatal("crypto/tls.Conn no longer has rawInput/input/hand of the expected types: update trim.go")
	}
	// On a real connection after a handshake and some data, the buffers
	// are released.
	cert, pool := selfSigned(t, "a.test")
	a, b := net.Pipe()
	server := tls.Server(a, &tls.Config{Certificates: []tls.Certificate{cert}})
	client := tls.Client(b, &tls.Config{ServerName: "a.test", RootCAs: pool})
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

// selfSigned makes a certificate for name and a pool that trusts it.
func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true,
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(parsed)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}
