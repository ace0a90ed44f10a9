package supervisor

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// TestExtraProcess runs an extra named process with the project's
// interpreter and environment: its output is logged under its name, a
// crash is restarted after the backoff, a broken command is FATAL, and a
// deploy restarts it so it runs the new code.
func TestExtraProcess(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	writeFile(t, dir, ".env", "# the project's environment\nMYSITE_GREETING='hello from .env'\n")
	cfg := testConfig(t, dir)
	cfg.Processes = []ProcessSpec{
		{Name: "ticker", Command: []string{"python", "-c", tickerScript}},
		{Name: "greeter", Command: []string{"python", "-c", "import os, time; print(os.environ['MYSITE_GREETING'], os.environ['EXTRA'], flush=True); time.sleep(3600)"}, Env: []string{"EXTRA=per-process"}},
		{Name: "broken", Command: []string{"python", "-c", "import a_module_that_does_not_exist"}},
	}
	h := start(t, cfg)
	h.waitUpstream(60*time.Second, "")

	var st Status
	testkit.WaitFor(t, 30*time.Second, "ticker and greeter to run and broken to be FATAL", func() bool {
		st = h.sup.Status()
		return st.Processes[0].State == StateRunning && st.Processes[1].State == StateRunning && st.Processes[2].State == StateFatal
	})
	testkit.WaitFor(t, 10*time.Second, "the extra processes' output in the log", func() bool {
		logs := h.logs.String()
		return strings.Contains(logs, `msg="ticker up`) && strings.Contains(logs, "proc=ticker") &&
			strings.Contains(logs, `msg="hello from .env per-process"`)
	})
	if e := st.Processes[2]; e.LastExit == nil || e.LastExit.Code != 1 || !strings.Contains(e.Error, "ModuleNotFoundError") {
		t.Errorf("broken process status = %+v", e)
	}

	// A crash is restarted after the first backoff delay.
	tickerPID := st.Processes[0].PID
	if err := syscall.Kill(tickerPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "ticker to be restarted", func() bool {
		st = h.sup.Status()
		return st.Processes[0].State == StateRunning && st.Processes[0].PID != tickerPID
	})
	if p := st.Processes[0]; p.Restarts != 1 || p.LastExit == nil || p.LastExit.Signal != "SIGKILL" {
		t.Errorf("ticker after the crash = %+v", p)
	}

	// A deploy restarts it.
	tickerPID = st.Processes[0].PID
	if _, err := h.sup.Deploy(context.Background()); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 15*time.Second, "ticker to be restarted by the deploy", func() bool {
		st = h.sup.Status()
		return st.Processes[0].State == StateRunning && st.Processes[0].PID != tickerPID
	})
	if st.Processes[0].Restarts != 1 {
		t.Errorf("a deploy's restart counted as a crash: %+v", st.Processes[0])
	}
	if processAlive(tickerPID) {
		t.Errorf("the old ticker %d is still alive", tickerPID)
	}
}

// TestMemoryLimitReplacesGeneration sets an RSS limit every generation
// passes: the web generation is replaced blue/green, again and again, and
// requests meanwhile never fail. CPU and RSS figures are sampled.
func TestMemoryLimitReplacesGeneration(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	cfg := testConfig(t, copyProject(t))
	cfg.RSSLimit = 1 << 20 // 1 MiB: any Python process is larger
	cfg.SampleInterval = 300 * time.Millisecond
	cfg.HealthyAfter = 500 * time.Millisecond // the spacing of memory-limit restarts
	h := start(t, cfg)
	h.waitUpstream(60*time.Second, "")

	stop := make(chan struct{})
	results, _ := runLoad(h, 2, stop)
	testkit.WaitFor(t, 60*time.Second, "two memory-limit replacements", func() bool {
		return h.sup.Status().Web.Generation >= 3
	})
	close(stop)
	for _, r := range results() {
		if r.err != nil || r.status != 200 {
			t.Fatalf("%s failed during memory-limit restarts: %d %v", r.path, r.status, r.err)
		}
	}
	evs := h.events.find(EventMemoryLimit)
	if len(evs) < 2 {
		t.Errorf("memory-limit events = %+v", evs)
	}
	st := h.sup.Status()
	if st.LastDeploy == nil || st.LastDeploy.Kind != KindMemoryLimit {
		t.Errorf("last deploy = %+v", st.LastDeploy)
	}
	testkit.WaitFor(t, 10*time.Second, "a sample of the serving generation", func() bool {
		st = h.sup.Status()
		return st.Web.RSSBytes > 0
	})
	if st.Web.RSSBytes < 10<<20 || st.Web.Processes < 2 || st.Web.CPUSeconds <= 0 {
		t.Errorf("sampled web usage: rss %d, processes %d, cpu %.2fs; want a master and its workers, > 10 MiB, some CPU",
			st.Web.RSSBytes, st.Web.Processes, st.Web.CPUSeconds)
	}
}
