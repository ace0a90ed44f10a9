package acme

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// Directory is what an ACME CA's directory (RFC 8555 section 7.1.1) says
// beyond its endpoints: the profiles it offers, whether it has renewal
// information (RFC 9773), and the issuer domain names a dns-persist-01
// record names.
type Directory struct {
	// Profiles maps each profile name the CA offers to its description
	// (draft-aaron-acme-profiles): Let's Encrypt's "classic",
	// "tlsserver", "shortlived".
	Profiles map[string]string
	// RenewalInfo is the base URL of the renewalInfo resource; empty when
	// the CA has no ARI.
	RenewalInfo string
	// CAAIdentities are the CA's issuer domain names
	// ("letsencrypt.org").
	CAAIdentities []string
}

// ProfileNames lists the offered profiles, sorted.
func (d Directory) ProfileNames() []string {
	names := make([]string, 0, len(d.Profiles))
	for n := range d.Profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// CheckProfile returns nil when profile is empty or offered, otherwise an
// error naming the profiles the CA does offer.
func (d Directory) CheckProfile(directoryURL, profile string) error {
	if profile == "" {
		return nil
	}
	if _, ok := d.Profiles[profile]; ok {
		return nil
	}
	offered := "none"
	if len(d.Profiles) > 0 {
		offered = strings.Join(d.ProfileNames(), ", ")
	}
	return fmt.Errorf("the CA at %s does not offer the profile %q (it offers: %s)", directoryURL, profile, offered)
}

// FetchDirectory reads the ACME directory at url with client (nil: the
// default client). It is a plain GET: no account, no nonce. frontdoor
// reads it itself, rather than through the ACME library's process-wide
// cache, so that a profile the CA adds or drops is seen at the next
// check.
func FetchDirectory(ctx context.Context, client *http.Client, url string) (Directory, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Directory{}, fmt.Errorf("ACME directory %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Directory{}, fmt.Errorf("ACME directory %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxACMEResponse))
	if err != nil {
		return Directory{}, fmt.Errorf("ACME directory %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Directory{}, fmt.Errorf("ACME directory %s: %s", url, resp.Status)
	}
	return parseDirectory(url, body)
}

func parseDirectory(url string, body []byte) (Directory, error) {
	var raw struct {
		NewOrder    string `json:"newOrder"`
		RenewalInfo string `json:"renewalInfo"`
		Meta        struct {
			Profiles      map[string]string `json:"profiles"`
			CAAIdentities []string          `json:"caaIdentities"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(body, &raw); err != nil {
		return Directory{}, fmt.Errorf("ACME directory %s: %w", url, err)
	}
	if raw.NewOrder == "" {
		return Directory{}, fmt.Errorf("ACME directory %s: not an ACME directory (no newOrder)", url)
	}
	return Directory{
		Profiles:      raw.Meta.Profiles,
		RenewalInfo:   strings.TrimRight(raw.RenewalInfo, "/"),
		CAAIdentities: raw.Meta.CAAIdentities,
	}, nil
}
