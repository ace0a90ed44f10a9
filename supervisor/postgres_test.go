package supervisor

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"frontdoor/internal/pgtest"
	"frontdoor/internal/testkit"
)

// TestPostgresHealthAndWaitStep runs the example project on PostgreSQL
// (reached through its socket directory, from DATABASE_URL in .env): the
// migrations land in PostgreSQL, the health check follows the server down
// and up within its interval, the wait-for-PostgreSQL release step holds a
// deploy until the server is back, and the password never shows.
func TestPostgresHealthAndWaitStep(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	pg := pgtest.Start(t)
	dir := copyProject(t)
	const password = "s3cret-not-for-logs"
	dbURL := fmt.Sprintf("postgres://postgres:%s@%s:%d/postgres", password, url.PathEscape(pg.Dir), pg.Port)
	writeFile(t, dir, ".env", "DATABASE_URL="+dbURL+"\n")
	cfg := testConfig(t, dir)
	cfg.PostgresInterval = 300 * time.Millisecond
	cfg.PostgresWaitTimeout = 60 * time.Second
	h := start(t, cfg)
	h.waitUpstream(60*time.Second, "")

	st := h.sup.Status()
	if !st.Postgres.Used || len(st.Postgres.Databases) != 1 {
		t.Fatalf("postgres status = %+v", st.Postgres)
	}
	if want := fmt.Sprintf("default: postgresql postgres@%s/postgres", net.JoinHostPort(pg.Dir, strconv.Itoa(pg.Port))); st.Postgres.Databases[0].Database != want {
		t.Errorf("database = %q, want %q", st.Postgres.Databases[0].Database, want)
	}
	testkit.WaitFor(t, 5*time.Second, "postgres to be up", func() bool { return h.sup.Status().Postgres.State == HealthUp })
	if status, body := h.get("/"); status != 200 || !strings.Contains(body, `class="visits">1<`) {
		t.Fatalf("GET / on PostgreSQL = %d:\n%s", status, body)
	}
	if !strings.Contains(h.logs.String(), "step=wait-postgres") {
		t.Errorf("the wait-postgres step did not run")
	}

	pg.Stop()
	stopped := time.Now()
	testkit.WaitFor(t, 5*time.Second, "the health check to see postgres down", func() bool {
		return h.sup.Status().Postgres.State == HealthDown
	})
	if took := time.Since(stopped); took > cfg.PostgresInterval+pgCheckTimeout {
		t.Errorf("down noticed after %s, interval %s", took, cfg.PostgresInterval)
	}
	if evs := h.events.find(EventPostgresDown); len(evs) != 1 {
		t.Errorf("postgres-down events = %+v", evs)
	}

	deployed := make(chan error, 1)
	go func() {
		_, err := h.sup.Deploy(context.Background())
		deployed <- err
	}()
	testkit.WaitFor(t, 30*time.Second, "the deploy to wait for postgres", func() bool {
		return h.sup.Status().DeployPhase == "release step "+StepWaitPostgres
	})
	select {
	case err := <-deployed:
		t.Fatalf("Deploy returned while postgres was down: %v", err)
	case <-time.After(time.Second): // it keeps waiting
	}
	pg.Start()
	select {
	case err := <-deployed:
		if err != nil {
			t.Fatalf("Deploy after postgres came back: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Deploy still waiting 60 s after postgres came back")
	}
	st = h.sup.Status()
	if st.Postgres.State != HealthUp || st.Web.Generation != 2 {
		t.Errorf("after recovery: postgres %s, web generation %d", st.Postgres.State, st.Web.Generation)
	}
	if evs := h.events.find(EventPostgresUp); len(evs) != 2 {
		t.Errorf("postgres-up events = %d, want 2 (start, recovery)", len(evs))
	}

	js, _ := json.Marshal(st)
	if strings.Contains(string(js), password) || strings.Contains(h.logs.String(), password) {
		t.Errorf("the database password leaked into the status or the log")
	}
	h.events.mu.Lock()
	for _, e := range h.events.events {
		if strings.Contains(fmt.Sprint(e), password) {
			t.Errorf("the database password leaked into event %+v", e)
		}
	}
	h.events.mu.Unlock()
}
