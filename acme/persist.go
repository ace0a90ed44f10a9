package acme

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Wildcard certificates through dns-persist-01 (draft-ietf-acme-dns-persist,
// CA/Browser Forum ballot SC-088): one TXT record, made once by hand,
// authorizes this ACME account to get certificates for a domain and all
// its subdomains, for as long as it stays. No DNS provider API key lives on
// the server, and nothing changes in DNS at a renewal.

// persistLabel is the label the record lives under.
const persistLabel = "_validation-persist."

// isWildcard reports whether name is "*.domain".
func isWildcard(name string) bool { return strings.HasPrefix(name, "*.") }

// PersistRecord is the TXT record that authorizes this account for a
// wildcard name.
type PersistRecord struct {
	// Name is the record's owner name, e.g. "_validation-persist.example.com".
	Name string `json:"name"`
	// Value is its text, e.g. "letsencrypt.org; accounturi=https://…;
	// policy=wildcard".
	Value string `json:"value"`
}

// String is the record in zone-file form.
func (r PersistRecord) String() string {
	return fmt.Sprintf("%s. IN TXT %q", r.Name, r.Value)
}

// persistRecordFor builds the record for wildcard name, the CA's first
// issuer domain name and the account URI.
func persistRecordFor(name string, dir Directory, accountURI string) (PersistRecord, error) {
	if !isWildcard(name) {
		return PersistRecord{}, fmt.Errorf("%q is not a wildcard name (*.domain)", name)
	}
	if len(dir.CAAIdentities) == 0 {
		return PersistRecord{}, fmt.Errorf("the CA's directory names no issuer domain (caaIdentities), so no dns-persist-01 record can be made for it")
	}
	return PersistRecord{
		Name:  persistLabel + strings.TrimPrefix(name, "*."),
		Value: dir.CAAIdentities[0] + "; accounturi=" + accountURI + "; policy=wildcard",
	}, nil
}

// persistRecordMatches reports whether one TXT string authorizes
// accountURI for wildcards at a CA whose issuer domain names are issuers
// (RFC 8659 issue-value syntax: "issuer; key=value; ...").
func persistRecordMatches(txt string, issuers []string, accountURI string) bool {
	parts := strings.Split(txt, ";")
	if !slices.Contains(issuers, strings.ToLower(strings.TrimSpace(parts[0]))) {
		return false
	}
	var account, policy string
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "accounturi":
			account = strings.TrimSpace(v)
		case "policy":
			policy = strings.ToLower(strings.TrimSpace(v))
		}
	}
	return account == accountURI && policy == "wildcard"
}

// checkPersistRecord makes sure the record for name resolves before an
// order is placed: an order whose validation is sure to fail would count
// against the CA's failed-validation limit.
func (m *Manager) checkPersistRecord(ctx context.Context, s *session, name string) error {
	want, err := persistRecordFor(name, s.dir, s.account.Location)
	if err != nil {
		return err
	}
	txts, lerr := m.cfg.Resolver.LookupTXT(ctx, want.Name)
	for _, t := range txts {
		if persistRecordMatches(t, s.dir.CAAIdentities, s.account.Location) {
			return nil
		}
	}
	why := "it does not resolve yet"
	if lerr == nil {
		why = fmt.Sprintf("it holds %d other TXT value(s)", len(txts))
	}
	return &gateError{reason: fmt.Sprintf("no order for %s until the DNS record %s exists (%s); `frontdoor certs --dns-record %s` prints it", name, want, why, name)}
}

// DNSPersistRecord returns the TXT record to create so that the CA issues
// a certificate for the wildcard name to this server's account. It
// registers the account with the CA if needed (no order is placed), so
// the manager must be running.
func (m *Manager) DNSPersistRecord(ctx context.Context, name string) (PersistRecord, error) {
	n, err := normalizeWildcard(name)
	if err != nil {
		return PersistRecord{}, err
	}
	if !m.running() {
		return PersistRecord{}, ErrNotRunning
	}
	key, err := m.account()
	if err != nil {
		return PersistRecord{}, fmt.Errorf("acme: ACME account key: %w", err)
	}
	x := &exchange{base: transportOf(m.cfg.HTTPClient), lifetime: m.lifetime, now: m.now, onOrder: func() {}}
	x.seal() // no order from here
	s, err := m.openSession(ctx, x, key)
	if err != nil {
		return PersistRecord{}, fmt.Errorf("acme: %w", err)
	}
	return persistRecordFor(n, s.dir, s.account.Location)
}

// gateError is a reason not to order yet that is the configuration's or
// the DNS's, not the CA's: it is re-checked soon, without the backoff of
// failed orders.
type gateError struct{ reason string }

func (e *gateError) Error() string { return e.reason }
