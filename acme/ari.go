package acme

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	acmeapi "github.com/mholt/acmez/v3/acme"
)

// ACME Renewal Information (ARI, RFC 9773): the CA says, for each
// certificate, in which window it should be renewed. Let's Encrypt moves
// the window forward during an incident (a mass revocation), and a renewal
// made inside the window and announced with "replaces" is exempt from its
// rate limits.

// ARI check intervals (RFC 9773 section 4.3.3: honour Retry-After, with
// limits of the client's choosing).
const (
	ariDefaultRecheck = 6 * time.Hour
	ariMinRecheck     = time.Minute
	ariMaxRecheck     = 24 * time.Hour
	// ariErrorRecheck is the wait after a failed fetch: the certificate
	// is then renewed on its lifetime schedule until ARI answers.
	ariErrorRecheck = time.Hour
	// ariUnsupportedRecheck is how soon a CA without ARI is asked again
	// (its directory read again).
	ariUnsupportedRecheck = 24 * time.Hour
)

// renewalInfo is what the CA said about when to renew one certificate,
// kept in the name's record (so in the state file) with the certificate's
// ARI identifier: it applies to that certificate only.
type renewalInfo struct {
	// CertID is the certificate's ARI unique identifier (RFC 9773
	// section 4.1).
	CertID string `json:"cert_id"`
	// Directory is the CA it came from: "replaces" is only sent to it.
	Directory string `json:"directory,omitempty"`
	// Unsupported: that CA has no renewalInfo resource.
	Unsupported bool `json:"unsupported,omitempty"`
	// WindowStart and WindowEnd are the CA's suggested window.
	WindowStart time.Time `json:"window_start,omitzero"`
	WindowEnd   time.Time `json:"window_end,omitzero"`
	// Selected is the moment chosen inside the window (uniformly at
	// random, once per window: RFC 9773 section 4.2).
	Selected time.Time `json:"selected,omitzero"`
	// ExplanationURL is the CA's page about the window, if it gave one.
	ExplanationURL string `json:"explanation_url,omitempty"`
	// Fetched is when the CA last answered; NextCheck when to ask again
	// (its Retry-After, clamped).
	Fetched   time.Time `json:"fetched,omitzero"`
	NextCheck time.Time `json:"next_check,omitzero"`
	// Error is the last failed fetch's error (cleared by an answer).
	Error string `json:"error,omitempty"`
}

// hasWindow reports whether ri holds a usable window.
func (ri *renewalInfo) hasWindow() bool {
	return ri != nil && !ri.Unsupported && ri.WindowStart.Before(ri.WindowEnd)
}

// certID is the ARI identifier of leaf ("" when it has none: no
// Authority Key Identifier or serial).
func certID(leaf *x509.Certificate) string {
	if leaf == nil || len(leaf.AuthorityKeyId) == 0 {
		return ""
	}
	id, err := acmeapi.ARIUniqueIdentifier(leaf)
	if err != nil {
		return ""
	}
	return id
}

// Renewal sources, for status: where the renewal time came from.
const (
	SourceARI      = "ari"      // the CA's renewal window
	SourceLifetime = "lifetime" // RenewBefore, at most a third of the lifetime
)

// renewalPlan is when a certificate is due for renewal and why.
type renewalPlan struct {
	At     time.Time
	Source string
	// WindowStart, WindowEnd: the CA's window when Source is SourceARI.
	WindowStart, WindowEnd time.Time
}

// planRenewal decides when leaf is due: at the time selected inside the
// CA's window when ri is about this very certificate, else RenewBefore
// ahead of expiry (at most a third of the lifetime). A window that ends
// after expiry is no reason to wait past the lifetime rule.
func planRenewal(leaf *x509.Certificate, ri *renewalInfo, renewBefore time.Duration) renewalPlan {
	fallback := renewAt(leaf, renewBefore)
	if !ri.hasWindow() || ri.CertID == "" || ri.CertID != certID(leaf) {
		return renewalPlan{At: fallback, Source: SourceLifetime}
	}
	at := ri.Selected
	if at.IsZero() || at.Before(ri.WindowStart) || at.After(ri.WindowEnd) {
		at = ri.WindowStart
	}
	return renewalPlan{At: at, Source: SourceARI, WindowStart: ri.WindowStart, WindowEnd: ri.WindowEnd}
}

// pickInWindow returns a time uniformly at random in [start, end).
func pickInWindow(start, end time.Time) time.Time {
	span := end.Sub(start)
	if span <= 0 {
		return start
	}
	return start.Add(time.Duration(rand.Int64N(int64(span))))
}

// nextARICheck clamps the CA's Retry-After (zero: none given) into the
// limits above.
func nextARICheck(now, retryAfter time.Time) time.Time {
	if retryAfter.IsZero() {
		return now.Add(ariDefaultRecheck)
	}
	wait := retryAfter.Sub(now)
	return now.Add(min(max(wait, ariMinRecheck), ariMaxRecheck))
}

// errNoWindow is a renewalInfo answer without a usable window.
var errNoWindow = errors.New("the CA's renewal information has no valid window")

// fetchRenewalInfo asks the CA's renewalInfo resource (base) about the
// certificate id. prev is what is known so far: its selected time is kept
// when the window did not move.
func fetchRenewalInfo(ctx context.Context, client *http.Client, base, id string, now time.Time, prev *renewalInfo) (*renewalInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/"+id, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxACMEResponse))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("renewal information: %s", resp.Status)
	}
	return parseRenewalInfo(body, resp.Header.Get("Retry-After"), id, now, prev)
}

// parseRenewalInfo reads a renewalInfo answer (RFC 9773 section 4.2).
func parseRenewalInfo(body []byte, retryAfter, id string, now time.Time, prev *renewalInfo) (*renewalInfo, error) {
	var doc struct {
		SuggestedWindow struct {
			Start time.Time `json:"start"`
			End   time.Time `json:"end"`
		} `json:"suggestedWindow"`
		ExplanationURL string `json:"explanationURL"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("renewal information: %w", err)
	}
	w := doc.SuggestedWindow
	if w.Start.IsZero() || !w.Start.Before(w.End) {
		return nil, errNoWindow
	}
	ri := &renewalInfo{
		CertID:         id,
		WindowStart:    w.Start.UTC(),
		WindowEnd:      w.End.UTC(),
		ExplanationURL: doc.ExplanationURL,
		Fetched:        now,
		NextCheck:      nextARICheck(now, parseRetryAfter(retryAfter, now)),
	}
	if prev != nil && prev.CertID == id && prev.WindowStart.Equal(ri.WindowStart) && prev.WindowEnd.Equal(ri.WindowEnd) && !prev.Selected.IsZero() {
		ri.Selected = prev.Selected
	} else {
		ri.Selected = pickInWindow(ri.WindowStart, ri.WindowEnd)
	}
	return ri, nil
}

// ariFetchTimeout bounds one pass of renewal-information requests.
const ariFetchTimeout = 30 * time.Second

// refreshRenewalInfo asks the CA for the renewal window of every
// certificate whose information is missing or due for a re-check (its
// Retry-After passed), and records the answers. It blocks on the network:
// the background pass calls it, before deciding which names are due, so a
// window the CA moved into the past is acted on in the same pass.
func (m *Manager) refreshRenewalInfo() {
	type job struct {
		ns   *nameState
		leaf *x509.Certificate
		id   string
		prev *renewalInfo // about this certificate, or nil
	}
	// One pass at a time (the loop's and an explicit maintain): a second
	// one then finds the answers of the first and asks nothing.
	m.ariMu.Lock()
	defer m.ariMu.Unlock()
	now := m.now()
	var jobs []job
	m.mu.Lock()
	for _, ns := range m.names {
		c := ns.cert.Load()
		if c == nil || ns.attempt != nil {
			continue
		}
		id := certID(c.Leaf)
		if id == "" {
			continue
		}
		prev := ns.rec.ARI
		if prev != nil && (prev.CertID != id || prev.Directory != m.cfg.DirectoryURL) {
			prev = nil
		}
		if prev != nil && now.Before(prev.NextCheck) {
			continue
		}
		jobs = append(jobs, job{ns, c.Leaf, id, prev})
	}
	m.mu.Unlock()
	if len(jobs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(m.lifetime, ariFetchTimeout)
	defer cancel()
	client := &http.Client{Transport: transportOf(m.cfg.HTTPClient)}
	dir, dirErr := FetchDirectory(ctx, client, m.cfg.DirectoryURL)
	for _, j := range jobs {
		var ri *renewalInfo
		var err error
		switch {
		case dirErr != nil:
			err = dirErr
		case dir.RenewalInfo == "":
			ri = &renewalInfo{CertID: j.id, Unsupported: true, Fetched: now, NextCheck: now.Add(ariUnsupportedRecheck)}
		default:
			ri, err = fetchRenewalInfo(ctx, client, dir.RenewalInfo, j.id, now, j.prev)
		}
		if m.lifetime.Err() != nil {
			return
		}
		if err != nil {
			// Keep the window known so far; ask again in an hour.
			ri = &renewalInfo{CertID: j.id}
			if j.prev != nil {
				*ri = *j.prev
			}
			ri.Error, ri.NextCheck = err.Error(), now.Add(ariErrorRecheck)
			m.log.Warn("could not get the CA's renewal information; renewing on the lifetime schedule until it answers", "name", j.ns.name, "err", err)
		}
		ri.Directory = m.cfg.DirectoryURL
		m.mu.Lock()
		if c := j.ns.cert.Load(); c == nil || c.Leaf != j.leaf {
			m.mu.Unlock()
			continue // replaced meanwhile
		}
		j.ns.rec.ARI = ri
		rec := j.ns.rec
		m.mu.Unlock()
		m.saveRecord(j.ns.name, rec)
		if err == nil && ri.hasWindow() && (j.prev == nil || !j.prev.WindowStart.Equal(ri.WindowStart) || !j.prev.WindowEnd.Equal(ri.WindowEnd)) {
			msg := "renewal window from the CA"
			if !now.Before(ri.Selected) {
				msg = "the CA's renewal window has begun: renewing now"
			}
			m.log.Info(msg, "name", j.ns.name, "window_start", ri.WindowStart, "window_end", ri.WindowEnd,
				"renew_at", ri.Selected, "explanation", ri.ExplanationURL, "next_check", ri.NextCheck)
		}
	}
}
