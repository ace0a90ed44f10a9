package supervisor

import (
	"context"
	"fmt"
	"sort"
	"time"
)

// ProcessStatus is one supervised process as `frontdoor status` shows it.
type ProcessStatus struct {
	Name       string    `json:"name"`                 // "web" or an extra process's name
	Generation int       `json:"generation,omitempty"` // web only
	State      State     `json:"state"`
	PID        int       `json:"pid,omitempty"`
	Socket     string    `json:"socket,omitempty"` // web: "unix:/run/frontdoor/web-3.sock"
	StartedAt  time.Time `json:"started_at,omitzero"`
	// Uptime counts from the start of the current process.
	Uptime   time.Duration `json:"uptime"`
	Restarts int           `json:"restarts"`
	LastExit *ExitInfo     `json:"last_exit,omitempty"`
	// LastFailure is the last crash or failed start (a release step, a
	// generation that never answered), kept after the process recovered.
	LastFailure *Failure `json:"last_failure,omitempty"`
	// NextRetry is when a process in backoff or fatal is tried again.
	NextRetry time.Time `json:"next_retry,omitzero"`
	// Error says why it is in backoff or fatal.
	Error string `json:"error,omitempty"`

	// Resource use of the whole process tree, as of the last sample.
	CPUSeconds float64 `json:"cpu_seconds"`
	CPUPercent float64 `json:"cpu_percent"` // 100 is one full core
	RSSBytes   uint64  `json:"rss_bytes"`
	Processes  int     `json:"processes"` // processes in the tree
}

// Failure is the last time a process failed, and why.
type Failure struct {
	Time time.Time `json:"time"`
	// Reason is one sentence: "web generation 3 exited (exit code 3) after
	// 1.2s: gunicorn: worker failed to boot", "release step migrate
	// failed: …".
	Reason string `json:"reason"`
	// Exit is how the process ended, when one ran.
	Exit *ExitInfo `json:"exit,omitempty"`
	// Output holds a failed release step's last output lines.
	Output []string `json:"output,omitempty"`
}

// Status is a snapshot of the supervised site.
type Status struct {
	// Upstream is what the edge was last told ("" = app not ready).
	Upstream string `json:"upstream"`
	// Server and App are what the web process runs (empty before the
	// first inspect).
	Server Server `json:"server,omitempty"`
	App    string `json:"app,omitempty"`
	// Web is the serving generation, or the slot's state when none serves.
	Web ProcessStatus `json:"web"`
	// Draining lists replaced generations still finishing their work.
	Draining []ProcessStatus `json:"draining,omitempty"`
	// Processes are the extra processes, in config order.
	Processes []ProcessStatus `json:"processes,omitempty"`
	Postgres  PostgresStatus  `json:"postgres"`
	// DeployPhase says what a deploy or restart under way is doing.
	DeployPhase string `json:"deploy_phase,omitempty"`
	// LastDeploy is the last finished first start, deploy or restart.
	LastDeploy *DeployReport `json:"last_deploy,omitempty"`
}

// Status returns a snapshot. It does not block on children or I/O
// (resource figures come from the last sample).
func (s *Supervisor) Status() Status {
	pg := s.pg.status()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	st := Status{Upstream: s.web.upstream, Postgres: pg, DeployPhase: s.deploy.phase}
	if s.deploy.last != nil {
		r := *s.deploy.last
		st.LastDeploy = &r
	}
	if s.project != nil {
		if server, app, err := s.appFor(s.project); err == nil {
			st.Server, st.App = server, app
		}
	}
	st.Web = ProcessStatus{Name: webName, State: s.web.state, Restarts: s.web.restarts,
		LastExit: s.web.lastExit, LastFailure: s.web.lastFailure, NextRetry: s.web.retryAt, Error: s.web.err}
	if g := s.web.current; g != nil {
		fillChild(&st.Web, g.child, g.usage, now)
		st.Web.Generation, st.Web.Socket = g.n, g.addr
	}
	var draining []*generation
	for _, g := range s.gens {
		if g.retiring {
			draining = append(draining, g)
		}
	}
	sort.Slice(draining, func(i, j int) bool { return draining[i].n < draining[j].n })
	for _, g := range draining {
		ps := ProcessStatus{Name: webName, Generation: g.n, State: StateDraining, Socket: g.addr}
		fillChild(&ps, g.child, g.usage, now)
		st.Draining = append(st.Draining, ps)
	}
	for _, e := range s.extras {
		ps := ProcessStatus{Name: e.spec.Name, State: e.state, Restarts: e.restarts,
			LastExit: e.lastExit, LastFailure: e.lastFail, NextRetry: e.retryAt, Error: e.err}
		if e.child != nil && !e.child.exited() {
			fillChild(&ps, e.child, e.usage, now)
		}
		st.Processes = append(st.Processes, ps)
	}
	return st
}

func fillChild(ps *ProcessStatus, c *child, u usage, now time.Time) {
	ps.PID, ps.StartedAt, ps.Uptime = c.pid, c.started, now.Sub(c.started).Round(time.Second)
	ps.CPUSeconds, ps.CPUPercent, ps.RSSBytes, ps.Processes = u.cpuSeconds, u.cpuPercent, u.rss, u.procs
}

// sample measures every live child's process tree each SampleInterval and
// starts a memory-limit restart when the serving generation passes RSSLimit.
func (s *Supervisor) sample(ctx context.Context) {
	t := time.NewTicker(s.cfg.SampleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.sampleOnce(ctx)
	}
}

func (s *Supervisor) sampleOnce(ctx context.Context) {
	s.mu.Lock()
	var roots []int
	for _, g := range s.gens {
		roots = append(roots, g.child.pid)
	}
	for _, e := range s.extras {
		if e.child != nil && !e.child.exited() {
			roots = append(roots, e.child.pid)
		}
	}
	s.mu.Unlock()

	samples := sampleTrees(ctx, roots)

	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.gens {
		if u, ok := samples[g.child.pid]; ok {
			g.usage = withPercent(g.usage, u)
		}
	}
	for _, e := range s.extras {
		if e.child == nil {
			continue
		}
		if u, ok := samples[e.child.pid]; ok {
			e.usage = withPercent(e.usage, u)
		}
	}
	s.checkMemoryLocked()
}

// checkMemoryLocked starts a blue/green restart when the serving
// generation's tree uses more than RSSLimit. A generation is measured at
// least once after it became ready before it can be replaced, only one
// such restart runs at a time, and they are at least HealthyAfter apart:
// a limit below the app's baseline must not turn into a restart loop.
func (s *Supervisor) checkMemoryLocked() {
	g := s.web.current
	if s.cfg.RSSLimit == 0 || g == nil || s.rssBusy || s.stopping ||
		g.usage.at.Before(g.readyAt) || g.usage.rss <= s.cfg.RSSLimit ||
		time.Since(s.rssLast) < s.cfg.HealthyAfter {
		return
	}
	s.rssBusy, s.rssLast = true, time.Now()
	rss := g.usage.rss
	s.log.Warn("web passed its memory limit; replacing it", "gen", g.n, "rss", rss, "limit", s.cfg.RSSLimit)
	s.record(Event{Kind: EventMemoryLimit, Process: webName, Generation: g.n,
		Message: fmt.Sprintf("web generation %d uses %d bytes, over the limit of %d: replacing it", g.n, rss, s.cfg.RSSLimit)})
	s.goTracked(func() {
		_, _ = s.replace(s.runCtx, KindMemoryLimit)
		s.mu.Lock()
		s.rssBusy = false
		s.mu.Unlock()
	})
}
