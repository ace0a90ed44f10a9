package supervisor

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// Environment of the helper process (the test binary re-executed).
const (
	helperEnv        = "SUPERVISOR_TEST_HELPER_PROJECT"
	helperServerEnv  = "SUPERVISOR_TEST_HELPER_SERVER"
	helperRuntimeEnv = "SUPERVISOR_TEST_HELPER_RUNTIME"
)

// printEdge announces upstream changes on stdout, for the parent test.
type printEdge struct{}

func (printEdge) SetAppUpstream(addr string) { fmt.Printf("UPSTREAM %s\n", addr) }
func (printEdge) InFlight(string) (int, int) { return 0, 0 }

// runHelperSupervisor runs a supervisor until the process is killed.
func runHelperSupervisor() {
	cfg := Config{
		ProjectDir: os.Getenv(helperEnv),
		Python:     systemPython,
		RuntimeDir: os.Getenv(helperRuntimeEnv),
		Server:     Server(os.Getenv(helperServerEnv)),
		Workers:    2,
		ReadyPath:  "/healthz/",
		Edge:       printEdge{},
		Logger:     slog.New(slog.NewTextHandler(os.Stderr, nil)),
	}
	s, err := New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	_ = s.Run(context.Background())
}

// TestChildrenDieWithSupervisor kills the supervisor's process with
// SIGKILL — no chance to clean up — and checks that the gunicorn master and
// every worker die too: the master through its parent-death signal (set
// from the launcher's dedicated thread), the workers through the generated
// gunicorn config (uvicorn workers never check their parent by themselves).
func TestChildrenDieWithSupervisor(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	for _, server := range []Server{ServerGunicorn, ServerUvicorn} {
		t.Run(string(server), func(t *testing.T) {
			t.Parallel()
			dir := copyProject(t)
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(),
				helperEnv+"="+dir,
				helperServerEnv+"="+string(server),
				helperRuntimeEnv+"="+filepath.Join(t.TempDir(), "run"))
			stderr := &syncBuffer{}
			cmd.Stderr = stderr
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			killed := false
			t.Cleanup(func() {
				if !killed {
					_ = cmd.Process.Kill()
					_ = cmd.Wait()
				}
				if t.Failed() {
					t.Logf("helper log:\n%s", stderr.String())
				}
			})
			ready := make(chan string, 1)
			go func() {
				sc := bufio.NewScanner(stdout)
				for sc.Scan() {
					if addr, ok := strings.CutPrefix(sc.Text(), "UPSTREAM "); ok && addr != "" {
						ready <- addr
					}
				}
			}()
			select {
			case <-ready:
			case <-time.After(60 * time.Second):
				t.Fatal("the helper's app never became ready")
			}

			pids := descendants(cmd.Process.Pid)
			if len(pids) < 3 {
				t.Fatalf("helper has %d descendants %v, want a gunicorn master and 2 workers", len(pids), pids)
			}
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			killed = true
			testkit.WaitFor(t, 15*time.Second, fmt.Sprintf("processes %v to die with their supervisor", pids), func() bool {
				for _, pid := range pids {
					if processAlive(pid) {
						return false
					}
				}
				return true
			})
		})
	}
}

// TestStopIsGraceful ends Run: the edge hears that the app is gone, every
// child (web and extra) exits, and Run returns.
func TestStopIsGraceful(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	cfg := testConfig(t, dir)
	cfg.Processes = []ProcessSpec{{Name: "ticker", Command: []string{"python", "-c", tickerScript}}}
	h := start(t, cfg)
	h.waitUpstream(60*time.Second, "")
	var st Status
	testkit.WaitFor(t, 30*time.Second, "the extra process to run", func() bool {
		st = h.sup.Status()
		return len(st.Processes) == 1 && st.Processes[0].State == StateRunning
	})
	pids := append(descendants(st.Web.PID), st.Web.PID, st.Processes[0].PID)

	began := time.Now()
	h.stop()
	if took := time.Since(began); took > 10*time.Second {
		t.Errorf("stop took %s", took)
	}
	for _, pid := range pids {
		if processAlive(pid) {
			t.Errorf("pid %d still alive after Run returned", pid)
		}
	}
	if got := h.edge.current(); got != "" {
		t.Errorf("upstream after stop = %q, want empty (503)", got)
	}
	st = h.sup.Status()
	if st.Web.State != StateStopped || st.Processes[0].State != StateStopped {
		t.Errorf("states after stop: web %s, ticker %s", st.Web.State, st.Processes[0].State)
	}
	if _, err := h.sup.Deploy(context.Background()); err != ErrNotRunning {
		t.Errorf("Deploy after stop: %v, want ErrNotRunning", err)
	}
}

// tickerScript is an extra process: it says hello and sleeps.
const tickerScript = "import os, time; print('ticker up', os.getpid(), flush=True); time.sleep(3600)"
