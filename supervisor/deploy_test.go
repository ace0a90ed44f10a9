package supervisor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// loadResult is one request of a load loop.
type loadResult struct {
	began  time.Time
	path   string
	status int
	body   string
	err    error
}

// runLoad sends requests through the edge from n goroutines until stop is
// closed, alternating GET /version/ and a 64 KiB POST /echo/ whose digest
// the app must echo back. It returns a function that waits for the loops
// and returns every result.
func runLoad(h *harness, n int, stop <-chan struct{}) (results func() []loadResult, count func() int) {
	var mu sync.Mutex
	var all []loadResult
	var wg sync.WaitGroup
	payload := bytes.Repeat([]byte("frontdoor-"), 6554)
	sum := sha256.Sum256(payload)
	wantSum := hex.EncodeToString(sum[:])
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				r := loadResult{began: time.Now(), path: "/version/"}
				if (i+j)%2 == 1 {
					r.path = "/echo/"
					r.status, r.body, _, r.err = h.edge.do("POST", "/echo/", payload)
					if r.err == nil && r.status == 200 {
						var echo struct {
							BodySHA256 string `json:"body_sha256"`
						}
						if err := json.Unmarshal([]byte(r.body), &echo); err != nil || echo.BodySHA256 != wantSum {
							r.err = fmt.Errorf("echo digest %q (err %v), want %s", echo.BodySHA256, err, wantSum)
						}
					}
				} else {
					r.status, r.body, _, r.err = h.edge.do("GET", "/version/", nil)
				}
				mu.Lock()
				all = append(all, r)
				mu.Unlock()
			}
		}()
	}
	return func() []loadResult {
			wg.Wait()
			return all
		}, func() int {
			mu.Lock()
			defer mu.Unlock()
			return len(all)
		}
}

// TestDeployHasNoFailedRequest deploys a change of /version/'s text under
// a steady request load: no request fails, every request begun after
// Deploy returned sees the new text, and the old generation is drained
// and stopped.
func TestDeployHasNoFailedRequest(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	h := start(t, testConfig(t, dir))
	first := h.waitUpstream(60*time.Second, "")
	oldPID := h.sup.Status().Web.PID

	stop := make(chan struct{})
	results, count := runLoad(h, 4, stop)
	testkit.WaitFor(t, 30*time.Second, "requests before the deploy", func() bool { return count() >= 40 })

	writeFile(t, dir, "mysite/version.py", "MESSAGE = \"version 2\"\n")
	rep, err := h.sup.Deploy(context.Background())
	deployed := time.Now()
	if err != nil {
		close(stop)
		results()
		t.Fatalf("Deploy: %v (report %+v)", err, rep)
	}
	if rep.Finished.IsZero() || rep.Finished.Before(rep.Started) {
		t.Errorf("the returned report is not stamped: started %v, finished %v", rep.Started, rep.Finished)
	}
	before := count()
	testkit.WaitFor(t, 30*time.Second, "requests after the deploy", func() bool { return count() >= before+40 })
	close(stop)
	all := results()

	failed, afterNew, afterOld := 0, 0, 0
	for _, r := range all {
		if r.err != nil || r.status != 200 {
			failed++
			if failed <= 5 {
				t.Errorf("%s failed: status %d, err %v", r.path, r.status, r.err)
			}
			continue
		}
		if r.path == "/version/" && r.began.After(deployed) {
			if r.body == "version 2" {
				afterNew++
			} else {
				afterOld++
			}
		}
	}
	t.Logf("%d requests, %d failed", len(all), failed)
	if failed > 0 {
		t.Errorf("%d of %d requests failed during the deploy", failed, len(all))
	}
	if afterNew == 0 || afterOld > 0 {
		t.Errorf("after the deploy: %d responses with the new text, %d with the old", afterNew, afterOld)
	}

	if !rep.OK || rep.Kind != KindDeploy || rep.Generation != 2 || rep.Replaced != 1 {
		t.Errorf("report = %+v", rep)
	}
	if h.edge.current() == first {
		t.Errorf("edge still points at the old generation")
	}
	testkit.WaitFor(t, 15*time.Second, "the old generation to be drained and stopped", func() bool {
		return len(h.sup.Status().Draining) == 0 && !processAlive(oldPID)
	})
	if _, err := os.Stat(strings.TrimPrefix(first, "unix:")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old socket still there: %v", err)
	}
	if evs := h.events.find(EventDeploySucceeded); len(evs) != 2 { // initial + deploy
		t.Errorf("deploy-succeeded events = %+v", evs)
	}
}

// TestFailingMigrationStopsDeploy adds a migration that raises: the
// deploy stops at the migrate step with its output, no new generation is
// started, and the old one keeps serving.
func TestFailingMigrationStopsDeploy(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	cfg := testConfig(t, dir)
	// One worker: ready means it has imported its code, so the edit below
	// cannot reach a worker still booting.
	cfg.Workers = 1
	h := start(t, cfg)
	first := h.waitUpstream(60*time.Second, "")

	writeFile(t, dir, "mysite/version.py", "MESSAGE = \"version 2\"\n")
	writeFile(t, dir, "pages/migrations/0002_broken.py", `from django.db import migrations


def fail(apps, schema_editor):
    raise RuntimeError("this migration is broken on purpose")


class Migration(migrations.Migration):
    dependencies = [('pages', '0001_initial')]
    operations = [migrations.RunPython(fail)]
`)
	rep, err := h.sup.Deploy(context.Background())
	var stepErr *StepError
	if !errors.As(err, &stepErr) || stepErr.Step != StepMigrate {
		t.Fatalf("Deploy error = %v, want a StepError for migrate", err)
	}
	if out := strings.Join(stepErr.Output, "\n"); !strings.Contains(out, "RuntimeError: this migration is broken on purpose") {
		t.Errorf("step output lacks the error:\n%s", out)
	}
	if rep.OK || len(rep.Steps) == 0 || rep.Steps[len(rep.Steps)-1].Name != StepMigrate || rep.Steps[len(rep.Steps)-1].OK {
		t.Errorf("report = %+v", rep)
	}
	if got := h.edge.current(); got != first {
		t.Errorf("upstream = %q, want the old %q", got, first)
	}
	if status, body := h.get("/version/"); status != 200 || body != "version 1" {
		t.Errorf("old generation: GET /version/ = %d %q", status, body)
	}
	st := h.sup.Status()
	if st.Web.State != StateRunning || st.Web.Generation != 1 {
		t.Errorf("web status = %+v", st.Web)
	}
	if st.LastDeploy == nil || st.LastDeploy.OK || !strings.Contains(st.LastDeploy.Error, "migrate") {
		t.Errorf("last deploy = %+v", st.LastDeploy)
	}
	if n := len(h.events.find(EventStarted)); n != 1 {
		t.Errorf("%d web generations started, want only the first", n)
	}
	if evs := h.events.find(EventStepFailed); len(evs) != 1 || len(evs[0].Output) == 0 {
		t.Errorf("step-failed events = %+v", evs)
	}
}

// TestDeployNeverReadyIsAbandoned deploys code whose import hangs: after
// ReadyTimeout the new generation is killed and the old one keeps serving.
func TestDeployNeverReadyIsAbandoned(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	cfg := testConfig(t, dir)
	cfg.ReadyTimeout = 3 * time.Second
	cfg.Workers = 1 // ready = its only worker has imported the code edited below
	h := start(t, cfg)
	first := h.waitUpstream(60*time.Second, "")

	wsgi, err := os.ReadFile(dir + "/mysite/wsgi.py")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "mysite/wsgi.py", "import time\ntime.sleep(3600)\n"+string(wsgi))
	began := time.Now()
	rep, err := h.sup.Deploy(context.Background())
	if err == nil || !strings.Contains(err.Error(), "not ready after 3s") {
		t.Fatalf("Deploy error = %v, want not ready after 3s", err)
	}
	if took := time.Since(began); took > 15*time.Second {
		t.Errorf("abandoning took %s", took)
	}
	if rep.OK || rep.Exit == nil {
		t.Errorf("report = %+v, want failed with the killed generation's exit", rep)
	}
	if got := h.edge.current(); got != first {
		t.Errorf("upstream = %q, want the old %q", got, first)
	}
	if status, body := h.get("/version/"); status != 200 || body != "version 1" {
		t.Errorf("old generation: GET /version/ = %d %q", status, body)
	}
	if pids := pidsWithArg(filepath.Join(cfg.RuntimeDir, "web-2.sock")); len(pids) > 0 {
		t.Errorf("processes of the abandoned generation still alive: %v", pids)
	}
	if st := h.sup.Status(); st.Web.Generation != 1 || st.Web.State != StateRunning || len(st.Draining) != 0 {
		t.Errorf("status = %+v", st.Web)
	}
}

// TestWebSocketTunnelsKeepOldGeneration checks the drain rules: a replaced
// generation with an open tunnel stays alive until the tunnel closes, and
// at most WebSocketGrace.
func TestWebSocketTunnelsKeepOldGeneration(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	cfg := testConfig(t, copyProject(t))
	cfg.WebSocketGrace = 3 * time.Second
	h := start(t, cfg)
	first := h.waitUpstream(60*time.Second, "")
	firstPID := h.sup.Status().Web.PID

	// The tunnel closes by itself.
	h.edge.setTunnels(first, 1)
	if _, err := h.sup.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := h.edge.current()
	st := h.sup.Status()
	if len(st.Draining) != 1 || st.Draining[0].Generation != 1 || st.Draining[0].State != StateDraining {
		t.Fatalf("draining = %+v", st.Draining)
	}
	time.Sleep(time.Second) // the tunnel stays open a while
	if !processAlive(firstPID) {
		t.Fatalf("generation 1 stopped while its tunnel was open")
	}
	h.edge.setTunnels(first, 0)
	testkit.WaitFor(t, 10*time.Second, "generation 1 to stop once its tunnel closed", func() bool {
		return !processAlive(firstPID) && len(h.sup.Status().Draining) == 0
	})

	// The tunnel outlives the grace period.
	secondPID := h.sup.Status().Web.PID
	h.edge.setTunnels(second, 1)
	began := time.Now()
	if _, err := h.sup.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 15*time.Second, "generation 2 to stop after the grace period", func() bool {
		return !processAlive(secondPID)
	})
	if took := time.Since(began); took < cfg.WebSocketGrace {
		t.Errorf("generation 2 stopped after %s, before the %s grace", took, cfg.WebSocketGrace)
	}
}

// pidsWithArg lists processes whose command line contains arg.
func pidsWithArg(arg string) []int {
	var out []int
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && bytes.Contains(cmdline, []byte(arg)) && processAlive(pid) {
			out = append(out, pid)
		}
	}
	return out
}
