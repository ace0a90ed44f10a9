package supervisor

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"
)

// State is the state of a supervised process.
type State string

const (
	StateStarting State = "starting" // release steps or boot under way, not serving yet
	StateRunning  State = "running"  // serving (web: answered HTTP and receives traffic)
	StateBackoff  State = "backoff"  // crashed; restarts at NextRetry
	StateFatal    State = "fatal"    // cannot boot (exit code 3/4, import error): retried only at MaxBackoff and on deploy
	StateStopped  State = "stopped"  // not running, on purpose
	StateDraining State = "draining" // a replaced web generation finishing its requests and WebSocket tunnels
)

// webState is the web process's slot. Guarded by Supervisor.mu.
type webState struct {
	current  *generation // serving generation, nil when none
	state    State
	restarts int // restart attempts after crashes
	lastExit *ExitInfo
	// lastFailure is the last crash or failed start, whatever it was.
	lastFailure *Failure
	err         string    // why it is in backoff or fatal
	retryAt     time.Time // next restart attempt in backoff or fatal
	backoff     backoff
	upstream    string        // what the edge was last told
	changed     chan struct{} // closed and replaced whenever current changes
}

// superviseWeb brings the web process up (release steps included) and
// keeps it up: it restarts a crashed generation after the backoff delay.
// Deploys replace generations concurrently; this loop just follows them.
func (s *Supervisor) superviseWeb(ctx context.Context) {
	// First start: release steps and boot, retried until it works.
	for attempt := 0; !s.hasLiveCurrent(); attempt++ {
		if attempt > 0 {
			s.mu.Lock()
			s.web.restarts++
			s.mu.Unlock()
		}
		if _, err := s.replace(ctx, KindInitial); err == nil || ctx.Err() != nil {
			break
		}
		if !s.waitRetry(ctx) {
			return
		}
	}
	for {
		s.mu.Lock()
		gen, changed := s.web.current, s.web.changed
		s.mu.Unlock()
		if gen != nil {
			select {
			case <-ctx.Done():
				return
			case <-changed:
				continue // a deploy switched generations
			case <-gen.child.done:
				if !s.webCrashed(gen) {
					continue
				}
			}
		}
		// No serving generation: restart after the backoff delay, until
		// one serves (ours or a deploy's).
		for !s.hasLiveCurrent() {
			if !s.waitRetry(ctx) {
				return
			}
			if _, err := s.replace(ctx, KindCrashRestart); ctx.Err() != nil {
				return
			} else if err == nil {
				break
			}
		}
	}
}

// hasLiveCurrent reports whether a generation is serving.
func (s *Supervisor) hasLiveCurrent() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.web.current != nil && !s.web.current.child.exited()
}

// waitRetry waits until the scheduled retry time, or until a deploy
// switched generations. It returns false when ctx is done.
func (s *Supervisor) waitRetry(ctx context.Context) bool {
	s.mu.Lock()
	at, changed := s.web.retryAt, s.web.changed
	s.mu.Unlock()
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
	case <-changed:
	}
	return true
}

// webCrashed handles the exit of gen. If gen was still the serving
// generation it is a crash: the edge is told the app is gone, the exit is
// reported and the next attempt scheduled; it returns true. It returns
// false when gen had been replaced or the site is stopping.
func (s *Supervisor) webCrashed(gen *generation) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.web.current != gen || s.stopping {
		return false
	}
	exit := gen.child.exit
	s.web.current = nil
	s.setUpstreamLocked("")
	s.forgetGenerationLocked(gen)
	healthy := time.Duration(0)
	if !gen.readyAt.IsZero() {
		healthy = exit.Time.Sub(gen.readyAt)
	}
	reason, fatal := isBootFailure(exit, healthy < s.cfg.HealthyAfter)
	delay := s.web.backoff.failed(healthy, fatal)
	failure := Failure{Time: exit.Time, Exit: &exit,
		Reason: fmt.Sprintf("web generation %d exited (%s) after %s", gen.n, exit, exit.Ran.Round(time.Millisecond))}
	if reason != "" {
		failure.Reason += ": " + reason
	}
	s.scheduleRetryLocked(failure, reason, fatal, delay)
	s.log.Error("web crashed", "gen", gen.n, "exit", exit.String(), "ran", exit.Ran.Round(time.Millisecond),
		"restart_in", delay, "fatal", fatal, "stderr_tail", strings.Join(lastN(exit.Stderr, 5), " | "))
	s.record(Event{Kind: EventExited, Process: webName, Generation: gen.n, Exit: &exit,
		Message: fmt.Sprintf("web generation %d exited (%s) after %s", gen.n, exit, exit.Ran.Round(time.Millisecond))})
	s.recordRetryLocked(gen.n, &exit, reason, fatal, delay)
	return true
}

// scheduleRetryLocked puts the web slot in backoff (or fatal) until delay
// from now.
func (s *Supervisor) scheduleRetryLocked(f Failure, reason string, fatal bool, delay time.Duration) {
	if f.Exit != nil {
		s.web.lastExit = f.Exit
	}
	s.web.lastFailure = &f
	s.web.retryAt = time.Now().Add(delay)
	s.web.state = StateBackoff
	s.web.err = f.Reason
	if fatal {
		s.web.state = StateFatal
		s.web.err = reason
	}
}

// recordRetryLocked reports a scheduled restart or a FATAL state.
func (s *Supervisor) recordRetryLocked(gen int, exit *ExitInfo, reason string, fatal bool, delay time.Duration) {
	if fatal {
		s.record(Event{Kind: EventFatal, Process: webName, Generation: gen, Exit: exit,
			Message: fmt.Sprintf("web cannot boot (%s); next attempt in %s or on deploy", reason, delay)})
		return
	}
	s.record(Event{Kind: EventRestartScheduled, Process: webName, Generation: gen, Exit: exit,
		Message: fmt.Sprintf("web restarts in %s (%d consecutive failures)", delay, s.web.backoff.failures)})
}

// setUpstreamLocked tells the edge where the app is. Called with mu held so
// that the edge hears about switches in the order they happen.
func (s *Supervisor) setUpstreamLocked(addr string) {
	if s.web.upstream == addr {
		return
	}
	s.web.upstream = addr
	s.cfg.Edge.SetAppUpstream(addr)
}

// adoptGeneration registers a started generation, unless the site is
// stopping: then it returns false and the caller must stop it.
func (s *Supervisor) adoptGeneration(g *generation) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return false
	}
	s.gens[g.n] = g
	return true
}

// forgetGenerationLocked drops an exited generation and its socket file.
func (s *Supervisor) forgetGenerationLocked(g *generation) {
	delete(s.gens, g.n)
	_ = os.Remove(g.sock)
}

func lastN(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}
