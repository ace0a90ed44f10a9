package appliance

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"frontdoor/supervisor"
)

// The Prometheus text exposition format (version 0.0.4) is written by hand:
// a few dozen series read from snapshots at scrape time do not need
// client_golang's registry, and its dependency tree (prometheus/common,
// procfs, protobuf) would outweigh this file.

// metricsContentType is what GET /metrics answers with.
const metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

// processStates are the states frontdoor_process_state reports, one series
// each, so that a dashboard can graph any of them.
var processStates = []supervisor.State{
	supervisor.StateStarting, supervisor.StateRunning, supervisor.StateBackoff,
	supervisor.StateFatal, supervisor.StateStopped,
}

// metricsWriter writes families: HELP and TYPE once, then samples.
type metricsWriter struct {
	w    *bufio.Writer
	seen map[string]bool
}

func (m *metricsWriter) family(name, typ, help string) {
	if m.seen[name] {
		return
	}
	m.seen[name] = true
	fmt.Fprintf(m.w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// sample writes one line; labels alternate names and values.
func (m *metricsWriter) sample(name string, value float64, labels ...string) {
	m.w.WriteString(name)
	if len(labels) > 0 {
		m.w.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				m.w.WriteByte(',')
			}
			m.w.WriteString(labels[i])
			m.w.WriteString(`="`)
			m.w.WriteString(escapeLabel(labels[i+1]))
			m.w.WriteByte('"')
		}
		m.w.WriteByte('}')
	}
	m.w.WriteByte(' ')
	m.w.WriteString(formatFloat(value))
	m.w.WriteByte('\n')
}

func escapeLabel(v string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// writeMetrics writes every metric of the daemon.
func (a *Appliance) writeMetrics(out io.Writer) error {
	rep := a.statusReport()
	m := &metricsWriter{w: bufio.NewWriter(out), seen: map[string]bool{}}

	m.family("frontdoor_start_time_seconds", "gauge", "When the daemon started, in seconds since the epoch.")
	m.sample("frontdoor_start_time_seconds", unixSeconds(rep.Started))
	e := rep.Edge
	m.family("frontdoor_edge_workers", "gauge", "Event-loop workers of the edge.")
	m.sample("frontdoor_edge_workers", float64(e.Workers))
	m.family("frontdoor_edge_connections", "gauge", "Client connections open now.")
	m.sample("frontdoor_edge_connections", float64(e.Connections))
	m.family("frontdoor_edge_accepted_total", "counter", "Client connections accepted.")
	m.sample("frontdoor_edge_accepted_total", float64(e.Accepted))
	m.family("frontdoor_edge_requests_total", "counter", "Requests served by the edge.")
	m.sample("frontdoor_edge_requests_total", float64(e.Requests))

	appMetrics(m, rep.Apps)
	if set := a.apps; set != nil {
		runners := set.list()
		m.family("frontdoor_deploys_total", "counter", "Deploys (and restarts and first starts) since the daemon started, by app and result.")
		for _, r := range runners {
			counts := r.rec.eventCounts()
			m.sample("frontdoor_deploys_total", float64(counts[string(supervisor.EventDeploySucceeded)]), "app", r.name, "result", "succeeded")
			m.sample("frontdoor_deploys_total", float64(counts[string(supervisor.EventDeployFailed)]), "app", r.name, "result", "failed")
		}
		m.family("frontdoor_events_total", "counter", "Application events since the daemon started, by app and kind.")
		for _, r := range runners {
			counts := r.rec.eventCounts()
			kinds := make([]string, 0, len(counts))
			for k := range counts {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			for _, k := range kinds {
				m.sample("frontdoor_events_total", float64(counts[k]), "app", r.name, "kind", k)
			}
		}
		m.family("frontdoor_events_dropped_total", "counter", "Application events not stored because the state file fell behind.")
		m.sample("frontdoor_events_dropped_total", float64(rep.EventsDropped))
	}
	if len(rep.Certificates) > 0 {
		m.family("frontdoor_certificate_valid", "gauge", "1 when the name has a valid certificate.")
		for _, c := range rep.Certificates {
			m.sample("frontdoor_certificate_valid", boolValue(c.State == "valid"), "name", c.Name, "source", c.Source)
		}
		m.family("frontdoor_certificate_expiry_timestamp_seconds", "gauge", "When the name's certificate expires.")
		for _, c := range rep.Certificates {
			if !c.NotAfter.IsZero() {
				m.sample("frontdoor_certificate_expiry_timestamp_seconds", unixSeconds(c.NotAfter), "name", c.Name, "source", c.Source)
			}
		}
		certRenewalMetrics(m, rep.Certificates)
	}
	clusterMetrics(m, rep.Cluster)
	return m.w.Flush()
}

// appProcs are one app's processes, for processMetrics.
type appProcs struct {
	app   string
	procs []supervisor.ProcessStatus
}

// appMetrics writes the applications' series, family by family (the
// format wants each family's samples together), each labelled by app.
func appMetrics(m *metricsWriter, apps []AppStatus) {
	if len(apps) == 0 {
		return
	}
	m.family("frontdoor_app_serving", "gauge", "1 while a web generation receives the application's requests, 0 while the edge answers 503.")
	for _, a := range apps {
		m.sample("frontdoor_app_serving", boolValue(a.Status != nil && a.Status.Upstream != ""), "app", a.Name)
	}
	m.family("frontdoor_app_maintenance", "gauge", "1 while the application's routes answer the maintenance page.")
	for _, a := range apps {
		m.sample("frontdoor_app_maintenance", boolValue(a.Maintenance != nil), "app", a.Name)
	}
	var all []appProcs
	for _, a := range apps {
		if a.Status != nil {
			all = append(all, appProcs{a.Name, append([]supervisor.ProcessStatus{a.Status.Web}, a.Status.Processes...)})
		}
	}
	processMetrics(m, all)
	m.family("frontdoor_web_draining_generations", "gauge", "Replaced web generations still finishing requests or WebSocket tunnels.")
	for _, a := range apps {
		if a.Status != nil {
			m.sample("frontdoor_web_draining_generations", float64(len(a.Status.Draining)), "app", a.Name)
		}
	}
	for _, fam := range []struct{ name, help string }{
		{"frontdoor_postgres_up", "1 when the last SELECT 1 on the database succeeded."},
		{"frontdoor_postgres_check_seconds", "Duration of the last successful health check."},
	} {
		for _, a := range apps {
			if a.Status == nil || !a.Status.Postgres.Used {
				continue
			}
			m.family(fam.name, "gauge", fam.help)
			for _, d := range a.Status.Postgres.Databases {
				v := boolValue(d.State == supervisor.HealthUp)
				if fam.name == "frontdoor_postgres_check_seconds" {
					v = d.Latency.Seconds()
				}
				m.sample(fam.name, v, "app", a.Name, "alias", d.Alias)
			}
		}
	}
	for _, fam := range []struct{ name, help string }{
		{"frontdoor_last_deploy_timestamp_seconds", "When the last deploy, restart or first start finished."},
		{"frontdoor_last_deploy_success", "1 when the last deploy succeeded."},
		{"frontdoor_last_deploy_duration_seconds", "How long the last deploy took."},
	} {
		for _, a := range apps {
			if a.Status == nil || a.Status.LastDeploy == nil {
				continue
			}
			d := a.Status.LastDeploy
			m.family(fam.name, "gauge", fam.help)
			v := unixSeconds(d.Finished)
			switch fam.name {
			case "frontdoor_last_deploy_success":
				v = boolValue(d.OK)
			case "frontdoor_last_deploy_duration_seconds":
				v = d.Finished.Sub(d.Started).Seconds()
			}
			m.sample(fam.name, v, "app", a.Name)
		}
	}
}

// processMetrics writes the supervised processes' series, family by
// family (the format wants each family's samples together).
func processMetrics(m *metricsWriter, apps []appProcs) {
	m.family("frontdoor_process_state", "gauge", "1 for the process's current state.")
	for _, a := range apps {
		for _, p := range a.procs {
			for _, s := range processStates {
				m.sample("frontdoor_process_state", boolValue(p.State == s), "app", a.app, "process", p.Name, "state", string(s))
			}
		}
	}
	m.family("frontdoor_process_restarts_total", "counter", "Restarts after crashes since the daemon started.")
	for _, a := range apps {
		for _, p := range a.procs {
			m.sample("frontdoor_process_restarts_total", float64(p.Restarts), "app", a.app, "process", p.Name)
		}
	}
	m.family("frontdoor_process_cpu_seconds_total", "counter", "CPU time of the process tree (of the current process: a new one starts from 0).")
	for _, a := range apps {
		for _, p := range a.procs {
			m.sample("frontdoor_process_cpu_seconds_total", p.CPUSeconds, "app", a.app, "process", p.Name)
		}
	}
	m.family("frontdoor_process_resident_memory_bytes", "gauge", "Resident memory of the whole process tree.")
	for _, a := range apps {
		for _, p := range a.procs {
			m.sample("frontdoor_process_resident_memory_bytes", float64(p.RSSBytes), "app", a.app, "process", p.Name)
		}
	}
	m.family("frontdoor_process_processes", "gauge", "Processes in the tree (a gunicorn master and its workers).")
	for _, a := range apps {
		for _, p := range a.procs {
			m.sample("frontdoor_process_processes", float64(p.Processes), "app", a.app, "process", p.Name)
		}
	}
	m.family("frontdoor_process_start_time_seconds", "gauge", "When the current process started (0: not running).")
	for _, a := range apps {
		for _, p := range a.procs {
			started := 0.0
			if !p.StartedAt.IsZero() {
				started = unixSeconds(p.StartedAt)
			}
			m.sample("frontdoor_process_start_time_seconds", started, "app", a.app, "process", p.Name)
		}
	}
}
