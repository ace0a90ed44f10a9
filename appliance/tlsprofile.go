package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"frontdoor/acme"
)

// profileCheckTimeout bounds the directory read of checkProfiles.
const profileCheckTimeout = 15 * time.Second

// checkProfiles refuses a [tls] profile or [[site]] profile the CA's
// directory does not list, with the file, line and the profiles it does
// offer. A directory that cannot be read is only logged: the check is
// then made before each order (the manager refuses to order with an
// unlisted profile).
func (c *Config) checkProfiles(log *slog.Logger) error {
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
	if len(uses) == 0 || !c.acmeEnabled() {
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
