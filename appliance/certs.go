package appliance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"frontdoor/acme"
)

// The certificate part of the admin interface: list, renew, and hand out
// the local CA's root for `frontdoor trust`.

func (a *Appliance) handleCerts(w http.ResponseWriter, r *http.Request) {
	m := a.certManager()
	if m == nil {
		writeJSON(w, http.StatusOK, []acme.CertStatus{})
		return
	}
	writeJSON(w, http.StatusOK, m.Status())
}

// handleRenew orders a new certificate for ?name= now and answers once it
// is in place (or failed); the old one serves until then.
func (a *Appliance) handleRenew(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	m := a.certManager()
	if m == nil {
		http.Error(w, "frontdoor serves no HTTPS (no server.https listener)", http.StatusConflict)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	if err := m.Renew(ctx, name); err != nil {
		writeJSON(w, http.StatusOK, RenewResult{Name: name, Error: err.Error()})
		return
	}
	a.recordEvent("acme", "renewed", name+": renewed on request")
	writeJSON(w, http.StatusOK, RenewResult{Name: name, OK: true})
}

// handleDNSRecord answers the dns-persist-01 TXT record for ?name= (a
// wildcard name), registering the ACME account first if needed.
func (a *Appliance) handleDNSRecord(w http.ResponseWriter, r *http.Request) {
	m := a.certManager()
	if m == nil {
		http.Error(w, "frontdoor serves no HTTPS (no server.https listener)", http.StatusConflict)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	rec, err := m.DNSPersistRecord(ctx, r.URL.Query().Get("name"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusUnprocessableEntity)
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

func (a *Appliance) handleTrustRoot(w http.ResponseWriter, r *http.Request) {
	m := a.certManager()
	if m == nil {
		http.Error(w, "frontdoor serves no HTTPS (no server.https listener), so it has no local CA in use", http.StatusConflict)
		return
	}
	w.Header().Set("Content-Type", "application/x-pem-file")
	w.Write(m.RootPEM())
}

// RenewResult is the answer to a renewal request.
type RenewResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Certs lists the certificates the daemon manages.
func (c *AdminClient) Certs(ctx context.Context) ([]acme.CertStatus, error) {
	body, _, err := c.do(ctx, http.MethodGet, "/certs")
	if err != nil {
		return nil, err
	}
	var certs []acme.CertStatus
	if err := json.Unmarshal(body, &certs); err != nil {
		return nil, fmt.Errorf("decode the certificate list: %w", err)
	}
	return certs, nil
}

// Renew orders a new certificate for name and waits for the outcome.
func (c *AdminClient) Renew(ctx context.Context, name string) (RenewResult, error) {
	var res RenewResult
	body, _, err := c.do(ctx, http.MethodPost, "/certs/renew?name="+url.QueryEscape(name))
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return res, fmt.Errorf("decode the renewal result: %w", err)
	}
	return res, nil
}

// TrustRoot returns the daemon's local CA root certificate (PEM).
func (c *AdminClient) TrustRoot(ctx context.Context) ([]byte, error) {
	body, _, err := c.do(ctx, http.MethodGet, "/trust-root")
	return body, err
}

// DNSRecord returns the dns-persist-01 TXT record that authorizes the
// daemon's ACME account for the wildcard name.
func (c *AdminClient) DNSRecord(ctx context.Context, name string) (acme.PersistRecord, error) {
	var rec acme.PersistRecord
	body, _, err := c.do(ctx, http.MethodGet, "/certs/dns-record?name="+url.QueryEscape(name))
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(body, &rec); err != nil {
		return rec, fmt.Errorf("decode the DNS record: %w", err)
	}
	return rec, nil
}
