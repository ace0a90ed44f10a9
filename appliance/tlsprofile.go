package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"frontdoor/acme"
)

// profileCheckTimeout bounds the directory read of checkCAOffers.
const profileCheckTimeout = 15 * time.Second

// checkCAOffers refuses what the CA's directory says it cannot issue: a
// [tls] profile or [[site]] profile the directory does not list (the
// error names the profiles it does offer), and a wildcard name when the
// CA offers no dns-persist-01 — the only way frontdoor validates a
// wildcard. ACME has no list of challenge types in the directory; a CA
// that validates dns-persist-01 must name its issuer domain
// (caaIdentities), since the record is written for it, so a directory
// without one refuses wildcards here. A directory that cannot be read is
// only logged: the same checks are then made before each order.
func (c *Config) checkCAOffers(log *slog.Logger) error {
	type use struct{ key, profile string }
	var uses []use
	if c.TLS.Profile != "" {
		uses = append(uses, use{"tls.profile", c.TLS.Profile})
	}
	for i, s := range c.Sites {
		if s.Profile != "" {
			uses = append(uses, use{fmt.Sprintf("site[%d].profile", i), s.Profile})
		}
	}
	wildcards := c.wildcardUses()
	if (len(uses) == 0 && len(wildcards) == 0) || !c.acmeEnabled() {
		return nil
	}
	dirURL := c.TLS.DirectoryURL
	if dirURL == "" {
		dirURL = acme.LetsEncryptURL
	}
	client, err := c.acmeHTTPClient()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), profileCheckTimeout)
	defer cancel()
	dir, err := acme.FetchDirectory(ctx, client, dirURL)
	if err != nil {
		log.Warn("could not read the CA's directory to check the certificate profiles; each order checks again", "err", err)
		return nil
	}
	var errs ConfigErrors
	for _, u := range uses {
		if err := dir.CheckProfile(dirURL, u.profile); err != nil {
			errs = append(errs, c.problem(u.key, err.Error(), "use one of the profiles the CA offers, or remove the key for the CA's default"))
		}
	}
	if len(dir.CAAIdentities) == 0 {
		for _, w := range wildcards {
			errs = append(errs, c.problem(w.key,
				fmt.Sprintf("%q needs a wildcard certificate, validated by dns-persist-01, and the CA at %s does not offer it (its directory names no issuer domain, caaIdentities, for the record)", w.name, dirURL),
				"list the site's names one by one instead of the wildcard, or use a CA that offers dns-persist-01 (tls.directory_url)"))
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// acmeHTTPClient is the HTTP client for the ACME API: one that also
// trusts tls.directory_ca when set.
func (c *Config) acmeHTTPClient() (*http.Client, error) {
	if c.TLS.DirectoryCA == "" {
		return &http.Client{Timeout: 30 * time.Second}, nil
	}
	return clientTrusting(c.TLS.DirectoryCA)
}

// wildcardUse is one wildcard name the certificate manager would order,
// with the key that put it there.
type wildcardUse struct{ key, name string }

// wildcardUses lists the wildcard names among those ordered from the CA:
// [tls] names when set, else the sites' hosts.
func (c *Config) wildcardUses() []wildcardUse {
	var out []wildcardUse
	if c.TLS.Names != nil {
		for i, n := range c.TLS.Names {
			if strings.HasPrefix(certName(n), "*.") {
				out = append(out, wildcardUse{fmt.Sprintf("tls.names[%d]", i), n})
			}
		}
		return out
	}
	for i, s := range c.Sites {
		for j, h := range s.Hosts {
			if strings.HasPrefix(certName(h), "*.") {
				out = append(out, wildcardUse{fmt.Sprintf("site[%d].hosts[%d]", i, j), h})
			}
		}
	}
	return out
}
