package state

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashWriterEnv, when set to a path, turns the test binary into the child
// of TestKillDashNineKeepsCommittedRecords: it writes records to that file
// in a loop and prints each record's id once its transaction committed.
const crashWriterEnv = "FRONTDOOR_STATE_CRASH_WRITER"

func TestMain(m *testing.M) {
	if path := os.Getenv(crashWriterEnv); path != "" {
		runCrashWriter(path, os.Getenv(crashWriterEnv+"_PREFIX"))
		return
	}
	os.Exit(m.Run())
}

// runCrashWriter never returns normally: the parent kills it.
func runCrashWriter(path, prefix string) {
	db, err := Open(path, Options{MaxEvents: 1 << 30, MaxRestarts: 1 << 30})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	cache := db.CertCache()
	payload := strings.Repeat("x", 600) // spread the records over many pages
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		switch i % 4 {
		case 0:
			err = db.AddEvent(Event{Source: "crash", Kind: "write", Message: payload, Attrs: map[string]string{"id": id}})
		case 1:
			err = db.AddRestart(Restart{Process: id, PID: i, ExitCode: 1, Stderr: []string{payload}})
		case 2:
			err = db.PutBlob("crash", id, []byte(payload))
		case 3:
			err = cache.Put(context.Background(), id, []byte(payload))
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		// One small write: atomic on a pipe, so the parent never sees half
		// an id, and only after the commit returned.
		os.Stdout.WriteString(id + "\n")
	}
}

// TestKillDashNineKeepsCommittedRecords is issue 5's crash test: a child
// writes state in a loop and is killed with SIGKILL at a random moment; the
// file must open, pass bbolt's consistency check and hold every record the
// child reported as committed. Several rounds hit the same file.
func TestKillDashNineKeepsCommittedRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	committed := map[string]int{} // id -> kind (i % 4)
	const rounds = 5
	for round := range rounds {
		prefix := fmt.Sprint("r", round)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), crashWriterEnv+"="+path, crashWriterEnv+"_PREFIX="+prefix)
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 1024)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		// Let it commit a random number of records, then kill it mid-loop.
		target := 20 + rand.IntN(200)
		seen := 0
		deadline := time.After(20 * time.Second)
	read:
		for seen < target {
			select {
			case id, ok := <-lines:
				if !ok {
					t.Fatalf("round %d: writer exited early: %v", round, cmd.Wait())
				}
				committed[id] = kindOf(id)
				seen++
			case <-deadline:
				break read
			}
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for id := range lines { // ids already in the pipe were committed too
			committed[id] = kindOf(id)
			seen++
		}
		if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("round %d: writer ended with %v, want killed", round, err)
		}
		if seen == 0 {
			t.Fatalf("round %d: writer committed nothing", round)
		}
		verifyCommitted(t, path, committed)
		t.Logf("round %d: killed after %d committed records (%d in total)", round, seen, len(committed))
	}
}

func kindOf(id string) int {
	var round, i int
	fmt.Sscanf(id, "r%d-%d", &round, &i)
	return i % 4
}

func verifyCommitted(t *testing.T, path string, committed map[string]int) {
	t.Helper()
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("reopen after kill -9: %v", err)
	}
	defer db.Close()
	if err := db.Check(); err != nil {
		t.Fatalf("consistency check after kill -9: %v", err)
	}
	events, err := db.Events(0)
	if err != nil {
		t.Fatal(err)
	}
	restarts, err := db.Restarts(0)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, e := range events {
		have[e.Attrs["id"]] = true
	}
	for _, r := range restarts {
		have[r.Process] = true
	}
	cache := db.CertCache()
	for id, kind := range committed {
		switch kind {
		case 2:
			_, ok, err := db.Blob("crash", id)
			if err != nil {
				t.Fatal(err)
			}
			have[id] = ok
		case 3:
			_, err := cache.Get(context.Background(), id)
			have[id] = err == nil
		}
		if !have[id] {
			t.Errorf("committed record %s (kind %d) is missing after kill -9", id, kind)
		}
	}
}
