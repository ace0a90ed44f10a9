package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// DeployKind says why a new web generation was started.
type DeployKind string

const (
	KindInitial      DeployKind = "initial"       // first start: release steps, then boot
	KindDeploy       DeployKind = "deploy"        // Deploy: release steps, new generation, switch, drain the old
	KindRestart      DeployKind = "restart"       // Restart: the same, without release steps
	KindMemoryLimit  DeployKind = "memory-limit"  // a Restart because the generation passed RSSLimit
	KindCrashRestart DeployKind = "crash-restart" // after a crash (not kept as the last deploy)
)

// drainPoll is how often a replaced generation's in-flight counts are read.
const drainPoll = 50 * time.Millisecond

// DeployReport is the outcome of bringing up a web generation.
type DeployReport struct {
	Kind       DeployKind   `json:"kind"`
	Started    time.Time    `json:"started"`
	Finished   time.Time    `json:"finished"`
	OK         bool         `json:"ok"`
	Generation int          `json:"generation,omitempty"` // the generation now serving
	Replaced   int          `json:"replaced,omitempty"`   // the generation it replaced (now draining)
	Error      string       `json:"error,omitempty"`
	Steps      []StepResult `json:"steps,omitempty"`
	// Exit is set when the new generation exited before it was ready, or
	// was stopped after it failed to answer in time: its stderr tail
	// usually says why.
	Exit *ExitInfo `json:"exit,omitempty"`
}

// deployState is what Status shows about deploys. Guarded by Supervisor.mu.
type deployState struct {
	last  *DeployReport
	phase string // what the operation under way is doing, "" when idle
}

// Deploy performs a blue/green deploy of the code now in the project
// directory: release steps (inspect, wait for PostgreSQL, migrate,
// collectstatic); a new web generation on a new socket; once it answers
// HTTP, the edge is switched to it; the old generation is drained in the
// background (stopped once InFlight reports no request and no tunnel, or
// after WebSocketGrace) and the extra processes are restarted.
//
// Deploy blocks until the new generation serves or the deploy failed: a
// failing release step, a generation that exits or does not answer within
// ReadyTimeout, or ctx done. On failure the old generation keeps serving,
// the new one is stopped, and the error (a *StepError for a step) and the
// report say why. Deploys are serialised with each other and with
// restarts. It returns ErrNotRunning unless Run is running.
func (s *Supervisor) Deploy(ctx context.Context) (DeployReport, error) {
	ctx, done, err := s.beginOp(ctx)
	if err != nil {
		return DeployReport{}, err
	}
	defer done()
	return s.replace(ctx, KindDeploy)
}

// Restart replaces the web generation like Deploy, without release steps:
// for a reload when only the environment or the config changed. It blocks
// like Deploy.
func (s *Supervisor) Restart(ctx context.Context) (DeployReport, error) {
	ctx, done, err := s.beginOp(ctx)
	if err != nil {
		return DeployReport{}, err
	}
	defer done()
	return s.replace(ctx, KindRestart)
}

// replace brings up a new web generation and switches the edge to it.
// Every path that starts the web process goes through here. Deploys (all
// kinds but crash restarts) run one at a time, release steps included;
// boots — start, wait until ready, switch — run one at a time, whatever
// their kind.
func (s *Supervisor) replace(ctx context.Context, kind DeployKind) (rep DeployReport, err error) {
	if kind != KindCrashRestart {
		if !acquire(ctx, s.deploySem) {
			return DeployReport{Kind: kind}, ctx.Err()
		}
		defer release(s.deploySem)
	}
	if (kind == KindInitial || kind == KindCrashRestart) && s.hasLiveCurrent() {
		return DeployReport{Kind: kind, OK: true}, nil // a deploy got there first
	}

	// rep is the named result, so finishReport's stamp (deferred) reaches
	// the caller too.
	rep = DeployReport{Kind: kind, Started: time.Now()}
	s.mu.Lock()
	if kind == KindCrashRestart {
		s.web.restarts++
	}
	prevState := s.web.state
	if s.web.current == nil {
		s.web.state = StateStarting
	}
	s.mu.Unlock()
	defer s.finishReport(&rep)
	defer func() {
		// A cancelled attempt schedules nothing: show the state as it was.
		if ctx.Err() != nil {
			s.mu.Lock()
			if s.web.current == nil && s.web.state == StateStarting {
				s.web.state = prevState
			}
			s.mu.Unlock()
		}
	}()
	if kind != KindCrashRestart {
		s.log.Info("deploy started", "kind", kind)
		s.record(Event{Kind: EventDeployStarted, Process: webName, Message: fmt.Sprintf("%s started", kind)})
	}

	var project *Project
	if kind == KindInitial || kind == KindDeploy {
		if project, err = s.runRelease(ctx, &rep); err != nil {
			return s.failed(&rep, err, nil, false)
		}
		s.markReleased()
	} else {
		s.mu.Lock()
		project = s.project
		s.mu.Unlock()
		if project == nil {
			s.setDeployPhase("inspecting the project")
			if project, err = s.inspect(ctx); err != nil {
				return s.failed(&rep, &StepError{Step: StepInspect, Err: err}, nil, false)
			}
		}
	}

	server, app, err := s.appFor(project)
	if err != nil {
		return s.failed(&rep, err, nil, true)
	}
	if !acquire(ctx, s.bootSem) {
		return s.failed(&rep, ctx.Err(), nil, false)
	}
	defer release(s.bootSem)
	if kind == KindCrashRestart && s.hasLiveCurrent() {
		rep.OK = true
		return rep, nil // a deploy got there first
	}
	gen, err := s.startGeneration(server, app, project)
	if err != nil {
		return s.failed(&rep, err, nil, !errors.Is(err, ErrNotRunning))
	}
	s.setDeployPhase(fmt.Sprintf("waiting for web generation %d to answer on %s", gen.n, gen.sock))
	if err := waitReady(ctx, gen.child, gen.sock, readyHost(project), s.cfg.ReadyPath, s.cfg.ReadyTimeout); err != nil {
		exitedByItself := gen.child.exited()
		// It never received a request: nothing to finish gracefully.
		gen.child.kill()
		exit := gen.child.exit
		s.mu.Lock()
		s.forgetGenerationLocked(gen)
		s.mu.Unlock()
		if !exitedByItself {
			s.log.Warn("abandoned a web generation that did not become ready", "gen", gen.n, "err", err)
		}
		return s.failed(&rep, fmt.Errorf("web generation %d: %w", gen.n, err), &exit, exitedByItself)
	}
	s.promote(gen, kind, &rep)
	return rep, nil
}

// appFor resolves the server and the application object.
func (s *Supervisor) appFor(p *Project) (Server, string, error) {
	server := s.cfg.Server
	if server == ServerAuto {
		server = p.Server()
	}
	app := s.cfg.App
	if app == "" {
		app = p.AppFor(server)
	}
	if app == "" {
		return server, "", errors.New("the project names no application object")
	}
	return server, app, nil
}

// readyHost is the Host header of readiness requests: a name Django accepts.
func readyHost(p *Project) string {
	if p != nil {
		if names := p.Domains(); len(names) > 0 {
			if strings.Contains(names[0], ":") {
				return "[" + names[0] + "]"
			}
			return names[0]
		}
	}
	return "localhost"
}

// startGeneration starts the next web generation on its own socket.
func (s *Supervisor) startGeneration(server Server, app string, project *Project) (*generation, error) {
	env, err := s.env(project)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.nextGen++
	n := s.nextGen
	s.mu.Unlock()
	sock := s.socketPath(n)
	listener, err := listenWeb(sock)
	if err != nil {
		return nil, err
	}
	spec := childSpec{name: webName, gen: n, argv: s.webCommand(server, app), dir: s.cfg.ProjectDir, env: env, account: s.account,
		files: []*os.File{listener}}
	c, err := startChild(s.launch, s.log, spec, s.cfg.StderrLines)
	listener.Close() // the child has its own; the socket lives as long as it does
	if err != nil {
		_ = os.Remove(sock)
		return nil, err
	}
	g := &generation{n: n, sock: sock, addr: "unix:" + sock, child: c}
	if !s.adoptGeneration(g) {
		c.stop(s.cfg.StopTimeout)
		return nil, ErrNotRunning
	}
	s.log.Info("web starting", "gen", n, "pid", c.pid, "server", server, "app", app, "socket", sock, "workers", s.cfg.Workers)
	s.record(Event{Kind: EventStarted, Process: webName, Generation: n,
		Message: fmt.Sprintf("web generation %d started (pid %d, %s %s on %s)", n, c.pid, server, app, sock)})
	return g, nil
}

// promote makes gen the serving generation and retires the previous one.
func (s *Supervisor) promote(gen *generation, kind DeployKind, rep *DeployReport) {
	s.mu.Lock()
	old := s.web.current
	gen.readyAt = time.Now()
	s.web.current = gen
	s.web.state, s.web.err, s.web.retryAt = StateRunning, "", time.Time{}
	if kind != KindCrashRestart && kind != KindMemoryLimit {
		s.web.backoff.reset()
	}
	close(s.web.changed)
	s.web.changed = make(chan struct{})
	s.setUpstreamLocked(gen.addr)
	if old != nil {
		old.retiring = true
	}
	rep.OK, rep.Generation = true, gen.n
	if old != nil {
		rep.Replaced = old.n
	}
	s.mu.Unlock()

	took := time.Since(rep.Started).Round(time.Millisecond)
	s.log.Info("web ready", "gen", gen.n, "addr", gen.addr, "kind", kind, "took", took)
	s.record(Event{Kind: EventReady, Process: webName, Generation: gen.n,
		Message: fmt.Sprintf("web generation %d serves on %s (%s, %s)", gen.n, gen.addr, kind, took)})
	if kind != KindCrashRestart {
		msg := fmt.Sprintf("%s succeeded: generation %d serves", kind, gen.n)
		if old != nil {
			msg += fmt.Sprintf(", generation %d drains", old.n)
		}
		s.record(Event{Kind: EventDeploySucceeded, Process: webName, Generation: gen.n, Message: msg})
	}
	if old != nil {
		s.goTracked(func() { s.retire(s.runCtx, old) })
	}
	if kind == KindDeploy {
		s.restartExtras()
	}
}

// retire drains a replaced generation and stops it: it waits until the
// edge reports no request and no tunnel in flight to it, or until
// WebSocketGrace has passed, then stops it gracefully. On shutdown it
// leaves the stopping to shutdown.
func (s *Supervisor) retire(ctx context.Context, g *generation) {
	grace := time.NewTimer(s.cfg.WebSocketGrace)
	defer grace.Stop()
	tick := time.NewTicker(drainPoll)
	defer tick.Stop()
	start := time.Now()
drain:
	for {
		requests, tunnels := s.cfg.Edge.InFlight(g.addr)
		if requests == 0 && tunnels == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-g.child.done:
			break drain
		case <-grace.C:
			s.log.Warn("grace period over: stopping a draining generation", "gen", g.n,
				"requests", requests, "tunnels", tunnels, "grace", s.cfg.WebSocketGrace)
			break drain
		case <-tick.C:
		}
	}
	g.child.stop(s.cfg.StopTimeout)
	s.mu.Lock()
	s.forgetGenerationLocked(g)
	s.mu.Unlock()
	s.log.Info("web generation stopped", "gen", g.n, "drained_for", time.Since(start).Round(time.Millisecond), "exit", g.child.exit.String())
	s.record(Event{Kind: EventStopped, Process: webName, Generation: g.n,
		Message: fmt.Sprintf("web generation %d drained and stopped (%s)", g.n, g.child.exit)})
}

// failed finishes a report for an attempt that did not bring up a
// generation. If no generation is serving, the web slot goes to backoff
// (or fatal) and the next attempt is scheduled.
func (s *Supervisor) failed(rep *DeployReport, err error, exit *ExitInfo, mayBeFatal bool) (DeployReport, error) {
	rep.OK, rep.Error, rep.Exit = false, err.Error(), exit
	if errors.Is(err, context.Canceled) {
		return *rep, err
	}
	s.log.Error("could not bring up the web process", "kind", rep.Kind, "err", err)
	if rep.Kind != KindCrashRestart {
		s.record(Event{Kind: EventDeployFailed, Process: webName, Exit: exit, Output: stepOutput(err),
			Message: fmt.Sprintf("%s failed: %v", rep.Kind, err)})
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.web.current != nil && !s.web.current.child.exited() {
		return *rep, err // the running generation keeps serving
	}
	reason, fatal := "", false
	if mayBeFatal {
		if exit == nil {
			reason, fatal = err.Error(), true // cannot even start it
		} else {
			reason, fatal = isBootFailure(*exit, true)
		}
	}
	failure := Failure{Time: time.Now(), Reason: err.Error(), Exit: exit, Output: stepOutput(err)}
	if exit != nil {
		failure.Time = exit.Time
	}
	delay := s.web.backoff.failed(0, fatal)
	s.scheduleRetryLocked(failure, reason, fatal, delay)
	if !fatal {
		s.web.err = err.Error()
	}
	s.recordRetryLocked(0, exit, reason, fatal, delay)
	return *rep, err
}

// stepOutput returns a failed step's output lines, if err is a StepError.
func stepOutput(err error) []string {
	var se *StepError
	if errors.As(err, &se) {
		return se.Output
	}
	return nil
}

// finishReport stamps the report and keeps it for Status (crash restarts
// are shown as the web process's state instead).
func (s *Supervisor) finishReport(rep *DeployReport) {
	rep.Finished = time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deploy.phase = ""
	if rep.Kind != KindCrashRestart {
		r := *rep
		s.deploy.last = &r
	}
}

// setDeployPhase says what the operation under way is doing, for Status.
func (s *Supervisor) setDeployPhase(phase string) {
	s.mu.Lock()
	s.deploy.phase = phase
	s.mu.Unlock()
}

// acquire takes a one-slot semaphore; false if ctx ended first.
func acquire(ctx context.Context, sem chan struct{}) bool {
	select {
	case sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func release(sem chan struct{}) { <-sem }

// markReleased lets the extra processes start (once).
func (s *Supervisor) markReleased() {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.released:
	default:
		close(s.released)
	}
}
