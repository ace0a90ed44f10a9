package acme

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"strings"
	"testing"
	"time"
)

func TestParseAccountKey(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	must(t, err)
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	sec1, err := x509.MarshalECPrivateKey(ec)
	must(t, err)
	pkcs8EC, err := x509.MarshalPKCS8PrivateKey(ec)
	must(t, err)
	pkcs8RSA, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	must(t, err)
	pkcs8Ed, err := x509.MarshalPKCS8PrivateKey(edKey)
	must(t, err)
	for _, c := range []struct {
		name string
		data []byte
		pub  any // the public key the parsed key must have; nil: an error
		err  string
	}{
		{"SEC1 EC (what frontdoor and autocert write)", pemEncode("EC PRIVATE KEY", sec1), &ec.PublicKey, ""},
		{"PKCS#8 EC", pemEncode("PRIVATE KEY", pkcs8EC), &ec.PublicKey, ""},
		{"PKCS#8 RSA", pemEncode("PRIVATE KEY", pkcs8RSA), &rsaKey.PublicKey, ""},
		{"PKCS#1 RSA", pemEncode("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), &rsaKey.PublicKey, ""},
		{"PKCS#8 Ed25519", pemEncode("PRIVATE KEY", pkcs8Ed), edKey.Public(), ""},
		{"not PEM", []byte("hello"), nil, "not a PEM private key"},
		{"empty", nil, nil, "not a PEM private key"},
		{"a certificate", pemEncode("CERTIFICATE", sec1), nil, "not a PEM private key"},
		{"a private key block of garbage", pemEncode("EC PRIVATE KEY", []byte("garbage")), nil, "cannot be parsed"},
		{"a PKCS#8 block cut short", pemEncode("PRIVATE KEY", pkcs8EC[:len(pkcs8EC)/2]), nil, "cannot be parsed"},
	} {
		key, err := parseAccountKey(c.data)
		if c.pub == nil {
			if err == nil || !strings.Contains(err.Error(), c.err) || key != nil {
				t.Errorf("%s: %v, %v; want an error about %q", c.name, key, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(c.pub) {
			t.Errorf("%s: parsed a different key", c.name)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	date := time.Date(2026, 3, 1, 15, 30, 0, 0, time.UTC)
	for _, c := range []struct {
		header string
		want   time.Time
	}{
		{"", time.Time{}},
		{"120", now.Add(2 * time.Minute)},
		{" 30 ", now.Add(30 * time.Second)},
		{"1", now.Add(time.Second)},
		{"0", time.Time{}},
		{"-5", time.Time{}},
		{"1.5", time.Time{}},
		{"soon", time.Time{}},
		{"Sunday, 01-Mar-26 15:30:00 GMT", date}, // RFC 850, which HTTP dates may be
		{"Sun, 01 Mar 2026 15:30:00 GMT", date},
	} {
		if got := parseRetryAfter(c.header, now); !got.Equal(c.want) {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", c.header, got, c.want)
		}
	}
}
