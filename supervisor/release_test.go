package supervisor

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestFailingReleaseStepOnFirstStart: the project's own required release
// step fails on the first start. The site never loops: each attempt waits
// longer than the one before; Status says which step failed with its last
// output (no made-up exit); an optional step that fails is reported and
// skipped over; the step's timeout stops a hanging one; and once the step
// is switched off the site comes up.
func TestFailingReleaseStepOnFirstStart(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	cfg := testConfig(t, dir)
	cfg.MinBackoff, cfg.MaxBackoff = 200*time.Millisecond, 2*time.Second
	cfg.NoMigrate, cfg.NoCollectStatic = true, true
	cfg.Release = []ReleaseStep{
		{Name: "hangs", Command: []string{"python", "-c", "import time; print('hanging', flush=True); time.sleep(3600)"}, Timeout: time.Second, Optional: true},
		{Name: "translations", Command: []string{"python", "-c", "import sys; print('msgfmt: locale/fr/LC_MESSAGES/django.po:3: syntax error'); sys.exit(3)"}},
	}
	h := start(t, cfg)

	var st Status
	deadline := time.Now().Add(60 * time.Second)
	for {
		st = h.sup.Status()
		if len(h.events.find(EventRestartScheduled)) >= 3 && st.Web.State == StateBackoff && st.Web.LastFailure != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no three failed attempts in backoff: %+v", st.Web)
		}
		time.Sleep(50 * time.Millisecond)
	}
	f := st.Web.LastFailure
	if !strings.Contains(f.Reason, "release step translations failed") || !strings.Contains(strings.Join(f.Output, "\n"), "syntax error") || f.Exit != nil {
		t.Errorf("last failure = %+v, want the step, its output and no exit", f)
	}
	if st.Web.LastExit != nil {
		t.Errorf("last exit %+v for a process that never ran", st.Web.LastExit)
	}
	if h.edge.current() != "" {
		t.Errorf("the edge was given %q", h.edge.current())
	}
	// Backoff, not a loop: every scheduled delay is at least the previous one.
	delay := regexp.MustCompile(`restarts in ([0-9.]+m?s)`)
	var last time.Duration
	for i, e := range h.events.find(EventRestartScheduled) {
		m := delay.FindStringSubmatch(e.Message)
		if m == nil {
			t.Fatalf("event %q names no delay", e.Message)
		}
		d, _ := time.ParseDuration(m[1])
		if d < last || (i > 0 && d == last && d < cfg.MaxBackoff) {
			t.Errorf("delay %s after %s: the retries do not back off", d, last)
		}
		last = d
	}
	if st.LastDeploy == nil {
		t.Fatal("no report of the failed first start")
	}
	var hang *StepResult
	for i := range st.LastDeploy.Steps {
		if st.LastDeploy.Steps[i].Name == "hangs" {
			hang = &st.LastDeploy.Steps[i]
		}
	}
	if hang == nil || hang.OK || !hang.Optional || !strings.Contains(hang.Error, "timed out after 1s") {
		t.Errorf("the optional hanging step = %+v", hang)
	}

	// Switched off, the step no longer stops the site.
	h.stop()
	cfg.Release[1].Off = true
	h2 := start(t, cfg)
	h2.waitUpstream(60*time.Second, "")
	st = h2.sup.Status()
	if st.LastDeploy == nil || !st.LastDeploy.OK {
		t.Fatalf("last deploy = %+v", st.LastDeploy)
	}
	for _, s := range st.LastDeploy.Steps {
		if s.Name == "translations" && s.Skipped != "turned off" {
			t.Errorf("the switched-off step: %+v", s)
		}
	}
}
