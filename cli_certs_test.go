package main

import (
	"strings"
	"testing"
	"time"

	"frontdoor/acme"
)

// TestCertsTableShowsTheReason: the table names why a name has no
// certificate — the CA's last error, or the resolve check's verdict when
// that holds the order back — not only `certs --json`.
func TestCertsTableShowsTheReason(t *testing.T) {
	var out strings.Builder
	printCerts(&out, []acme.CertStatus{
		{Name: "far.example", Source: "acme", State: "unreachable",
			Resolve: "far.example resolves to 192.0.2.7, not to this machine: point its DNS here"},
		{Name: "refused.example", Source: "acme", State: "waiting", Failures: 2,
			LastError: "urn:ietf:params:acme:error:rejectedIdentifier:\n  policy forbids", NextAttempt: time.Now().Add(time.Hour)},
		{Name: "ok.example", Source: "acme", State: "valid", Issuer: "Pebble", ResolveOK: true, Resolve: "resolves here"},
	})
	lines := strings.Split(out.String(), "\n")
	for i, want := range map[int]string{
		1: "far.example resolves to 192.0.2.7, not to this machine: point its DNS here",
		2: "urn:ietf:params:acme:error:rejectedIdentifier: policy forbids (next attempt ",
	} {
		if len(lines) <= i || !strings.Contains(lines[i], want) {
			t.Errorf("line %d lacks %q:\n%s", i, want, out.String())
		}
	}
	if len(lines) < 4 || !strings.HasSuffix(strings.TrimSpace(lines[3]), "-") {
		t.Errorf("a valid name shows a problem:\n%s", out.String())
	}
}
