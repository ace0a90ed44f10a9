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
	StepInspect        = "inspect"
	StepWaitPostgres   = "wait-postgres"
	StepMigrate        = "migrate"
	StepCollectStatic  = "collectstatic"
	StepCompressStatic = "compress-static"
)

// ReleaseStep is one of the project's own release steps ([[app.release]]):
// `manage.py compress` for django-compressor's offline mode, say, or
// `manage.py compilemessages`.
type ReleaseStep struct {
	// Name tags the step in reports, logs and events: lowercase letters,
	// digits, '-' and '_'; the built-in steps' names are taken.
	Name string
	// Command is the argv. A first word of "manage" runs a management
	// command (manage.py, or `python -m django` with the settings for a
	// project without one); "python" means the project's interpreter.
	Command []string
	// Timeout bounds the step. Default: Config.StepTimeout.
	Timeout time.Duration
	// Optional lets the release go on when the step fails (the failure is
	// reported and logged).
	Optional bool
	// Off keeps the step in the configuration without running it.
	Off bool
	// Env holds extra KEY=VALUE pairs for this step only.
	Env []string
}

// stepOutputLines is how many of a step's last output lines a report keeps.
const stepOutputLines = 40

// StepResult is the outcome of one release step.
type StepResult struct {
	Name     string        `json:"name"`
	OK       bool          `json:"ok"`
	Optional bool          `json:"optional,omitempty"` // a failure does not stop the release
	Skipped  string        `json:"skipped,omitempty"`  // why the step did not run
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

// releaseStep is one step of a release, built-in or the project's.
type releaseStep struct {
	name     string
	optional bool
	skip     func() string
	run      func(context.Context) ([]string, error)
}

// runRelease runs the release steps in order: inspect the settings, wait
// for PostgreSQL (when the project uses it), migrate, collectstatic, the
// project's own steps, then compress the static files. It stops at the
// first failure of a required step. It blocks for as long as the steps
// take: each command up to its timeout, the wait for PostgreSQL up to
// PostgresWaitTimeout.
func (s *Supervisor) runRelease(ctx context.Context, rep *DeployReport) (*Project, error) {
	var project *Project
	steps := []releaseStep{
		{name: StepInspect, run: func(ctx context.Context) ([]string, error) {
			p, err := s.inspect(ctx)
			project = p
			return nil, err
		}},
		{name: StepWaitPostgres, skip: func() string {
			if s.cfg.NoWaitPostgres {
				return "turned off"
			}
			if len(project.Postgres()) == 0 {
				return "the project does not use PostgreSQL"
			}
			return ""
		}, run: func(ctx context.Context) ([]string, error) {
			return nil, s.pg.waitUp(ctx, s.cfg.PostgresWaitTimeout)
		}},
		{name: StepMigrate, skip: func() string {
			if s.cfg.NoMigrate {
				return "turned off"
			}
			return ""
		}, run: func(ctx context.Context) ([]string, error) {
			return s.runCommand(ctx, StepMigrate, []string{"manage", "migrate", "--noinput"}, s.cfg.StepTimeout, nil, project)
		}},
		{name: StepCollectStatic, skip: func() string {
			switch {
			case s.cfg.NoCollectStatic:
				return "turned off"
			case !project.HasStaticfiles:
				return "django.contrib.staticfiles is not installed"
			case project.StaticRoot == "":
				return "STATIC_ROOT is not set"
			}
			return ""
		}, run: func(ctx context.Context) ([]string, error) {
			return s.runCommand(ctx, StepCollectStatic, []string{"manage", "collectstatic", "--noinput"}, s.cfg.StepTimeout, nil, project)
		}},
	}
	for _, r := range s.cfg.Release {
		steps = append(steps, releaseStep{name: r.Name, optional: r.Optional, skip: func() string {
			if r.Off {
				return "turned off"
			}
			return ""
		}, run: func(ctx context.Context) ([]string, error) {
			return s.runCommand(ctx, r.Name, r.Command, r.Timeout, r.Env, project)
		}})
	}
	steps = append(steps, releaseStep{name: StepCompressStatic, optional: true, skip: func() string {
		switch {
		case s.cfg.NoCompressStatic:
			return "turned off"
		case project.StaticRoot == "":
			return "STATIC_ROOT is not set"
		}
		return ""
	}, run: func(ctx context.Context) ([]string, error) {
		return s.compressStatic(ctx, project.StaticRoot)
	}})
	for _, step := range steps {
		res := StepResult{Name: step.name, Optional: step.optional}
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
			msg := "release step failed"
			if step.optional && ctx.Err() == nil {
				msg = "optional release step failed; the release goes on"
			}
			s.log.Error(withOutput(msg, output), "step", step.name, "err", err, "took", res.Duration.Round(time.Millisecond))
			s.record(Event{Kind: EventStepFailed, Process: "release", Message: serr.Error(), Output: output})
			if step.optional && ctx.Err() == nil {
				continue
			}
			return project, serr
		}
		res.OK = true
		rep.Steps = append(rep.Steps, res)
		s.log.Info("release step done", "step", step.name, "took", res.Duration.Round(time.Millisecond))
	}
	return project, nil
}

// withOutput appends a step's last output lines to a log message: one
// journal entry, however many lines.
func withOutput(msg string, output []string) string {
	if len(output) == 0 {
		return msg
	}
	return msg + "; its last output:\n" + strings.Join(output, "\n")
}

// inspect reads the project's settings and remembers them: the PostgreSQL
// health check follows the DATABASES it finds.
func (s *Supervisor) inspect(ctx context.Context) (*Project, error) {
	p, err := Inspect(ctx, s.cfg.ProjectDir, InspectOptions{
		Python: s.cfg.Python, EnvFile: s.cfg.EnvFile, Env: s.cfg.Env, Timeout: s.cfg.StepTimeout,
		Settings: s.cfg.Settings, PythonPath: s.cfg.PythonPath, App: s.cfg.App, Account: s.account,
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

// command resolves a configured argv: a first word of "python" is the
// project's interpreter, "manage" a management command (manage.py, or
// `python -m django` with the settings for a project without one).
func (s *Supervisor) command(argv []string) []string {
	switch argv[0] {
	case "python":
		return append([]string{s.cfg.Python}, argv[1:]...)
	case "manage":
		if fileExists(filepath.Join(s.cfg.ProjectDir, "manage.py")) {
			return append([]string{s.cfg.Python, filepath.Join(s.cfg.ProjectDir, "manage.py")}, argv[1:]...)
		}
		return append([]string{s.cfg.Python, "-m", "django"}, argv[1:]...)
	}
	return argv
}

// env is a child's environment: frontdoor's own, the env file, [app]
// env, extra, then what the inspection found (the settings module).
func (s *Supervisor) env(p *Project, extra ...string) ([]string, error) {
	env, err := s.cfg.childEnv(extra...)
	if err != nil {
		return nil, err
	}
	return withProjectEnv(env, p), nil
}

// runCommand runs a release step's command as a supervised child (own
// process group, parent-death signal, output logged as "release:NAME")
// and returns its last output lines. It blocks until the command ends,
// ctx is done or timeout passes; in the last two cases the command is
// stopped.
func (s *Supervisor) runCommand(ctx context.Context, name string, argv []string, timeout time.Duration, extraEnv []string, p *Project) ([]string, error) {
	env, err := s.env(p, extraEnv...)
	if err != nil {
		return nil, err
	}
	out := &lockedBuffer{}
	spec := childSpec{
		name:    "release:" + name,
		argv:    s.command(argv),
		dir:     s.cfg.ProjectDir,
		env:     env,
		stdout:  out,
		account: s.account,
	}
	c, err := startChild(s.launch, s.log, spec, s.cfg.StderrLines)
	if err != nil {
		return nil, err
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-ctx.Done():
		c.stop(s.cfg.StopTimeout)
		return tailLines(out.String(), stepOutputLines), ctx.Err()
	case <-timer.C:
		c.stop(s.cfg.StopTimeout)
		return tailLines(out.String(), stepOutputLines), fmt.Errorf("timed out after %s", timeout)
	}
	output := tailLines(out.String(), stepOutputLines)
	if c.exit.Code != 0 || c.exit.Signal != "" {
		return output, fmt.Errorf("%s: %s", strings.Join(argv, " "), c.exit)
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
