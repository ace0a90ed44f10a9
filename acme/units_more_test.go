package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Every zero field of Config gets its default, and a set one is kept.
func TestConfigDefaults(t *testing.T) {
	d := Config{}.withDefaults()
	if d.DirectoryURL != LetsEncryptURL || d.RenewBefore != DefaultRenewBefore || d.HTTPClient == nil ||
		d.Resolver == nil || d.HTTPPort != DefaultHTTPPort || d.ProbeTimeout != DefaultProbeTimeout ||
		d.TicketKeyRotation != DefaultTicketKeyRotation || d.CheckInterval != DefaultCheckInterval ||
		d.HandshakeWait != DefaultHandshakeWait || d.Logger == nil || d.Now == nil {
		t.Errorf("defaults %+v", d)
	}
	client := &http.Client{}
	set := Config{
		DirectoryURL: "https://ca.example/dir", RenewBefore: time.Hour, HTTPClient: client, HTTPPort: 8080,
		ProbeTimeout: time.Second, TicketKeyRotation: 2 * time.Hour, CheckInterval: 3 * time.Second,
		HandshakeWait: 4 * time.Second,
	}.withDefaults()
	if set.DirectoryURL != "https://ca.example/dir" || set.RenewBefore != time.Hour || set.HTTPClient != client ||
		set.HTTPPort != 8080 || set.ProbeTimeout != time.Second || set.TicketKeyRotation != 2*time.Hour ||
		set.CheckInterval != 3*time.Second || set.HandshakeWait != 4*time.Second {
		t.Errorf("set values were replaced: %+v", set)
	}
	// Negative durations and ports count as unset.
	neg := Config{RenewBefore: -1, HTTPPort: -1, ProbeTimeout: -1, TicketKeyRotation: -1, CheckInterval: -1, HandshakeWait: -1}.withDefaults()
	if neg.RenewBefore != DefaultRenewBefore || neg.HTTPPort != DefaultHTTPPort || neg.ProbeTimeout != DefaultProbeTimeout ||
		neg.TicketKeyRotation != DefaultTicketKeyRotation || neg.CheckInterval != DefaultCheckInterval || neg.HandshakeWait != DefaultHandshakeWait {
		t.Errorf("negative values kept: %+v", neg)
	}
}

// Retry-After counts only on a rate limit (429) or an unavailable CA
// (503); a problem without one is still kept.
func TestExchangeRetryAfterOnlyWhenAsked(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		status int
		want   time.Duration
	}{{429, time.Minute}, {503, time.Minute}, {200, 0}, {400, 0}, {500, 0}} {
		x := &exchange{now: func() time.Time { return now }}
		h := http.Header{"Retry-After": {"60"}, "Content-Type": {"application/json"}}
		x.observe(&http.Response{StatusCode: c.status, Header: h}, []byte(`{}`))
		got := time.Duration(0)
		if nb := x.notBefore(); !nb.IsZero() {
			got = nb.Sub(now)
		}
		if got != c.want {
			t.Errorf("status %d: not before +%v, want +%v", c.status, got, c.want)
		}
	}
	x := &exchange{now: func() time.Time { return now }}
	x.observe(&http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}},
		[]byte(`{"status":"invalid","error":{"type":"urn:ietf:params:acme:error:unauthorized","detail":"order refused"}}`))
	if got := x.problem(); got != "order refused (unauthorized)" {
		t.Errorf("an invalid order's own error: %q", got)
	}
	x.observe(&http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}}},
		[]byte(`{"status":"valid","error":{"type":"x","detail":"ignored"}}`))
	if got := x.problem(); got != "order refused (unauthorized)" {
		t.Errorf("a valid object's error was kept: %q", got)
	}
}

// The TLS-ALPN-01 certificate is served only to a hello that offers
// acme-tls/1 alone, for a name (or an address by its reverse name) with a
// challenge presented; any other hello for that name gets the normal path.
func TestChallengeCertificateIsServedOnlyForTheChallenge(t *testing.T) {
	m := localManager(t, tempStorePath(t), func(c *Config) { c.Names = []string{"alpn.example", "203.0.113.5"} })
	chal, err := m.local.certFor("challenge.invalid")
	must(t, err)
	for _, name := range []string{"alpn.example", "203.0.113.5"} {
		a := orderUnderWay(t, m, name)
		if _, err := m.GetCertificate(challengeHello(name)); err == nil {
			t.Errorf("%s: a challenge certificate before one is presented", name)
		}
		m.mu.Lock()
		a.alpnCert = chal
		m.mu.Unlock()
		sni := name
		if name == "203.0.113.5" {
			sni = "5.113.0.203.in-addr.arpa"
		}
		got, err := m.GetCertificate(challengeHello(sni))
		if err != nil || got != chal {
			t.Errorf("%s: challenge hello got %v, %v; want the challenge certificate", sni, got != nil, err)
		}
		// A normal client offering acme-tls/1 among others is not the CA.
		hello := &tls.ClientHelloInfo{ServerName: sni, SupportedProtos: []string{"http/1.1", "acme-tls/1"}}
		m.cfg.HandshakeWait = 10 * time.Millisecond
		if got, _ := m.GetCertificate(hello); got == chal {
			t.Errorf("%s: a client offering http/1.1 too got the challenge certificate", sni)
		}
		finishAttempt(m, a, nil, context.Canceled)
	}
	if _, err := m.GetCertificate(challengeHello("other.example")); err == nil || !strings.Contains(err.Error(), "no TLS-ALPN-01 challenge") {
		t.Errorf("a name without a challenge: %v", err)
	}
}

// The local CA's root is replaced when it is about to expire, and kept
// otherwise.
func TestLocalRootRenewedNearExpiry(t *testing.T) {
	path := tempStorePath(t)
	store := openStore(t, path)
	now := time.Now()
	clock := func() time.Time { return now }
	ca, created, err := loadLocalCA(store, clock, "host")
	must(t, err)
	if !created || !strings.HasSuffix(ca.root.Subject.CommonName, " host") {
		t.Fatalf("first load: created %v, subject %q", created, ca.root.Subject.CommonName)
	}
	again, created, err := loadLocalCA(store, clock, "host")
	must(t, err)
	if created || !again.root.Equal(ca.root) {
		t.Error("a valid root was replaced")
	}
	now = ca.root.NotAfter.Add(-localRootRenewBefore + time.Hour)
	renewed, created, err := loadLocalCA(store, clock, "")
	must(t, err)
	if !created || renewed.root.Equal(ca.root) || renewed.root.Subject.CommonName != "frontdoor local CA" {
		t.Errorf("a root %v from expiry was kept (created %v)", ca.root.NotAfter.Sub(now), created)
	}
}

func TestIssuerName(t *testing.T) {
	if issuerName(nil) != "" {
		t.Error("a nil leaf has an issuer")
	}
	cn := &x509.Certificate{Issuer: pkix.Name{CommonName: "R11", Organization: []string{"Let's Encrypt"}}}
	if got := issuerName(cn); got != "R11" {
		t.Errorf("issuer %q, want the common name", got)
	}
	noCN := &x509.Certificate{Issuer: pkix.Name{Organization: []string{"Example CA"}}}
	if got := issuerName(noCN); got != "O=Example CA" {
		t.Errorf("issuer %q, want the whole name without a common name", got)
	}
}

// HTTP-01 is answered with the key authorization of the challenge being
// presented, for that token only, and only while it is presented.
func TestHTTPChallengeAnswersThePresentedToken(t *testing.T) {
	m := localManager(t, tempStorePath(t), func(c *Config) { c.Names = []string{"h.example"} })
	path := challengePrefix + "tok-1"
	if _, ok := m.HTTPChallenge("h.example", path); ok {
		t.Error("answered before any order")
	}
	a := orderUnderWay(t, m, "h.example")
	if _, ok := m.HTTPChallenge("h.example", challengePrefix+"x"); ok {
		t.Error("answered a token while no challenge is presented")
	}
	m.mu.Lock()
	a.httpToken, a.httpKeyAuth = "tok-1", "tok-1.thumbprint"
	m.mu.Unlock()
	if body, ok := m.HTTPChallenge("h.example:80", path); !ok || string(body) != "tok-1.thumbprint" {
		t.Errorf("presented token: %q, %v", body, ok)
	}
	if _, ok := m.HTTPChallenge("h.example", challengePrefix+"tok-2"); ok {
		t.Error("answered another token")
	}
	m.unpresent(a)
	if _, ok := m.HTTPChallenge("h.example", path); ok {
		t.Error("answered after the challenge was withdrawn")
	}
	finishAttempt(m, a, nil, context.Canceled)
}

func TestTransportOf(t *testing.T) {
	own := &http.Transport{}
	for _, c := range []struct {
		client *http.Client
		want   http.RoundTripper
	}{{nil, http.DefaultTransport}, {&http.Client{}, http.DefaultTransport}, {&http.Client{Transport: own}, own}} {
		if got := transportOf(c.client); got != c.want {
			t.Errorf("transportOf(%v) = %v, want %v", c.client, got, c.want)
		}
	}
}

// addrConn is a net.Conn that only knows its local address: what
// certWithoutSNI looks at.
type addrConn struct {
	net.Conn
	local net.Addr
}

func (c addrConn) LocalAddr() net.Addr { return c.local }

// A client without SNI (https://ADDRESS/) gets the ACME certificate of
// the address it connected to when that is a configured name, the local
// CA's for a local address, and nothing otherwise.
func TestCertificateWithoutSNI(t *testing.T) {
	m := localManager(t, tempStorePath(t), func(c *Config) { c.Names = []string{"203.0.113.5"} })
	acmeCert, err := m.local.certFor("203.0.113.5")
	must(t, err)
	m.names["203.0.113.5"].cert.Store(acmeCert)
	hello := func(a net.Addr) *tls.ClientHelloInfo { return &tls.ClientHelloInfo{Conn: addrConn{local: a}} }
	if c, err := m.GetCertificate(hello(&net.TCPAddr{IP: net.ParseIP("203.0.113.5"), Port: 443})); err != nil || c != acmeCert {
		t.Errorf("the configured address: %v, %v; want its certificate", c != nil, err)
	}
	if c, err := m.GetCertificate(hello(&net.TCPAddr{IP: net.ParseIP("::ffff:127.0.0.1"), Port: 443})); err != nil || issuerName(c.Leaf) != issuerName(m.local.root) {
		t.Errorf("a mapped loopback address: %v; want a local certificate", err)
	}
	if _, err := m.GetCertificate(hello(&net.TCPAddr{IP: net.ParseIP("198.51.100.1"), Port: 443})); err == nil || !strings.Contains(err.Error(), "not a local address") {
		t.Errorf("another address: %v", err)
	}
	if _, err := m.GetCertificate(hello(&net.UnixAddr{Name: "/run/x.sock", Net: "unix"})); err == nil {
		t.Error("a connection without an IP address got a certificate")
	}
	if c, err := m.GetCertificate(hello(fakeAddr("127.0.0.1:443"))); err != nil || c == nil {
		t.Errorf("an address given as text: %v", err)
	}
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{}); err == nil {
		t.Error("no server name and no connection got a certificate")
	}
}

// fakeAddr is a net.Addr of another kind than TCP, known by its text.
type fakeAddr string

func (a fakeAddr) Network() string { return "fake" }
func (a fakeAddr) String() string  { return string(a) }

// The session-ticket key rotation of a pass is logged only when it rotates.
func TestMaintainLogsRotationOnlyWhenDue(t *testing.T) {
	logs := &lockedBuffer{}
	clock := &fakeClock{}
	m := localManager(t, tempStorePath(t), func(c *Config) { c.Logger = slogTo(logs); c.Now = clock.Now })
	m.maintain()
	if strings.Contains(logs.String(), "rotated session-ticket keys") {
		t.Errorf("logged a rotation that did not happen:\n%s", logs.String())
	}
	clock.Advance(DefaultTicketKeyRotation + time.Minute)
	m.maintain()
	if strings.Count(logs.String(), "rotated session-ticket keys") != 1 {
		t.Errorf("the due rotation is not logged once:\n%s", logs.String())
	}
}

func TestHTTPPortBounds(t *testing.T) {
	db := openStore(t, tempStorePath(t))
	if _, err := New(Config{Store: db, HTTPPort: 65535}); err != nil {
		t.Errorf("port 65535: %v", err)
	}
	if _, err := New(Config{Store: db, HTTPPort: 65536}); err == nil {
		t.Error("port 65536 accepted")
	}
}

// FetchDirectory works with the default client and refuses what is not a
// directory.
func TestFetchDirectory(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/dir":
			w.Write([]byte(`{"newOrder":"x","meta":{"profiles":{"classic":""}}}`))
		case "/gone":
			http.NotFound(w, r)
		default:
			w.Write([]byte(`<html>`))
		}
	}))
	defer srv.Close()
	d, err := FetchDirectory(context.Background(), nil, srv.URL+"/dir")
	if err != nil || len(d.Profiles) != 1 {
		t.Errorf("with the default client: %+v, %v", d, err)
	}
	for _, path := range []string{"/gone", "/html", "\x00"} {
		if _, err := FetchDirectory(context.Background(), srv.Client(), srv.URL+path); err == nil {
			t.Errorf("%q accepted", path)
		}
	}
}

// An ACME response is read whole up to maxACMEResponse bytes; one byte
// more is refused.
func TestExchangeResponseLimit(t *testing.T) {
	size := maxACMEResponse
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(make([]byte, size))
	}))
	defer srv.Close()
	x := &exchange{base: http.DefaultTransport, lifetime: context.Background(), now: time.Now, onOrder: func() {}}
	client := &http.Client{Transport: x}
	resp, err := client.Get(srv.URL)
	must(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || len(body) != maxACMEResponse {
		t.Errorf("a %d-byte answer: %d bytes, %v", maxACMEResponse, len(body), err)
	}
	size = maxACMEResponse + 1
	if _, err := client.Get(srv.URL); err == nil || !strings.Contains(err.Error(), "over") {
		t.Errorf("a %d-byte answer: %v", size, err)
	}
}

// At most keptTicketKeys stored keys are loaded (newest first), and a key
// exactly one rotation period old is replaced.
func TestTicketKeysKeptAndRotated(t *testing.T) {
	store := openStore(t, tempStorePath(t))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	var stored []storedTicketKey
	for i := range 5 {
		k := storedTicketKey{Created: now.Add(-time.Duration(i) * time.Minute), Key: make([]byte, 32)}
		k.Key[0] = byte(i + 1)
		stored = append(stored, k)
	}
	data, err := json.Marshal(stored)
	must(t, err)
	must(t, store.PutBlob(ticketBucket, ticketKey, data))
	tk, err := loadTicketKeys(store, nil, slog.New(slog.DiscardHandler), clock, time.Hour)
	must(t, err)
	if len(tk.keys) != keptTicketKeys || tk.keys[0].Key[0] != 1 || tk.keys[2].Key[0] != 3 {
		t.Fatalf("loaded %d keys (first %d), want the newest %d", len(tk.keys), tk.keys[0].Key[0], keptTicketKeys)
	}
	now = now.Add(time.Hour) // the newest is exactly one period old
	rotated, err := tk.rotateIfDue()
	must(t, err)
	if !rotated || tk.keys[0].Key[0] == 1 || len(tk.keys) != keptTicketKeys {
		t.Errorf("rotated %v, %d keys: want a new newest key", rotated, len(tk.keys))
	}
	rotated, err = tk.rotateIfDue()
	must(t, err)
	if rotated {
		t.Error("rotated again within the period")
	}
}

// SetNames (a reload) adds and drops names; a list with a bad name is
// refused whole and the names in force stay.
func TestSetNames(t *testing.T) {
	m := localManager(t, tempStorePath(t), func(c *Config) {
		c.Names = []string{"keep.example"}
		c.LocalNames = []string{"devbox.lan"}
	})
	names := func() string {
		var out []string
		for _, s := range m.Status() {
			if s.Source == "acme" {
				out = append(out, s.Name)
			}
		}
		return strings.Join(out, ",")
	}
	must(t, m.SetNames([]string{"keep.example", "b.example", "a.example"}))
	if got := names(); got != "a.example,b.example,keep.example" {
		t.Errorf("after adding two: %s", got)
	}
	for _, bad := range [][]string{{"ok.example", "bad name!"}, {"ok.example", "devbox.lan"}, {"a.*.example"}} {
		if err := m.SetNames(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
		if got := names(); got != "a.example,b.example,keep.example" {
			t.Errorf("after refusing %v: %s", bad, got)
		}
	}
	must(t, m.SetNames([]string{"b.example"}))
	if got := names(); got != "b.example" {
		t.Errorf("after dropping two: %s", got)
	}
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "keep.example"}); err == nil || !strings.Contains(err.Error(), "not a name") {
		t.Errorf("a dropped name: %v", err)
	}
}
