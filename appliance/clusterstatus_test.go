package appliance

import (
	"strings"
	"testing"
	"time"

	"frontdoor/state/cluster"
)

// `frontdoor status --cluster` in text: this edge's connection to
// PostgreSQL, then a row per edge with its state, heartbeat, version,
// host, certificates and last error; the outages, the orders under way
// and the events of every edge.
func TestWriteClusterReport(t *testing.T) {
	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.Local)
	rep := ClusterReport{
		Status: cluster.Status{Edge: "a", Schema: "frontdoor", Database: "postgres://fd@db.internal:5432/site",
			State: cluster.StateUp, Since: now.Add(-time.Hour), SchemaVersion: 1, Heartbeat: 5 * time.Second},
		View: &cluster.View{
			Edges: []cluster.EdgeView{
				{Edge: "a", Self: true, Live: true, Version: "1.4.0", Hostname: "vps-a", HeartbeatAge: 1200 * time.Millisecond,
					Certificates: []cluster.ServedCert{{Name: "www.example.com", Serial: "0123456789abcdef0123", NotAfter: now.Add(60 * 24 * time.Hour)}}},
				{Edge: "b", Live: true, Version: "1.3.9", Hostname: "vps-b", HeartbeatAge: 3 * time.Second,
					LastError: "www.example.com: rateLimited", LastErrorAt: now.Add(-10 * time.Minute),
					Outages: 2, LastOutageStart: now.Add(-30 * time.Minute), LastOutageEnd: now.Add(-29 * time.Minute)},
				{Edge: "c", Live: false, Version: "1.4.0", Hostname: "vps-c", HeartbeatAge: 5 * time.Minute,
					Outages: 1, LastOutageStart: now.Add(-6 * time.Minute)},
			},
			Orders: []cluster.OrderView{{Name: "api.example.com", Edge: "b", Token: 7, Left: 40 * time.Second}},
			Events: []cluster.Event{{Time: now.Add(-time.Minute), Edge: "b", Source: "acme", Kind: "obtained", Message: "certificate for www.example.com"}},
		},
	}
	var b strings.Builder
	WriteClusterReport(&b, rep, now)
	out := b.String()
	rowOf := func(edge string) string {
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[0] == edge {
				return line
			}
		}
		t.Fatalf("no row for edge %s:\n%s", edge, out)
		return ""
	}
	for _, want := range []string{
		"edge a · PostgreSQL postgres://fd@db.internal:5432/site, schema frontdoor",
		"up since", "(schema version 1)",
		"edges     3 (a heartbeat every 5.0s; gone after 3 missed)",
		"b lost PostgreSQL 2 time(s); last 11:30:00, 1m00s long",
		"c lost PostgreSQL 1 time(s); last 11:54:00, still cut off",
		"api.example.com by b (lease token 7, 40s left)",
		"certificate for www.example.com",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status --cluster lacks %q:\n%s", want, out)
		}
	}
	for edge, wants := range map[string][]string{
		"a": {"a (this)", "live", "1.2s ago", "1.4.0", "vps-a", "www.example.com #0123456789ab until 2027-02-04"},
		"b": {"live", "3.0s ago", "1.3.9", "vps-b", "www.example.com: rateLimited (11:50:00)"},
		"c": {"GONE", "5m00s ago", "vps-c"},
	} {
		row := rowOf(edge)
		for _, want := range wants {
			if !strings.Contains(row, want) {
				t.Errorf("edge %s's row lacks %q: %q", edge, want, row)
			}
		}
	}
	if strings.Contains(out, "password") {
		t.Errorf("the report shows a password:\n%s", out)
	}

	// The database away: this edge's side only, and why the rest is unknown.
	b.Reset()
	down := ClusterReport{
		Status: cluster.Status{Edge: "a", Schema: "frontdoor", Database: "postgres://fd@db.internal/site", State: cluster.StateDown,
			Since: now.Add(-90 * time.Second), LastError: "dial tcp 10.0.0.5:5432: connection refused", NextRetry: now.Add(4 * time.Second), PendingEvents: 3},
		ViewError: cluster.ErrUnavailable.Error(),
	}
	WriteClusterReport(&b, down, now)
	for _, want := range []string{
		"DOWN since 11:58:30 (1m30s): dial tcp 10.0.0.5:5432: connection refused",
		"serving every stored certificate from the local state; no certificate is ordered until it is back; next attempt in 4.0s",
		"3 events wait for the database",
		"edges     unknown: this edge cannot read the cluster's database (" + cluster.ErrUnavailable.Error() + ")",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("status --cluster during an outage lacks %q:\n%s", want, b.String())
		}
	}
}
