package acme

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ariServer answers an ACME directory and renewalInfo documents (the two
// plain GETs of ari.go) so that the refresh logic can be tested without a
// CA process; the pebble tests cover the real exchange.
type ariServer struct {
	*httptest.Server
	directory, info atomic.Int64
	mu              sync.Mutex
	noARI           bool
	status          int
	start, end      time.Time
	retryAfter      string
}

func newARIServer(t *testing.T) *ariServer {
	s := &ariServer{status: 200, retryAfter: "3600"}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/dir":
			s.directory.Add(1)
			ari := `,"renewalInfo":"` + s.URL + `/ari/"`
			if s.noARI {
				ari = ""
			}
			w.Write([]byte(`{"newOrder":"` + s.URL + `/order"` + ari + `}`))
		case strings.HasPrefix(r.URL.Path, "/ari/"):
			s.info.Add(1)
			if s.status != 200 {
				w.WriteHeader(s.status)
				return
			}
			w.Header().Set("Retry-After", s.retryAfter)
			w.Write([]byte(`{"suggestedWindow":{"start":"` + s.start.Format(time.RFC3339) + `","end":"` + s.end.Format(time.RFC3339) + `"}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *ariServer) set(f func(*ariServer)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
}

func TestRefreshRenewalInfo(t *testing.T) {
	srv := newARIServer(t)
	clock := &fakeClock{}
	logs := &lockedBuffer{}
	m := localManager(t, tempStorePath(t), func(c *Config) {
		c.Names = []string{"ari.example", "nocert.example"}
		c.DirectoryURL = srv.URL + "/dir"
		c.Now = clock.Now
		c.Logger = slogTo(logs)
	})
	logged := func(msg string) int { return strings.Count(logs.String(), msg) }
	const name = "ari.example"
	cert, err := m.local.certFor(name)
	must(t, err)
	ns := m.names[name]
	ns.cert.Store(cert)
	id := certID(cert.Leaf)
	if id == "" {
		t.Fatal("the local certificate has no ARI identifier")
	}
	now := clock.Now()
	srv.set(func(s *ariServer) {
		s.start, s.end = now.Add(time.Hour).Truncate(time.Second), now.Add(3*time.Hour).Truncate(time.Second)
	})

	m.refreshRenewalInfo()
	ri := ns.rec.ARI
	if srv.directory.Load() != 1 || srv.info.Load() != 1 || ri == nil {
		t.Fatalf("%d directory and %d renewalInfo requests, record %+v; want one each (no request for the name without a certificate)", srv.directory.Load(), srv.info.Load(), ri)
	}
	if ri.CertID != id || ri.Directory != srv.URL+"/dir" || ri.Error != "" || ri.NextCheck.Sub(now).Round(time.Minute) != time.Hour {
		t.Errorf("record %+v: want this certificate, this CA, next check after Retry-After's hour", ri)
	}
	if s := statusOf(m, name); s.RenewSource != SourceARI || s.RenewAt.Before(now.Add(time.Hour)) || s.RenewAt.After(now.Add(3*time.Hour)) {
		t.Errorf("status %+v: want a time inside the window", s)
	}
	if got := m.replacesLocked(ns); got != id {
		t.Errorf("replaces %q, want %q", got, id)
	}
	stored, err := loadRecord(m.cfg.Store, name)
	must(t, err)
	if stored.ARI == nil || stored.ARI.CertID != id || !stored.ARI.Selected.Equal(ri.Selected) {
		t.Errorf("stored record %+v: the window is not kept in the state", stored.ARI)
	}

	if logged("renewal window from the CA") != 1 {
		t.Errorf("the new window is not logged once:\n%s", logs.String())
	}

	// Before Retry-After: nothing asked.
	m.refreshRenewalInfo()
	if srv.info.Load() != 1 || srv.directory.Load() != 1 {
		t.Errorf("asked again before Retry-After: %d requests", srv.info.Load())
	}
	// After it: asked; the same window keeps its time.
	clock.Advance(time.Hour + time.Minute)
	m.refreshRenewalInfo()
	if srv.info.Load() != 2 || !ns.rec.ARI.Selected.Equal(ri.Selected) {
		t.Errorf("after Retry-After: %d requests, selected %v (was %v)", srv.info.Load(), ns.rec.ARI.Selected, ri.Selected)
	}
	if logged("renewal window from the CA") != 1 {
		t.Errorf("an unchanged window is logged again:\n%s", logs.String())
	}
	// A failing CA: the window is kept, the error shown, asked in an hour.
	srv.set(func(s *ariServer) { s.status = 500 })
	clock.Advance(2 * time.Hour)
	now = clock.Now()
	m.refreshRenewalInfo()
	if got := ns.rec.ARI; got.Error == "" || !got.WindowStart.Equal(ri.WindowStart) || got.NextCheck.Sub(now).Round(time.Minute) != time.Hour {
		t.Errorf("after a failure: %+v", got)
	}
	if s := statusOf(m, name); s.ARIError == "" || s.RenewSource != SourceARI {
		t.Errorf("status %+v: want the error shown and the known window used", s)
	}
	// A moved window is picked up (and a new time picked inside it).
	srv.set(func(s *ariServer) {
		s.status, s.start, s.end = 200, now.Add(-2*time.Hour).Truncate(time.Second), now.Add(-time.Hour).Truncate(time.Second)
	})
	clock.Advance(time.Hour + time.Minute)
	now = clock.Now()
	m.refreshRenewalInfo()
	if got := ns.rec.ARI; got.Error != "" || !got.WindowEnd.Before(now) || got.Selected.After(now) {
		t.Errorf("moved window: %+v", got)
	}
	if due, why := m.dueLocked(ns, now, false); !due {
		t.Errorf("a window in the past is not due: %s", why)
	}
	if logged("could not get the CA's renewal information") != 1 || logged("the CA's renewal window has begun: renewing now") != 1 {
		t.Errorf("the failure and the moved window are not logged once each:\n%s", logs.String())
	}
	if logged("level=ERROR") != 0 {
		t.Errorf("errors logged:\n%s", logs.String())
	}
	// A CA without ARI: the lifetime rule, asked again in a day.
	srv.set(func(s *ariServer) { s.noARI = true })
	clock.Advance(7 * time.Hour)
	now = clock.Now()
	m.refreshRenewalInfo()
	if got := ns.rec.ARI; !got.Unsupported || got.NextCheck.Sub(now).Round(time.Minute) != 24*time.Hour {
		t.Errorf("a CA without ARI: %+v", got)
	}
	if s := statusOf(m, name); s.RenewSource != SourceLifetime {
		t.Errorf("renewal source %q without ARI", s.RenewSource)
	}
	if got := m.replacesLocked(ns); got != "" {
		t.Errorf("replaces %q to a CA without ARI", got)
	}
}

// No certificate, no request.
func TestRefreshRenewalInfoAsksNothingWithoutCertificates(t *testing.T) {
	srv := newARIServer(t)
	m := localManager(t, tempStorePath(t), func(c *Config) {
		c.Names = []string{"nocert.example"}
		c.DirectoryURL = srv.URL + "/dir"
	})
	m.refreshRenewalInfo()
	if n := srv.directory.Load() + srv.info.Load(); n != 0 {
		t.Errorf("%d requests without a certificate to ask about", n)
	}
}
