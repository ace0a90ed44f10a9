package appliance

import (
	"fmt"
	"strings"

	"frontdoor/supervisor"
)

// problemDomainNotAllowed is the code of the problem domainsNotAllowed
// reports.
const problemDomainNotAllowed = "domain-not-allowed"

// domainsNotAllowed reports the site names (`frontdoor init --domain`)
// that Django's ALLOWED_HOSTS refuses: frontdoor would serve them and get
// their certificates, and Django would answer every request with 400
// (DisallowedHost). nil when every name passes, or when ALLOWED_HOSTS is
// empty (a problem of its own already, whatever DEBUG says: the site
// runs with DEBUG off).
func domainsNotAllowed(p *supervisor.Project, domains []string) *supervisor.Problem {
	allowed := p.AllowedHosts
	if len(allowed) == 0 {
		return nil // reported on its own, with the --domain names in its fix
	}
	var refused []string
	for _, d := range domains {
		d = strings.TrimSpace(d)
		if d == "" || strings.ContainsAny(d, " /:") {
			continue // not a site host; init says so
		}
		if !djangoHostAllowed(allowed, d) {
			refused = append(refused, strings.ToLower(strings.TrimSuffix(d, ".")))
		}
	}
	if len(refused) == 0 {
		return nil
	}
	hosts := append([]string{}, p.AllowedHosts...)
	hosts = append(hosts, refused...)
	quoted := make([]string, len(hosts))
	for i, h := range hosts {
		quoted[i] = "'" + strings.ReplaceAll(h, "'", `\'`) + "'"
	}
	return &supervisor.Problem{
		Code:     problemDomainNotAllowed,
		Severity: supervisor.SeverityError,
		Message: fmt.Sprintf("ALLOWED_HOSTS %v does not allow %s: Django would answer every request for it with 400 (DisallowedHost)",
			p.AllowedHosts, strings.Join(refused, ", ")),
		Fix:  "ALLOWED_HOSTS = [" + strings.Join(quoted, ", ") + "]",
		File: p.FixFile("ALLOWED_HOSTS").Path,
	}
}

// djangoHostAllowed reports whether a request for host passes Django's
// ALLOWED_HOSTS (django.http.request.validate_host): "*" allows every
// host; ".example.com" allows example.com and every name under it; any
// other entry allows that name exactly. Case does not matter, nor the
// host's trailing dot (Django strips it from the Host header).
func djangoHostAllowed(allowed []string, host string) bool {
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	for _, pattern := range allowed {
		pattern = strings.ToLower(pattern)
		switch {
		case pattern == "*", pattern == host:
			return true
		case strings.HasPrefix(pattern, "."):
			if strings.HasSuffix(host, pattern) || host == pattern[1:] {
				return true
			}
		}
	}
	return false
}
