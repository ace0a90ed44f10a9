package appliance

import (
	"bufio"
	"strings"
	"testing"
	"time"

	"frontdoor/acme"
)

// frontdoor status shows each certificate's days left; the metrics carry
// its renewal time, source, failures and last error.
func TestCertificateStatusAndMetrics(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	certs := []acme.CertStatus{
		{Name: "a.example", Source: "acme", State: "valid", NotAfter: now.Add(41*24*time.Hour + time.Hour),
			RenewAt: now.Add(20 * 24 * time.Hour), RenewSource: acme.SourceARI},
		{Name: "b.example", Source: "acme", State: "valid", NotAfter: now.Add(30 * time.Hour), Failures: 3,
			LastError: `rate "limited"`, RenewAt: now.Add(-time.Hour), RenewSource: acme.SourceLifetime},
		{Name: "c.example", Source: "acme", State: "valid", NotAfter: now.Add(-time.Hour)},
		{Name: "*.d.example", Source: "acme", State: "unreachable", Resolve: "no order for *.d.example until the DNS record exists"},
		{Name: "localhost", Source: "local", State: "valid", NotAfter: now.Add(7 * 24 * time.Hour)},
	}
	var b strings.Builder
	WriteStatus(&b, StatusReport{Started: now, Certificates: certs}, now)
	for _, want := range []string{"a.example  valid (acme) until", "(41 days left)", "(1 day left)", "(expired)", "last error: rate", "*.d.example  unreachable (acme) · no order for *.d.example until the DNS record exists"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status lacks %q:\n%s", want, b.String())
		}
	}
	var out strings.Builder
	w := bufio.NewWriter(&out)
	certRenewalMetrics(&metricsWriter{w: w, seen: map[string]bool{}}, certs)
	w.Flush()
	for _, want := range []string{
		`frontdoor_certificate_renewal_timestamp_seconds{name="a.example",source="ari"} ` + formatFloat(unixSeconds(certs[0].RenewAt)),
		`frontdoor_certificate_renewal_failures{name="b.example"} 3`,
		`frontdoor_certificate_renewal_failures{name="a.example"} 0`,
		`frontdoor_certificate_last_renewal_error{name="b.example",error="rate \"limited\""} 1`,
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "localhost") || strings.Contains(out.String(), `last_renewal_error{name="a.example"`) {
		t.Errorf("metrics for a local name or an error for a healthy one:\n%s", out.String())
	}
}
