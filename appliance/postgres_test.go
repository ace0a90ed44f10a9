package appliance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"frontdoor/state"
	"frontdoor/supervisor"
)

// TestPostgresDownAndBack runs the example on a PostgreSQL started by the
// test: stopping the server shows in `frontdoor status` within the check
// interval, a deploy meanwhile waits in its release step, and starting the
// server again lets the deploy finish and the status recover. The health
// transitions land in the state file.
func TestPostgresDownAndBack(t *testing.T) {
	needDjango(t)
	t.Parallel()
	pg, project, static := mysiteOnPG(t)
	dir := t.TempDir()
	addr := freePort(t)
	const interval = 300 * time.Millisecond
	text := fmt.Sprintf("[app]\ndir = %q\nworkers = 1\npostgres_interval = %q\nstatic_url = \"/static/\"\nstatic_root = %q\n",
		project, interval.String(), static) + serverTable(addr, dir)
	os.WriteFile(filepath.Join(dir, "frontdoor.toml"), []byte(text), 0o644)
	d := startDaemon(t, dir, addr)

	pgState := func() supervisor.Health {
		st, ok := d.tryStatus()
		if !ok || st.App == nil {
			return ""
		}
		return st.App.Postgres.State
	}
	await(t, 60*time.Second, "the app to serve on PostgreSQL", func() bool {
		r, err := rawGet(addr, "/", "localhost")
		return err == nil && r.status == 200 && strings.Contains(r.body, `class="visits">`)
	})
	await(t, 10*time.Second, "postgres up in status", func() bool { return pgState() == supervisor.HealthUp })

	pg.Stop()
	stopped := time.Now()
	await(t, 10*time.Second, "postgres down in status", func() bool { return pgState() == supervisor.HealthDown })
	noticed := time.Since(stopped)
	t.Logf("postgres down noticed after %s (interval %s)", noticed.Round(time.Millisecond), interval)
	if noticed > interval+5*time.Second { // one interval plus one check's timeout
		t.Errorf("down noticed after %s", noticed)
	}
	out, err := cli(t, "status", "--admin", d.socket)
	if err != nil || !strings.Contains(out, "postgres  down") {
		t.Errorf("status text while postgres is down: %v\n%s", err, out)
	}

	type deployed struct {
		res DeployResult
		err error
	}
	done := make(chan deployed, 1)
	go func() {
		res, err := d.client().Deploy(context.Background(), "")
		done <- deployed{res, err}
	}()
	await(t, 30*time.Second, "the deploy to wait for postgres", func() bool {
		st, ok := d.tryStatus()
		return ok && st.App != nil && st.App.DeployPhase == "release step "+supervisor.StepWaitPostgres
	})
	select {
	case r := <-done:
		t.Fatalf("the deploy returned while postgres was down: %+v %v", r.res, r.err)
	case <-time.After(time.Second):
	}
	pg.Start()
	select {
	case r := <-done:
		if r.err != nil || !r.res.OK {
			t.Fatalf("deploy after postgres came back: %v %+v", r.err, r.res)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the deploy still waits 60 s after postgres came back")
	}
	await(t, 10*time.Second, "postgres up again", func() bool { return pgState() == supervisor.HealthUp })
	if r, err := rawGet(addr, "/", "localhost"); err != nil || r.status != 200 {
		t.Errorf("GET / after recovery = %d %v", r.status, err)
	}

	// The transitions are in the state file once the daemon has stopped.
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(d.cmd, 40*time.Second); err != nil {
		t.Fatalf("after SIGTERM: %v", err)
	}
	db, err := state.Open(filepath.Join(dir, "state.db"), state.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hs, _ := db.HealthTransitions(0)
	var pgTo []string
	for i := len(hs) - 1; i >= 0; i-- {
		if hs[i].Component == "postgres" {
			pgTo = append(pgTo, hs[i].To)
		}
	}
	if strings.Join(pgTo, ",") != "up,down,up" {
		t.Errorf("postgres transitions in the state file = %v, want up,down,up", pgTo)
	}
}
