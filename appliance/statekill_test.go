package appliance

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"frontdoor/state"
)

// TestKillNineKeepsCommittedState kills the real daemon with SIGKILL while
// it writes its state file in a loop, several times on the same file: the
// file must open, pass bbolt's consistency check, and hold every event the
// daemon had shown as committed.
//
// The writes are the daemon's own, not a debug command's: an extra process
// that exits at once, restarted every few milliseconds, makes the
// supervisor record an exit, a scheduled restart, a start and a restart
// record per cycle, each an fsync'd transaction — the code path a real
// crash loop takes. "Committed" is what GET /status returned: it reads the
// events from the state file, so every event seen there was in a committed
// transaction before the kill.
func TestKillNineKeepsCommittedState(t *testing.T) {
	needDjango(t)
	t.Parallel()
	project := copyMysite(t)
	dir := t.TempDir()
	addr := freePort(t)
	text := fmt.Sprintf(`[app]
dir = %q
workers = 1
release_steps = false
backoff_min = "5ms"
backoff_max = "10ms"

[[app.process]]
name = "flapper"
command = ["/bin/sh", "-c", "exit 1"]
`, project) + serverTable(addr, dir)
	os.WriteFile(filepath.Join(dir, "frontdoor.toml"), []byte(text), 0o644)
	statePath := filepath.Join(dir, "state.db")

	type eventID struct {
		at            int64
		kind, message string
	}
	seen := map[eventID]bool{}
	const rounds = 3
	for round := range rounds {
		d := startDaemon(t, dir, addr)
		// Poll the status until a random number of new events were seen,
		// then kill the daemon right after a status answer.
		target := len(seen) + 40 + rand.IntN(150)
		deadline := time.Now().Add(60 * time.Second)
		for len(seen) < target {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: only %d events seen", round, len(seen))
			}
			st, ok := d.tryStatus()
			if !ok {
				time.Sleep(20 * time.Millisecond)
				continue
			}
			for _, e := range st.Events {
				seen[eventID{e.Time.UnixNano(), e.Kind, e.Message}] = true
			}
		}
		if err := d.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		d.cmd.Wait()

		db, err := state.Open(statePath, state.Options{})
		if err != nil {
			t.Fatalf("round %d: reopen after kill -9: %v", round, err)
		}
		if err := db.Check(); err != nil {
			t.Fatalf("round %d: consistency check: %v", round, err)
		}
		events, err := db.Events(0)
		if err != nil {
			t.Fatal(err)
		}
		stored := map[eventID]bool{}
		for _, e := range events {
			stored[eventID{e.Time.UnixNano(), e.Kind, e.Message}] = true
		}
		missing := 0
		for id := range seen {
			if !stored[id] {
				missing++
				if missing <= 3 {
					t.Errorf("round %d: event shown as committed is missing: %+v", round, id)
				}
			}
		}
		restarts, _ := db.Restarts(0)
		db.Close()
		if len(restarts) == 0 {
			t.Errorf("round %d: no restart record", round)
		}
		t.Logf("round %d: killed; %d events seen committed, %d stored, %d restart records", round, len(seen), len(events), len(restarts))
	}
}
