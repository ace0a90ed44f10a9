package supervisor

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// extraProc is the slot of one extra process (ProcessSpec). Fields after
// spec are guarded by Supervisor.mu.
type extraProc struct {
	spec ProcessSpec
	wake chan struct{} // cuts a backoff wait short (a deploy asks for a restart)

	child      *child
	state      State
	restarts   int
	lastExit   *ExitInfo
	lastFail   *Failure
	err        string
	retryAt    time.Time
	backoff    backoff
	restartReq bool // the running child is being stopped to be started again
	usage      usage
}

// superviseExtra starts e once the first release steps have succeeded and
// keeps it running: a crash is restarted after the backoff delay, a boot
// failure waits MaxBackoff (FATAL), a restart request starts it again at once.
func (s *Supervisor) superviseExtra(ctx context.Context, e *extraProc) {
	select {
	case <-ctx.Done():
		return
	case <-s.released:
	}
	for {
		c, err := s.startExtra(e)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			s.mu.Lock()
			delay := e.backoff.failed(0, true)
			e.state, e.err, e.retryAt = StateFatal, err.Error(), time.Now().Add(delay)
			e.lastFail = &Failure{Time: time.Now(), Reason: fmt.Sprintf("%s cannot start: %v", e.spec.Name, err)}
			s.mu.Unlock()
			s.log.Error("extra process cannot start", "proc", e.spec.Name, "err", err, "retry_in", delay)
			s.record(Event{Kind: EventFatal, Process: e.spec.Name, Message: fmt.Sprintf("%s cannot start: %v; next attempt in %s", e.spec.Name, err, delay)})
		} else {
			select {
			case <-ctx.Done():
				return // shutdown stops the child
			case <-c.done:
			}
			if !s.extraExited(e, c) {
				continue // restart requested: start again at once
			}
		}
		s.mu.Lock()
		wait := time.Until(e.retryAt)
		s.mu.Unlock()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-e.wake:
			t.Stop()
		}
	}
}

// startExtra starts e's command with the project's environment.
func (s *Supervisor) startExtra(e *extraProc) (*child, error) {
	s.mu.Lock()
	project := s.project
	s.mu.Unlock()
	env, err := s.env(project, e.spec.Env...)
	if err != nil {
		return nil, err
	}
	argv := s.command(e.spec.Command)
	c, err := startChild(s.launch, s.log, childSpec{name: e.spec.Name, argv: argv, dir: s.cfg.ProjectDir, env: env, account: s.account}, s.cfg.StderrLines)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		c.stop(s.cfg.StopTimeout)
		return nil, ErrNotRunning
	}
	e.child, e.state, e.err, e.retryAt, e.restartReq = c, StateRunning, "", time.Time{}, false
	s.mu.Unlock()
	s.log.Info("process started", "proc", e.spec.Name, "pid", c.pid, "command", strings.Join(argv, " "))
	s.record(Event{Kind: EventStarted, Process: e.spec.Name, Message: fmt.Sprintf("%s started (pid %d)", e.spec.Name, c.pid)})
	return c, nil
}

// extraExited handles the exit of e's child c. It returns false when the
// exit was asked for (restart after a deploy), true when it was a crash and
// a retry has been scheduled.
func (s *Supervisor) extraExited(e *extraProc, c *child) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exit := c.exit
	e.lastExit = &exit
	if e.restartReq || s.stopping {
		e.restartReq = false
		s.record(Event{Kind: EventStopped, Process: e.spec.Name, Exit: &exit, Message: fmt.Sprintf("%s stopped for a restart (%s)", e.spec.Name, exit)})
		return false
	}
	e.restarts++
	reason, fatal := isBootFailure(exit, exit.Ran < s.cfg.HealthyAfter)
	delay := e.backoff.failed(exit.Ran, fatal)
	e.retryAt = time.Now().Add(delay)
	e.state, e.err = StateBackoff, exit.String()
	e.lastFail = &Failure{Time: exit.Time, Exit: &exit, Reason: fmt.Sprintf("%s exited (%s) after %s", e.spec.Name, exit, exit.Ran.Round(time.Millisecond))}
	kind, msg := EventRestartScheduled, fmt.Sprintf("%s exited (%s); restart in %s", e.spec.Name, exit, delay)
	if fatal {
		e.state, e.err = StateFatal, reason
		e.lastFail.Reason += ": " + reason
		kind, msg = EventFatal, fmt.Sprintf("%s cannot boot (%s); next attempt in %s or on deploy", e.spec.Name, reason, delay)
	}
	s.log.Error("process exited", "proc", e.spec.Name, "exit", exit.String(), "restart_in", delay, "fatal", fatal,
		"stderr_tail", strings.Join(lastN(exit.Stderr, 5), " | "))
	s.record(Event{Kind: EventExited, Process: e.spec.Name, Exit: &exit, Message: fmt.Sprintf("%s exited (%s) after %s", e.spec.Name, exit, exit.Ran.Round(time.Millisecond))})
	s.record(Event{Kind: kind, Process: e.spec.Name, Exit: &exit, Message: msg})
	return true
}

// restartExtras stops every extra process so that its supervisor starts it
// again with the new code; one waiting in backoff or fatal is woken.
func (s *Supervisor) restartExtras() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.extras {
		e.backoff.reset()
		if c := e.child; c != nil && !c.exited() {
			e.restartReq = true
			e.state = StateStarting
			s.goTracked(func() { c.stop(s.cfg.StopTimeout) })
			continue
		}
		select {
		case e.wake <- struct{}{}:
		default:
		}
	}
}
