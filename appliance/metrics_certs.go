package appliance

import "frontdoor/acme"

// certRenewalMetrics writes the renewal series of the ACME certificates:
// when each renews (and whether from the CA's window), its consecutive
// failed renewals, and the last renewal error as an info series (1, with
// the CA's message as a label, while the name is failing).
func certRenewalMetrics(m *metricsWriter, certs []acme.CertStatus) {
	var acmeCerts []acme.CertStatus
	for _, c := range certs {
		if c.Source == "acme" {
			acmeCerts = append(acmeCerts, c)
		}
	}
	if len(acmeCerts) == 0 {
		return
	}
	m.family("frontdoor_certificate_renewal_timestamp_seconds", "gauge", "When the name's certificate is due for renewal; source is ari (the CA's window) or lifetime.")
	for _, c := range acmeCerts {
		if !c.RenewAt.IsZero() {
			m.sample("frontdoor_certificate_renewal_timestamp_seconds", unixSeconds(c.RenewAt), "name", c.Name, "source", c.RenewSource)
		}
	}
	m.family("frontdoor_certificate_renewal_failures", "gauge", "Consecutive failed orders for the name (0 after a success).")
	for _, c := range acmeCerts {
		m.sample("frontdoor_certificate_renewal_failures", float64(c.Failures), "name", c.Name)
	}
	m.family("frontdoor_certificate_last_renewal_error", "gauge", "1 while the name's last order failed, with the CA's message.")
	for _, c := range acmeCerts {
		if c.LastError != "" {
			m.sample("frontdoor_certificate_last_renewal_error", 1, "name", c.Name, "error", c.LastError)
		}
	}
}
