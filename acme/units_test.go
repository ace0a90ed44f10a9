package acme

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestBackoffSchedule(t *testing.T) {
	for _, c := range []struct {
		failures int
		want     time.Duration
	}{
		{0, 0}, {1, time.Minute}, {2, 2 * time.Minute}, {3, 5 * time.Minute}, {4, 10 * time.Minute},
		{5, 20 * time.Minute}, {6, 30 * time.Minute}, {7, time.Hour}, {8, 2 * time.Hour},
		{12, 6 * time.Hour}, {100, 6 * time.Hour},
	} {
		if got := backoffAfter(c.failures); got != c.want {
			t.Errorf("backoffAfter(%d) = %v, want %v", c.failures, got, c.want)
		}
	}
	if got := resolveRetryAfter(9); got != 10*time.Minute {
		t.Errorf("resolve re-checks wait %v, want at most 10 minutes", got)
	}
}

func TestNameValidation(t *testing.T) {
	for _, c := range []struct {
		names   []string
		want    []string
		wantErr string
	}{
		{[]string{"Example.COM.", "www.example.com", "example.com"}, []string{"example.com", "www.example.com"}, ""},
		{[]string{"bücher.example"}, []string{"xn--bcher-kva.example"}, ""},
		{[]string{"*.Example.com", "203.0.113.5", "2001:DB8::1", "[2001:db8::2]"}, []string{"*.example.com", "203.0.113.5", "2001:db8::1", "2001:db8::2"}, ""},
		{[]string{"*.com"}, nil, "with a dot"},
		{[]string{"a.*.example.com"}, nil, "leading"},
		{[]string{"**.example.com"}, nil, "leading"},
		{[]string{"*.localhost"}, nil, "with a dot"},
		{[]string{"*.app.localhost"}, nil, "local name"},
		{[]string{"localhost"}, nil, "local name"},
		{[]string{"app.localhost"}, nil, "local name"},
		{[]string{"intranet"}, nil, "with a dot"},
		{[]string{""}, nil, "empty"},
	} {
		got, err := normalizeACMENames(c.names)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "Config.Names[") {
				t.Errorf("%v: error %v, want one naming the key and %q", c.names, err, c.wantErr)
			}
			continue
		}
		if err != nil || strings.Join(got, ",") != strings.Join(c.want, ",") {
			t.Errorf("%v = %v, %v; want %v", c.names, got, err, c.want)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	db := openStore(t, tempStorePath(t))
	for _, c := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no store", Config{}, "Store is required"},
		{"both lists", Config{Store: db, Names: []string{"a.example"}, LocalNames: []string{"a.example"}}, "both"},
		{"bad directory", Config{Store: db, DirectoryURL: "not a url"}, "DirectoryURL"},
		{"bad port", Config{Store: db, HTTPPort: 70000}, "HTTPPort"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: New = %v, want an error about %q", c.name, err, c.want)
		}
	}
}

func TestReach(t *testing.T) {
	for _, c := range []struct {
		caHost, addr string
		want         bool
	}{
		{"acme-v02.api.letsencrypt.org", "203.0.113.5", true},
		{"acme-v02.api.letsencrypt.org", "127.0.0.1", false},
		{"acme-v02.api.letsencrypt.org", "10.0.0.5", false},
		{"acme-v02.api.letsencrypt.org", "fd00::2", false},
		{"10.1.2.3", "10.0.0.5", true},
		{"10.1.2.3", "127.0.0.1", false},
		{"127.0.0.1", "127.0.0.1", true},
		{"localhost", "10.0.0.5", true},
		{"127.0.0.1", "0.0.0.0", false},
	} {
		if got := reachOf(c.caHost).canReach(netip.MustParseAddr(c.addr)); got != c.want {
			t.Errorf("CA at %s reaching %s: %v, want %v", c.caHost, c.addr, got, c.want)
		}
	}
}

func TestIsNewOrder(t *testing.T) {
	jws := func(payload string) []byte {
		return []byte(`{"protected":"x","payload":"` + base64.RawURLEncoding.EncodeToString([]byte(payload)) + `","signature":"y"}`)
	}
	for _, c := range []struct {
		name string
		body []byte
		want bool
	}{
		{"new order", jws(`{"identifiers":[{"type":"dns","value":"a.example"}]}`), true},
		{"new account", jws(`{"termsOfServiceAgreed":true}`), false},
		{"challenge response", jws(`{}`), false},
		{"POST-as-GET", jws(``), false},
		{"finalize", jws(`{"csr":"abc"}`), false},
		{"garbage", []byte("not json"), false},
	} {
		if got := isNewOrder(c.body); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestExchangeKeepsTheCAsWords(t *testing.T) {
	now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	x := &exchange{now: func() time.Time { return now }}
	resp := func(status int, ct, retryAfter string) *http.Response {
		h := http.Header{"Content-Type": {ct}}
		if retryAfter != "" {
			h.Set("Retry-After", retryAfter)
		}
		return &http.Response{StatusCode: status, Header: h}
	}
	x.observe(resp(200, "application/json", ""), []byte(`{"status":"pending","challenges":[]}`))
	if x.problem() != "" {
		t.Errorf("a pending authorization is no problem: %q", x.problem())
	}
	x.observe(resp(200, "application/json", ""), []byte(`{"identifier":{"type":"dns","value":"a.example"},"status":"invalid",
		"challenges":[{"type":"http-01","status":"invalid","error":{"type":"urn:ietf:params:acme:error:connection","detail":"Connection refused"}}]}`))
	x.observe(resp(429, "application/problem+json; charset=utf-8", "3600"),
		[]byte(`{"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many failed authorizations recently"}`))
	want := "http-01: Connection refused (connection); too many failed authorizations recently (rateLimited)"
	if got := x.problem(); got != want {
		t.Errorf("problem %q, want %q", got, want)
	}
	if got := x.notBefore(); !got.Equal(now.Add(time.Hour)) {
		t.Errorf("Retry-After gave %v, want an hour from now", got)
	}
}

func TestRenewAt(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		lifetime, renewBefore, want time.Duration // want: before expiry
	}{
		{90 * 24 * time.Hour, 30 * 24 * time.Hour, 30 * 24 * time.Hour},
		{45 * 24 * time.Hour, 30 * 24 * time.Hour, 15 * 24 * time.Hour},
		{6 * 24 * time.Hour, 30 * 24 * time.Hour, 2 * 24 * time.Hour},
		{90 * 24 * time.Hour, 7 * 24 * time.Hour, 7 * 24 * time.Hour},
	} {
		leaf := &x509.Certificate{NotBefore: start, NotAfter: start.Add(c.lifetime)}
		if got := leaf.NotAfter.Sub(renewAt(leaf, c.renewBefore)); got != c.want {
			t.Errorf("lifetime %v, RenewBefore %v: renews %v before expiry, want %v", c.lifetime, c.renewBefore, got, c.want)
		}
	}
}

func TestHTTPChallengePolicy(t *testing.T) {
	m := localManager(t, tempStorePath(t), func(c *Config) { c.Names = []string{"site.example"} })
	m.probes["tok123"] = []byte("probe-body")
	for _, c := range []struct {
		host, path string
		want       string
		ok         bool
	}{
		{"site.example", challengePrefix + "tok123", "probe-body", true},
		{"SITE.example:8080", challengePrefix + "tok123", "probe-body", true},
		{"other.example", challengePrefix + "tok123", "", false},
		{"site.example", challengePrefix + "unknown", "", false},
		{"site.example", challengePrefix, "", false},
		{"site.example", "/static/app.css", "", false},
		{"site.example", challengePrefix + "a/b", "", false},
	} {
		body, ok := m.HTTPChallenge(c.host, c.path)
		if ok != c.ok || string(body) != c.want {
			t.Errorf("HTTPChallenge(%q, %q) = %q, %v; want %q, %v", c.host, c.path, body, ok, c.want, c.ok)
		}
	}
}

// Before Start nothing is ordered: a handshake for a configured name
// without a certificate fails at once, and Renew says the manager is not
// running.
func TestNothingIsOrderedBeforeStart(t *testing.T) {
	m := localManager(t, tempStorePath(t), func(c *Config) { c.Names = []string{"site.example"} })
	start := time.Now()
	if _, err := m.GetCertificate(challengeHello("site.example")); err == nil {
		t.Error("a challenge certificate without an order")
	}
	if _, err := m.GetCertificate(&tls.ClientHelloInfo{ServerName: "site.example"}); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("GetCertificate before Start: %v", err)
	}
	if err := m.Renew(context.Background(), "site.example"); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Renew before Start: %v", err)
	}
	if time.Since(start) > time.Second {
		t.Error("GetCertificate waited without an order under way")
	}
	if s := statusOf(m, "site.example"); s.State != "pending" {
		t.Errorf("state %q, want pending", s.State)
	}
}

// After its attempt, an exchange lets no new order through (it never
// reaches the server) but still passes other requests, such as autocert
// deactivating the authorizations it left pending.
func TestSealedExchangeRefusesOrdersOnly(t *testing.T) {
	var reached atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"status":"deactivated"}`)
	}))
	defer srv.Close()
	orders := 0
	x := &exchange{base: http.DefaultTransport, lifetime: context.Background(), now: time.Now, onOrder: func() { orders++ }}
	client := &http.Client{Transport: x}
	post := func(payload string) error {
		body := `{"protected":"p","payload":"` + base64.RawURLEncoding.EncodeToString([]byte(payload)) + `","signature":"s"}`
		resp, err := client.Post(srv.URL, "application/jose+json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	order := `{"identifiers":[{"type":"dns","value":"a.example"}]}`
	must(t, post(order))
	x.seal()
	if err := post(order); !errors.Is(err, errExchangeOver) {
		t.Errorf("order after seal: %v", err)
	}
	must(t, post(`{"status":"deactivated"}`))
	if orders != 1 || reached.Load() != 2 {
		t.Errorf("orders counted %d, requests reaching the CA %d; want 1 and 2", orders, reached.Load())
	}

	ctx, cancel := context.WithCancel(context.Background())
	closed := &exchange{base: http.DefaultTransport, lifetime: ctx, now: time.Now, onOrder: func() {}}
	cancel()
	if _, err := (&http.Client{Transport: closed}).Get(srv.URL); err == nil {
		t.Error("a request passed after the manager closed")
	}
}
