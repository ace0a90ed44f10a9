package appliance

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"frontdoor/acme"
	"frontdoor/state"
	"frontdoor/state/cluster"
	"frontdoor/supervisor"
)

// StatusReport is what `frontdoor status` shows, as GET /status returns it.
type StatusReport struct {
	PID       int        `json:"pid"`
	Started   time.Time  `json:"started"`
	Config    string     `json:"config"`
	StateFile string     `json:"state_file"`
	Edge      EdgeStatus `json:"edge"`
	// LogUnit is the systemd unit whose journal holds the daemon's log
	// (and the apps'), "" when it does not log to the journal.
	LogUnit string `json:"log_unit,omitempty"`
	// Apps are the supervised applications, in the configuration's order.
	Apps []AppStatus `json:"apps,omitempty"`
	// App and AppPending repeat Apps[0]'s Status and Pending when there
	// is exactly one app (the form from before there could be several);
	// nil otherwise.
	App        *supervisor.Status `json:"app,omitempty"`
	AppPending *supervisor.Status `json:"app_pending,omitempty"`
	// Certificates are the TLS names and their state (none without a TLS
	// listener).
	Certificates []acme.CertStatus `json:"certificates,omitempty"`
	// Cluster is this edge's connection to the cluster's PostgreSQL; nil
	// without [cluster].
	Cluster *cluster.Status `json:"cluster,omitempty"`
	// Events are the latest events, newest first.
	Events []state.Event `json:"events"`
	// EventsDropped counts application events the state file could not
	// keep up with since start.
	EventsDropped uint64 `json:"events_dropped,omitempty"`
}

// AppStatus is one application in the status.
type AppStatus struct {
	Name string `json:"name"`
	// Status is its serving supervisor's; nil while none runs.
	Status *supervisor.Status `json:"status,omitempty"`
	// Pending is a supervisor starting with a changed table, before it
	// takes over.
	Pending *supervisor.Status `json:"pending,omitempty"`
	// Maintenance is set while the app's routes answer the maintenance
	// page.
	Maintenance *Maintenance `json:"maintenance,omitempty"`
	// EventsDropped counts the app's events the state file could not keep
	// up with since start.
	EventsDropped uint64 `json:"events_dropped,omitempty"`
}

// app returns the status of the app named name, or nil.
func (rep StatusReport) app(name string) *AppStatus {
	for i := range rep.Apps {
		if rep.Apps[i].Name == name {
			return &rep.Apps[i]
		}
	}
	return nil
}

// EdgeStatus is the engine's part of the status.
type EdgeStatus struct {
	Listeners   []ListenerStatus `json:"listeners"`
	Workers     int              `json:"workers"`
	Connections int64            `json:"connections"`
	Accepted    uint64           `json:"accepted"`
	Requests    uint64           `json:"requests"`
	// RequestsPerSecond is the rate over the last RateInterval.
	RequestsPerSecond float64       `json:"requests_per_second"`
	RateInterval      time.Duration `json:"rate_interval"`
}

// ListenerStatus is one listening socket.
type ListenerStatus struct {
	Name string `json:"name"` // "http" or "https" (systemd's socket names)
	Addr string `json:"addr"`
	TLS  bool   `json:"tls"`
}

// statusEvents is how many events a status carries.
const statusEvents = 10

// rateInterval is how often the request rate and the systemd status line
// are refreshed.
const rateInterval = 5 * time.Second

// rateSample is the engine's request count at one moment.
type rateSample struct {
	at       time.Time
	requests uint64
}

// requestRate keeps the last two samples of the request counter.
type requestRate struct {
	mu         sync.Mutex
	prev, last rateSample
}

func (q *requestRate) add(s rateSample) {
	q.mu.Lock()
	q.prev, q.last = q.last, s
	q.mu.Unlock()
}

// rate is the requests per second between the last two samples.
func (q *requestRate) rate() (float64, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	d := q.last.at.Sub(q.prev.at)
	if q.prev.at.IsZero() || d <= 0 {
		return 0, 0
	}
	return float64(q.last.requests-q.prev.requests) / d.Seconds(), d
}

// statusReport assembles the status from the engine, the supervisor, the
// certificate manager and the state file. It does not block on children.
func (a *Appliance) statusReport() StatusReport {
	st := a.engine.Stats()
	rep := StatusReport{
		PID:       os.Getpid(),
		LogUnit:   a.logUnit,
		Config:    a.cfgPath,
		StateFile: a.cfg.Server.State,
		Edge: EdgeStatus{
			Workers: st.Workers, Connections: st.Connections, Accepted: st.Accepted, Requests: st.Requests,
		},
	}
	for _, l := range a.engine.Listeners() {
		rep.Edge.Listeners = append(rep.Edge.Listeners, ListenerStatus{Name: l.Name, Addr: l.Addr, TLS: l.TLS})
	}
	if set := a.apps; set != nil {
		rep.Started = set.started
		rep.Edge.RequestsPerSecond, rep.Edge.RateInterval = set.rate.rate()
		for _, r := range set.list() {
			as := r.status()
			rep.Apps = append(rep.Apps, as)
			rep.EventsDropped += as.EventsDropped
		}
		if len(rep.Apps) == 1 {
			rep.App, rep.AppPending = rep.Apps[0].Status, rep.Apps[0].Pending
		}
	}
	if m := a.certManager(); m != nil {
		rep.Certificates = m.Status()
	}
	rep.Cluster = a.clusterStatus()
	if a.state != nil {
		if evs, err := a.state.Events(statusEvents); err == nil {
			rep.Events = evs
		} else {
			a.log.Warn("could not read events from the state file", "err", err)
		}
	}
	return rep
}

// status is the app's part of the status report.
func (r *appRunner) status() AppStatus {
	as := AppStatus{Name: r.name, EventsDropped: r.rec.dropped.Load(), Maintenance: r.maintenanceState()}
	active, pending := r.instances()
	if active != nil {
		s := active.sup.Status()
		as.Status = &s
	}
	if pending != nil {
		s := pending.sup.Status()
		as.Pending = &s
	}
	return as
}

// publishStatus keeps the request rate and systemd's STATUS= line up to
// date: at every application event (poke) and every rateInterval.
func (r *appSet) publishStatus(ctx context.Context) {
	defer close(r.statusDone)
	t := time.NewTicker(rateInterval)
	defer t.Stop()
	last := ""
	for {
		if line := r.statusLine(); line != "" && line != last {
			last = line
			_ = r.a.notifier.Status(line)
		}
		select {
		case <-ctx.Done():
			return
		case <-r.statusPoke:
			// Let a burst of events settle into one line.
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		case now := <-t.C:
			r.rate.add(rateSample{at: now, requests: r.a.engine.Stats().Requests})
		}
	}
}

// statusLine summarises the applications in one line for systemd, e.g.
// "web running (generation 3, 5 workers), celery running, postgres up,
// 2 certificates valid", each app's part after its name when there are
// several ("shop: web running…; blog: web FATAL…"). Empty without apps.
func (r *appSet) statusLine() string {
	runners := r.list()
	var apps []string
	for _, app := range runners {
		inst := app.activeInstance()
		if inst == nil {
			continue
		}
		st := inst.sup.Status()
		parts := []string{processLine(st.Web, st.DeployPhase)}
		for _, p := range st.Processes {
			parts = append(parts, processLine(p, ""))
		}
		if st.Postgres.Used {
			parts = append(parts, "postgres "+string(st.Postgres.State))
		}
		if app.maintenanceState() != nil {
			parts = append(parts, "in maintenance")
		}
		line := strings.Join(parts, ", ")
		if len(runners) > 1 {
			line = app.name + ": " + line
		}
		apps = append(apps, line)
	}
	if len(apps) == 0 {
		return ""
	}
	parts := []string{strings.Join(apps, "; ")}
	if m := r.a.certManager(); m != nil {
		valid, other := 0, 0
		for _, c := range m.Status() {
			if c.State == "valid" {
				valid++
			} else {
				other++
			}
		}
		s := fmt.Sprintf("%d certificates valid", valid)
		if other > 0 {
			s += fmt.Sprintf(" (%d not yet)", other)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// processLine is one process in the systemd status line.
func processLine(p supervisor.ProcessStatus, phase string) string {
	switch p.State {
	case supervisor.StateRunning:
		if p.Name == "web" && p.Processes > 1 {
			return fmt.Sprintf("%s running (generation %d, %d workers)", p.Name, p.Generation, p.Processes-1)
		}
		return p.Name + " running"
	case supervisor.StateStarting:
		if phase != "" {
			return fmt.Sprintf("%s starting (%s)", p.Name, phase)
		}
		return p.Name + " starting"
	case supervisor.StateBackoff:
		return fmt.Sprintf("%s down (%s), restart in %s", p.Name, p.Error, time.Until(p.NextRetry).Round(time.Second))
	case supervisor.StateFatal:
		return fmt.Sprintf("%s FATAL: %s", p.Name, p.Error)
	}
	return fmt.Sprintf("%s %s", p.Name, p.State)
}
