package supervisor

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// TestKillMasterRestartsWithinBackoff kills the gunicorn master with
// SIGKILL: the edge is told at once that the app is gone (it serves 503
// meanwhile), the orphaned workers are cleaned up, and a new generation
// serves again after the first backoff delay (1 s) plus its boot time.
func TestKillMasterRestartsWithinBackoff(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	h := start(t, testConfig(t, copyProject(t)))
	first := h.waitUpstream(60*time.Second, "")
	st := h.sup.Status()
	master := st.Web.PID
	workers := descendants(master)
	if len(workers) != 2 {
		t.Fatalf("master %d has children %v, want 2 workers", master, workers)
	}

	killed := time.Now()
	if err := syscall.Kill(master, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 5*time.Second, "the edge to hear the app is gone", func() bool {
		for _, addr := range h.edgeHistory() {
			if addr == "" {
				return true
			}
		}
		return false
	})
	second := h.waitUpstream(15*time.Second, first)
	took := time.Since(killed)
	if took < time.Second {
		t.Errorf("restarted after %s: the first backoff delay is 1 s", took)
	}
	if took > 10*time.Second {
		t.Errorf("restarted after %s, want about 1 s + boot", took)
	}
	if status, body := h.get("/version/"); status != 200 || body != "version 1" {
		t.Errorf("after restart GET /version/ = %d %q", status, body)
	}
	for _, pid := range workers {
		if processAlive(pid) {
			t.Errorf("orphaned worker %d of the killed master is still alive", pid)
		}
	}

	st = h.sup.Status()
	if st.Web.State != StateRunning || st.Web.Restarts != 1 || st.Upstream != second {
		t.Errorf("status after restart: %+v", st.Web)
	}
	if st.Web.LastExit == nil || st.Web.LastExit.Signal != "SIGKILL" {
		t.Errorf("last exit = %+v, want killed by SIGKILL", st.Web.LastExit)
	}
	if evs := h.events.find(EventRestartScheduled); len(evs) != 1 || evs[0].Exit == nil || evs[0].Exit.Signal != "SIGKILL" {
		t.Errorf("restart events = %+v", evs)
	}
}

func (h *harness) edgeHistory() []string {
	h.edge.mu.Lock()
	defer h.edge.mu.Unlock()
	return append([]string(nil), h.edge.history...)
}

// TestImportErrorIsFatal starts a project whose WSGI module does not
// import: gunicorn gives up (exit code 3), the web process is FATAL with
// that code and the ModuleNotFoundError in its stderr tail, the edge never
// gets an upstream, and there is no hot restart loop.
func TestImportErrorIsFatal(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	writeFile(t, dir, "mysite/wsgi.py", "import a_module_that_does_not_exist\n")
	h := start(t, testConfig(t, dir))

	var st Status
	testkit.WaitFor(t, 60*time.Second, "the web process to be FATAL", func() bool {
		st = h.sup.Status()
		return st.Web.State == StateFatal
	})
	// gunicorn exits 3 ("Worker failed to boot"), or 1 when a second
	// worker's failure raises HaltServer again while it stops.
	if st.Web.LastExit == nil || (st.Web.LastExit.Code != gunicornWorkerBootError && st.Web.LastExit.Code != 1) {
		t.Fatalf("last exit = %+v, want gunicorn's exit code 3 (or 1)", st.Web.LastExit)
	}
	stderr := strings.Join(st.Web.LastExit.Stderr, "\n")
	if !strings.Contains(stderr, "ModuleNotFoundError: No module named 'a_module_that_does_not_exist'") {
		t.Errorf("stderr tail lacks the import error:\n%s", stderr)
	}
	if !strings.Contains(st.Web.Error, "exit code 3") && !strings.Contains(st.Web.Error, "ModuleNotFoundError") {
		t.Errorf("status error = %q, want the exit code or the import error", st.Web.Error)
	}
	if wait := time.Until(st.Web.NextRetry); wait < 50*time.Second {
		t.Errorf("next retry in %s, want the maximum backoff (60 s)", wait)
	}
	fatal := h.events.find(EventFatal)
	if len(fatal) != 1 || fatal[0].Exit == nil || fatal[0].Exit.Code != st.Web.LastExit.Code {
		t.Errorf("fatal events = %+v", fatal)
	}
	// No hot loop: nothing is started again in the next seconds.
	started := len(h.events.find(EventStarted))
	time.Sleep(2 * time.Second) // observing that nothing happens
	if again := len(h.events.find(EventStarted)); again != started {
		t.Errorf("%d more starts within 2 s of a FATAL boot failure", again-started)
	}
	if got := h.edgeHistory(); len(got) != 0 {
		t.Errorf("edge was given upstreams %q for an app that never booted", got)
	}
}

// TestCrashLoopBacksOff runs an app whose gunicorn master dies (exit code
// 7) a moment after it starts, every time: each crash is reported with its
// exit code and stderr tail, and the delay before the next attempt doubles.
// It also shows that the project's own gunicorn.conf.py is honoured.
func TestCrashLoopBacksOff(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	writeFile(t, dir, "gunicorn.conf.py", `import os, sys, threading


def when_ready(server):
    def crash():
        print("crash-loop: the master gives up", file=sys.stderr, flush=True)
        os._exit(7)
    threading.Timer(1.5, crash).start()
`)
	cfg := testConfig(t, dir)
	cfg.MinBackoff = 200 * time.Millisecond
	h := start(t, cfg)

	type backoffSeen struct {
		exitAt time.Time
		delay  time.Duration
	}
	var seen []backoffSeen
	testkit.WaitFor(t, 60*time.Second, "three crashes in a row", func() bool {
		st := h.sup.Status()
		if (st.Web.State == StateBackoff || st.Web.State == StateFatal) && st.Web.LastExit != nil &&
			(len(seen) == 0 || !seen[len(seen)-1].exitAt.Equal(st.Web.LastExit.Time)) {
			if st.Web.State == StateFatal || st.Web.LastExit.Code != 7 {
				t.Fatalf("crash = %s (%s), want backoff after exit code 7", st.Web.State, st.Web.LastExit)
			}
			seen = append(seen, backoffSeen{st.Web.LastExit.Time, st.Web.NextRetry.Sub(st.Web.LastExit.Time)})
		}
		return len(seen) >= 3
	})
	for i, want := range []time.Duration{200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond} {
		if d := seen[i].delay; d < want || d > want+200*time.Millisecond {
			t.Errorf("delay after crash %d = %s, want %s", i+1, d, want)
		}
	}
	evs := h.events.find(EventRestartScheduled)
	if len(evs) < 3 {
		t.Fatalf("restart events = %+v", evs)
	}
	if e := evs[0]; e.Exit == nil || e.Exit.Code != 7 || !strings.Contains(strings.Join(e.Exit.Stderr, "\n"), "crash-loop: the master gives up") {
		t.Errorf("first crash report = %+v", e.Exit)
	}
	if st := h.sup.Status(); st.Web.Restarts < 2 {
		t.Errorf("restarts = %d", st.Web.Restarts)
	}
}
