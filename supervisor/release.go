package supervisor

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Release step names, as they appear in reports and events.
const (
	StepInspect       = "inspect"
	StepWaitPostgres  = "wait-postgres"
	StepMigrate       = "migrate"
	StepCollectStatic = "collectstatic"
)

// stepOutputLines is how many of a step's last output lines a report keeps.
const stepOutputLines = 40

// StepResult is the outcome of one release step.
type StepResult struct {
	Name     string        `json:"name"`
	OK       bool          `json:"ok"`
	Skipped  string        `json:"skipped,omitempty"` // why the step did not run
	Duration time.Duration `json:"duration"`
	Error    string        `json:"error,omitempty"`
	Output   []string      `json:"output,omitempty"` // last lines of its output
}

// StepError is returned when a release step fails.
type StepError struct {
	Step   string
	Err    error
	Output []string // the step's last output lines
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("release step %s failed: %v", e.Step, e.Err)
	if n := len(e.Output); n > 0 {
		msg += ": " + e.Output[n-1]
	}
	return msg
}

func (e *StepError) Unwrap() error { return e.Err }

// runRelease runs the release steps in order: inspect the settings, wait
// for PostgreSQL (when the project uses it), migrate, collectstatic. It
// stops at the first failure. It blocks for as long as the steps take:
// each migrate/collectstatic up to StepTimeout, the wait for PostgreSQL up
// to PostgresWaitTimeout.
func (s *Supervisor) runRelease(ctx context.Context, rep *DeployReport) (*Project, error) {
	var project *Project
	steps := []struct {
		name string
		skip func() string
		run  func(context.Context) ([]string, error)
	}{
		{StepInspect, nil, func(ctx context.Context) ([]string, error) {
			p, err := s.inspect(ctx)
			project = p
			return nil, err
		}},
		{StepWaitPostgres, func() string {
			if s.cfg.NoWaitPostgres {
				return "turned off"
			}
			if len(project.Postgres()) == 0 {
				return "the project does not use PostgreSQL"
			}
			return ""
		}, func(ctx context.Context) ([]string, error) {
			return nil, s.pg.waitUp(ctx, s.cfg.PostgresWaitTimeout)
		}},
		{StepMigrate, func() string {
			if s.cfg.NoMigrate {
				return "turned off"
			}
			return ""
		}, func(ctx context.Context) ([]string, error) {
			return s.runManage(ctx, StepMigrate, "migrate", "--noinput")
		}},
		{StepCollectStatic, func() string {
			switch {
			case s.cfg.NoCollectStatic:
				return "turned off"
			case !project.HasStaticfiles:
				return "django.contrib.staticfiles is not installed"
			case project.StaticRoot == "":
				return "STATIC_ROOT is not set"
			}
			return ""
		}, func(ctx context.Context) ([]string, error) {
			return s.runManage(ctx, StepCollectStatic, "collectstatic", "--noinput")
		}},
	}
	for _, step := range steps {
		res := StepResult{Name: step.name}
		if step.skip != nil {
			res.Skipped = step.skip()
		}
		if res.Skipped != "" {
			res.OK = true
			rep.Steps = append(rep.Steps, res)
			continue
		}
		s.setDeployPhase("release step " + step.name)
		start := time.Now()
		output, err := step.run(ctx)
		res.Duration = time.Since(start)
		res.Output = output
		if err != nil {
			res.Error = err.Error()
			rep.Steps = append(rep.Steps, res)
			serr := &StepError{Step: step.name, Err: err, Output: output}
			s.log.Error("release step failed", "step", step.name, "err", err, "took", res.Duration.Round(time.Millisecond))
			s.record(Event{Kind: EventStepFailed, Process: "release", Message: serr.Error(), Output: output})
			return project, serr
		}
		res.OK = true
		rep.Steps = append(rep.Steps, res)
		s.log.Info("release step done", "step", step.name, "took", res.Duration.Round(time.Millisecond))
	}
	return project, nil
}

// inspect reads the project's settings and remembers them: the PostgreSQL
// health check follows the DATABASES it finds.
func (s *Supervisor) inspect(ctx context.Context) (*Project, error) {
	p, err := Inspect(ctx, s.cfg.ProjectDir, InspectOptions{
		Python: s.cfg.Python, EnvFile: s.cfg.EnvFile, Env: s.cfg.Env, Timeout: s.cfg.StepTimeout,
	})
	if err != nil {
		return nil, err
	}
	for _, prob := range p.Problems {
		if prob.Code == ProblemSettingsFailed || prob.Code == ProblemDjangoMissing {
			return nil, errors.New(prob.Message)
		}
	}
	s.mu.Lock()
	s.project = p
	s.mu.Unlock()
	s.pg.setDatabases(p.Postgres())
	return p, nil
}

// runManage runs `python manage.py ARGS...` as a supervised child (own
// process group, parent-death signal, output logged as "release:NAME") and
// returns its last output lines. It blocks until the command ends, ctx is
// done or StepTimeout passes; in the last two cases the command is stopped.
func (s *Supervisor) runManage(ctx context.Context, name string, args ...string) ([]string, error) {
	env, err := s.cfg.childEnv()
	if err != nil {
		return nil, err
	}
	out := &lockedBuffer{}
	spec := childSpec{
		name:   "release:" + name,
		argv:   append([]string{s.cfg.Python, filepath.Join(s.cfg.ProjectDir, "manage.py")}, args...),
		dir:    s.cfg.ProjectDir,
		env:    env,
		stdout: out,
	}
	c, err := startChild(s.launch, s.log, spec, s.cfg.StderrLines)
	if err != nil {
		return nil, err
	}
	timer := time.NewTimer(s.cfg.StepTimeout)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-ctx.Done():
		c.stop(s.cfg.StopTimeout)
		return tailLines(out.String(), stepOutputLines), ctx.Err()
	case <-timer.C:
		c.stop(s.cfg.StopTimeout)
		return tailLines(out.String(), stepOutputLines), fmt.Errorf("timed out after %s", s.cfg.StepTimeout)
	}
	output := tailLines(out.String(), stepOutputLines)
	if c.exit.Code != 0 || c.exit.Signal != "" {
		return output, fmt.Errorf("manage.py %s: %s", strings.Join(args, " "), c.exit)
	}
	return output, nil
}

// tailLines returns the last n non-empty-terminated lines of s.
func tailLines(s string, n int) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines
}
