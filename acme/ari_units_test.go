package acme

import (
	"crypto/x509"
	"math/big"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParseRenewalInfo(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	start, end := now.Add(48*time.Hour), now.Add(72*time.Hour)
	body := []byte(`{"suggestedWindow":{"start":"` + start.Format(time.RFC3339) + `","end":"` + end.Format(time.RFC3339) + `"},"explanationURL":"https://ca.example/why"}`)
	ri, err := parseRenewalInfo(body, "3600", "aki.serial", now, nil)
	must(t, err)
	if !ri.WindowStart.Equal(start) || !ri.WindowEnd.Equal(end) || ri.CertID != "aki.serial" || ri.ExplanationURL != "https://ca.example/why" {
		t.Errorf("parsed %+v", ri)
	}
	if ri.Selected.Before(start) || !ri.Selected.Before(end) {
		t.Errorf("selected %v outside [%v, %v)", ri.Selected, start, end)
	}
	if !ri.NextCheck.Equal(now.Add(time.Hour)) || !ri.Fetched.Equal(now) {
		t.Errorf("next check %v (fetched %v), want Retry-After's hour", ri.NextCheck, ri.Fetched)
	}
	// The same window keeps the selected time; a moved one picks anew.
	prev := *ri
	prev.Selected = start.Add(time.Minute)
	again, err := parseRenewalInfo(body, "", "aki.serial", now, &prev)
	must(t, err)
	if !again.Selected.Equal(prev.Selected) {
		t.Errorf("same window: selected %v, want the kept %v", again.Selected, prev.Selected)
	}
	if !again.NextCheck.Equal(now.Add(6 * time.Hour)) {
		t.Errorf("no Retry-After: next check %v, want 6 h", again.NextCheck)
	}
	other, err := parseRenewalInfo(body, "", "another.cert", now, &prev)
	must(t, err)
	if other.Selected.Equal(prev.Selected) && prev.Selected.Equal(start.Add(time.Minute)) {
		// A fresh pick landing on the very same second is possible but
		// one in 86,400; a kept one is certain.
		t.Errorf("another certificate kept the selected time")
	}
	for _, bad := range []string{
		`not json`,
		`{}`,
		`{"suggestedWindow":{"start":"` + end.Format(time.RFC3339) + `","end":"` + start.Format(time.RFC3339) + `"}}`,
		`{"suggestedWindow":{"start":"` + start.Format(time.RFC3339) + `","end":"` + start.Format(time.RFC3339) + `"}}`,
	} {
		if ri, err := parseRenewalInfo([]byte(bad), "", "id", now, nil); err == nil {
			t.Errorf("%s: accepted %+v", bad, ri)
		}
	}
}

func TestNextARICheck(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		retryAfter time.Time
		want       time.Duration
	}{
		{time.Time{}, 6 * time.Hour},
		{now.Add(2 * time.Hour), 2 * time.Hour},
		{now.Add(time.Second), time.Minute},
		{now.Add(-time.Hour), time.Minute},
		{now.Add(72 * time.Hour), 24 * time.Hour},
		{now.Add(24 * time.Hour), 24 * time.Hour},
		{now.Add(time.Minute), time.Minute},
	} {
		if got := nextARICheck(now, c.retryAfter).Sub(now); got != c.want {
			t.Errorf("Retry-After %v: next check in %v, want %v", c.retryAfter.Sub(now), got, c.want)
		}
	}
}

func TestPlanRenewal(t *testing.T) {
	issued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	leaf := &x509.Certificate{NotBefore: issued, NotAfter: issued.Add(90 * 24 * time.Hour),
		SerialNumber: big.NewInt(4711), AuthorityKeyId: []byte{1, 2, 3}}
	id := certID(leaf)
	if id == "" {
		t.Fatal("no ARI identifier")
	}
	lifetimeAt := issued.Add(60 * 24 * time.Hour)
	ws, we := issued.Add(50*24*time.Hour), issued.Add(52*24*time.Hour)
	sel := ws.Add(time.Hour)
	for _, c := range []struct {
		name   string
		ri     *renewalInfo
		at     time.Time
		source string
	}{
		{"no ARI", nil, lifetimeAt, SourceLifetime},
		{"the CA has none", &renewalInfo{CertID: id, Unsupported: true}, lifetimeAt, SourceLifetime},
		{"another certificate's", &renewalInfo{CertID: "x.y", WindowStart: ws, WindowEnd: we, Selected: sel}, lifetimeAt, SourceLifetime},
		{"no identifier", &renewalInfo{WindowStart: ws, WindowEnd: we, Selected: sel}, lifetimeAt, SourceLifetime},
		{"window", &renewalInfo{CertID: id, WindowStart: ws, WindowEnd: we, Selected: sel}, sel, SourceARI},
		{"window, nothing selected", &renewalInfo{CertID: id, WindowStart: ws, WindowEnd: we}, ws, SourceARI},
		{"selected outside the window", &renewalInfo{CertID: id, WindowStart: ws, WindowEnd: we, Selected: we.Add(time.Hour)}, ws, SourceARI},
		{"selected before the window", &renewalInfo{CertID: id, WindowStart: ws, WindowEnd: we, Selected: ws.Add(-time.Hour)}, ws, SourceARI},
		{"selected at the end", &renewalInfo{CertID: id, WindowStart: ws, WindowEnd: we, Selected: we}, we, SourceARI},
		{"an empty window", &renewalInfo{CertID: id, WindowStart: we, WindowEnd: we, Selected: we}, lifetimeAt, SourceLifetime},
	} {
		p := planRenewal(leaf, c.ri, 30*24*time.Hour)
		if !p.At.Equal(c.at) || p.Source != c.source {
			t.Errorf("%s: %v from %q, want %v from %q", c.name, p.At, p.Source, c.at, c.source)
		}
		if c.source == SourceARI && (!p.WindowStart.Equal(ws) || !p.WindowEnd.Equal(we)) {
			t.Errorf("%s: window %v..%v", c.name, p.WindowStart, p.WindowEnd)
		}
	}
	if certID(&x509.Certificate{SerialNumber: big.NewInt(1)}) != "" {
		t.Error("a certificate without an Authority Key Identifier got an ARI identifier")
	}
}

func TestPickInWindow(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	end := start.Add(time.Hour)
	seen := map[bool]bool{}
	for range 200 {
		p := pickInWindow(start, end)
		if p.Before(start) || !p.Before(end) {
			t.Fatalf("%v outside [%v, %v)", p, start, end)
		}
		seen[p.Before(start.Add(30*time.Minute))] = true
	}
	if len(seen) != 2 {
		t.Error("200 picks all fell in one half of the window")
	}
	if !pickInWindow(end, start).Equal(end) || !pickInWindow(start, start).Equal(start) {
		t.Error("an empty window must give its start")
	}
}

func TestExpiryLevel(t *testing.T) {
	issued := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := 24 * time.Hour
	for _, c := range []struct {
		name     string
		lifetime time.Duration
		renewAt  time.Duration // after issue
		at       time.Duration // after issue
		want     alertLevel
	}{
		{"90 d, fresh", 90 * day, 60 * day, 10 * day, alertNone},
		{"90 d, renewal due, a third left", 90 * day, 60 * day, 61 * day, alertWarning},
		{"90 d, a third left, renewal not due yet (ARI)", 90 * day, 62 * day, 61 * day, alertNone},
		{"90 d, 3 days left", 90 * day, 60 * day, 87 * day, alertCritical},
		{"90 d, just over 3 days left", 90 * day, 60 * day, 87*day - time.Minute, alertWarning},
		{"90 d, expired", 90 * day, 60 * day, 91 * day, alertCritical},
		{"6 d, renewing with 2 days left", 6 * day, 4 * day, 4 * day, alertWarning},
		{"6 d, 2 days left, not due", 6 * day, 5 * day, 4 * day, alertNone},
		{"6 d, 1 day left", 6 * day, 4 * day, 5 * day, alertCritical},
		{"6 d, just over 1 day left", 6 * day, 4 * day, 5*day - time.Minute, alertWarning},
	} {
		got := expiryLevel(issued, issued.Add(c.lifetime), issued.Add(c.renewAt), issued.Add(c.at))
		if got != c.want {
			t.Errorf("%s: level %d, want %d", c.name, got, c.want)
		}
	}
}

func TestDaysLeft(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		left time.Duration
		want int
	}{
		{0, 0}, {time.Hour, 0}, {24 * time.Hour, 1}, {47 * time.Hour, 1}, {-time.Hour, -1}, {-24 * time.Hour, -1}, {-25 * time.Hour, -2},
	} {
		if got := DaysLeft(now.Add(c.left), now); got != c.want {
			t.Errorf("%v left: %d days, want %d", c.left, got, c.want)
		}
	}
}

func TestRetryBeforeExpiry(t *testing.T) {
	for _, c := range []struct{ left, want time.Duration }{
		{48 * time.Hour, 288 * time.Minute}, {time.Hour, 6 * time.Minute}, {5 * time.Minute, time.Minute}, {0, time.Minute},
	} {
		if got := retryBeforeExpiry(c.left); got != c.want {
			t.Errorf("%v left: retry after %v, want %v", c.left, got, c.want)
		}
	}
}

func TestReverseNameIP(t *testing.T) {
	for _, c := range []struct {
		name string
		want string // "" for not a reverse name
	}{
		{"1.0.0.127.in-addr.arpa", "127.0.0.1"},
		{"5.113.0.203.IN-ADDR.ARPA.", "203.0.113.5"},
		{"1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", "::1"},
		{"b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.0.0.0.0.1.2.3.4.ip6.arpa", "4321:0:1:2:3:4:567:89ab"},
		{"0.0.127.in-addr.arpa", ""},
		{"x.0.0.127.in-addr.arpa", ""},
		{"1.0.0.0.ip6.arpa", ""},
		{"g.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", ""},
		{"10.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa", ""},
		{"example.com", ""},
	} {
		ip, ok := reverseNameIP(c.name)
		if c.want == "" {
			if ok {
				t.Errorf("%s: %v, want not a reverse name", c.name, ip)
			}
			continue
		}
		if !ok || ip != netip.MustParseAddr(c.want) {
			t.Errorf("%s: %v %v, want %s", c.name, ip, ok, c.want)
		}
	}
}

func TestPersistRecord(t *testing.T) {
	dir := Directory{CAAIdentities: []string{"letsencrypt.org", "le.example"}}
	const acct = "https://ca.example/acct/7"
	rec, err := persistRecordFor("*.example.com", dir, acct)
	must(t, err)
	if rec.Name != "_validation-persist.example.com" || rec.Value != "letsencrypt.org; accounturi="+acct+"; policy=wildcard" {
		t.Errorf("record %+v", rec)
	}
	if got := rec.String(); got != `_validation-persist.example.com. IN TXT "letsencrypt.org; accounturi=`+acct+`; policy=wildcard"` {
		t.Errorf("zone form %s", got)
	}
	if _, err := persistRecordFor("example.com", dir, acct); err == nil {
		t.Error("a record for a name that is not a wildcard")
	}
	if _, err := persistRecordFor("*.example.com", Directory{}, acct); err == nil || !strings.Contains(err.Error(), "caaIdentities") {
		t.Errorf("a CA without issuer names: %v", err)
	}
	for _, c := range []struct {
		txt  string
		want bool
	}{
		{rec.Value, true},
		{"LE.example ;accounturi=" + acct + " ; policy=Wildcard", true},
		{"letsencrypt.org; policy=wildcard; accounturi=" + acct, true},
		{"letsencrypt.org; accounturi=" + acct, false},
		{"letsencrypt.org; accounturi=" + acct + "; policy=none", false},
		{"letsencrypt.org; accounturi=https://ca.example/acct/8; policy=wildcard", false},
		{"other-ca.example; accounturi=" + acct + "; policy=wildcard", false},
		{"letsencrypt.org; accounturi; policy=wildcard", false},
		{"", false},
	} {
		if got := persistRecordMatches(c.txt, dir.CAAIdentities, acct); got != c.want {
			t.Errorf("%q: %v, want %v", c.txt, got, c.want)
		}
	}
}

func TestDirectory(t *testing.T) {
	d, err := parseDirectory("u", []byte(`{"newOrder":"https://ca/o","renewalInfo":"https://ca/ari/","meta":{"profiles":{"shortlived":"6 d","classic":"90 d"},"caaIdentities":["ca.example"]}}`))
	must(t, err)
	if d.RenewalInfo != "https://ca/ari" || strings.Join(d.ProfileNames(), ",") != "classic,shortlived" || d.CAAIdentities[0] != "ca.example" {
		t.Errorf("parsed %+v", d)
	}
	if err := d.CheckProfile("u", ""); err != nil {
		t.Errorf("no profile: %v", err)
	}
	if err := d.CheckProfile("u", "classic"); err != nil {
		t.Errorf("classic: %v", err)
	}
	if err := d.CheckProfile("u", "tlsserver"); err == nil || !strings.Contains(err.Error(), "(it offers: classic, shortlived)") {
		t.Errorf("tlsserver: %v", err)
	}
	if err := (Directory{}).CheckProfile("u", "x"); err == nil || !strings.Contains(err.Error(), "it offers: none") {
		t.Errorf("no profiles: %v", err)
	}
	for _, bad := range []string{`[]`, `{"newNonce":"x"}`, `nope`} {
		if _, err := parseDirectory("u", []byte(bad)); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestChallengeTypesAndIdentifiers(t *testing.T) {
	if got := challengeTypesFor("*.example.com"); strings.Join(got, ",") != "dns-persist-01" {
		t.Errorf("wildcard: %v", got)
	}
	if got := challengeTypesFor("example.com"); strings.Join(got, ",") != "tls-alpn-01,http-01" {
		t.Errorf("name: %v", got)
	}
	for name, typ := range map[string]string{"example.com": "dns", "*.example.com": "dns", "203.0.113.5": "ip", "2001:db8::1": "ip"} {
		if id := identifierFor(name); id.Type != typ || id.Value != name {
			t.Errorf("%s: %+v, want type %s", name, id, typ)
		}
	}
}
