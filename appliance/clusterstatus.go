package appliance

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"frontdoor/state/cluster"
)

// writeClusterLine renders this edge's connection to the cluster in
// `frontdoor status`: up, or down with what that means and when the next
// attempt is.
func writeClusterLine(w io.Writer, st *cluster.Status, now time.Time) {
	if st == nil {
		return
	}
	db := st.Database
	if db == "" {
		db = "(the application's database, once its settings are read)"
	}
	fmt.Fprintf(w, "cluster   edge %s · PostgreSQL %s, schema %s\n", st.Edge, db, st.Schema)
	switch st.State {
	case cluster.StateUp:
		fmt.Fprintf(w, "          up since %s (schema version %d)", eventTime(st.Since, now), st.SchemaVersion)
		if st.Outages > 0 {
			fmt.Fprintf(w, " · last outage %s, %s long", eventTime(st.LastOutageStart, now), shortDuration(st.LastOutageEnd.Sub(st.LastOutageStart)))
		}
		fmt.Fprintln(w)
	case cluster.StateWaiting:
		fmt.Fprintf(w, "          waiting for the application's settings to name its database; serving from the local state meanwhile\n")
	default:
		fmt.Fprintf(w, "          DOWN since %s (%s): %s\n", eventTime(st.Since, now), shortDuration(now.Sub(st.Since)), st.LastError)
		fmt.Fprintf(w, "          serving every stored certificate from the local state; no certificate is ordered until it is back")
		if !st.NextRetry.IsZero() {
			fmt.Fprintf(w, "; next attempt in %s", shortDuration(max(st.NextRetry.Sub(now), 0)))
		}
		fmt.Fprintln(w)
	}
	if st.PendingEvents > 0 {
		fmt.Fprintf(w, "          %d events wait for the database\n", st.PendingEvents)
	}
	fmt.Fprintln(w)
}

// WriteClusterReport renders `frontdoor status --cluster`: this edge's
// connection, then every edge (heartbeat, version, certificates served,
// last error), the orders under way and the latest events of all edges.
func WriteClusterReport(w io.Writer, rep ClusterReport, now time.Time) {
	writeClusterLine(w, &rep.Status, now)
	if rep.View == nil {
		fmt.Fprintf(w, "edges     unknown: this edge cannot read the cluster's database (%s)\n", rep.ViewError)
		return
	}
	v := rep.View
	fmt.Fprintf(w, "edges     %d (a heartbeat every %s; gone after 3 missed)\n", len(v.Edges), shortDuration(rep.Status.Heartbeat))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "          EDGE\tSTATE\tHEARTBEAT\tVERSION\tHOST\tCERTIFICATES\tLAST ERROR\n")
	for _, e := range v.Edges {
		name := e.Edge
		if e.Self {
			name += " (this)"
		}
		state := "live"
		if !e.Live {
			state = "GONE"
		}
		var certs []string
		for _, c := range e.Certificates {
			certs = append(certs, fmt.Sprintf("%s #%s until %s", c.Name, shortSerial(c.Serial), c.NotAfter.Local().Format("2006-01-02")))
		}
		certText := strings.Join(certs, ", ")
		if certText == "" {
			certText = "-"
		}
		lastErr := "-"
		if e.LastError != "" {
			lastErr = fmt.Sprintf("%s (%s)", e.LastError, eventTime(e.LastErrorAt, now))
		}
		fmt.Fprintf(tw, "          %s\t%s\t%s ago\t%s\t%s\t%s\t%s\n", name, state, shortDuration(e.HeartbeatAge), e.Version, e.Hostname, certText, lastErr)
	}
	tw.Flush()
	for _, e := range v.Edges {
		if e.Outages > 0 {
			end := "still cut off"
			if !e.LastOutageEnd.IsZero() {
				end = shortDuration(e.LastOutageEnd.Sub(e.LastOutageStart)) + " long"
			}
			fmt.Fprintf(w, "          %s lost PostgreSQL %d time(s); last %s, %s\n", e.Edge, e.Outages, eventTime(e.LastOutageStart, now), end)
		}
	}
	fmt.Fprintln(w)
	if len(v.Orders) > 0 {
		fmt.Fprintf(w, "orders    (under way)\n")
		for _, o := range v.Orders {
			fmt.Fprintf(w, "          %s by %s (lease token %d, %s left)\n", o.Name, o.Edge, o.Token, shortDuration(o.Left))
		}
		fmt.Fprintln(w)
	}
	if len(v.Events) > 0 {
		fmt.Fprintf(w, "events    (all edges, newest first)\n")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, e := range v.Events {
			fmt.Fprintf(tw, "          %s\t%s\t%s\t%s\t%s\n", eventTime(e.Time, now), e.Edge, e.Source, e.Kind, e.Message)
		}
		tw.Flush()
	}
}

// shortSerial is the start of a serial number, enough to tell two apart.
func shortSerial(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}
