package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Health is the state of a watched dependency.
type Health string

const (
	HealthUnknown Health = "unknown" // not checked yet
	HealthUp      Health = "up"
	HealthDown    Health = "down"
)

// DatabaseHealth is the last known health of one PostgreSQL database.
type DatabaseHealth struct {
	Alias     string        `json:"alias"`
	Database  string        `json:"database"` // Database.String(): no password
	State     Health        `json:"state"`
	Since     time.Time     `json:"since"` // when State last changed
	LastCheck time.Time     `json:"last_check"`
	Latency   time.Duration `json:"latency"` // of the last successful check
	Error     string        `json:"error,omitempty"`
}

// PostgresStatus is the health of the project's PostgreSQL databases.
type PostgresStatus struct {
	// Used is false when the project's DATABASES use no PostgreSQL; the
	// rest is then empty.
	Used bool `json:"used"`
	// State is up when every database answers, down when one does not.
	State     Health           `json:"state"`
	Interval  time.Duration    `json:"interval"`
	Databases []DatabaseHealth `json:"databases,omitempty"`
}

// pgCheckTimeout bounds one health check (connect + SELECT 1).
const pgCheckTimeout = 5 * time.Second

// pgWaitPoll is how often the "wait for PostgreSQL" step checks.
const pgWaitPoll = 500 * time.Millisecond

// pgHealth checks the project's PostgreSQL databases with `SELECT 1` on a
// fresh connection, with the app's own DATABASES settings.
type pgHealth struct {
	interval time.Duration
	log      *slog.Logger
	onChange func(Event)

	mu      sync.Mutex
	targets []*pgTarget
	wake    chan struct{} // a new target list: check at once
}

type pgTarget struct {
	db     Database
	health DatabaseHealth
}

func newPGHealth(interval time.Duration, log *slog.Logger, onChange func(Event)) *pgHealth {
	return &pgHealth{interval: interval, log: log, onChange: onChange, wake: make(chan struct{}, 1)}
}

// setDatabases replaces the watched databases (after an inspect). The
// health of a database whose settings did not change is kept.
func (h *pgHealth) setDatabases(dbs []Database) {
	h.mu.Lock()
	old := map[string]*pgTarget{}
	for _, t := range h.targets {
		old[t.db.String()+"\x00"+t.db.Password] = t
	}
	targets := make([]*pgTarget, 0, len(dbs))
	for _, db := range dbs {
		if t, ok := old[db.String()+"\x00"+db.Password]; ok {
			t.db = db
			targets = append(targets, t)
			continue
		}
		targets = append(targets, &pgTarget{db: db, health: DatabaseHealth{
			Alias: db.Alias, Database: db.String(), State: HealthUnknown,
		}})
	}
	h.targets = targets
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// run checks every interval until ctx is done.
func (h *pgHealth) run(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.wake:
		}
		h.checkAll(ctx)
	}
}

// checkAll checks every database once (concurrently) and reports whether
// all are up. With no database it reports true.
func (h *pgHealth) checkAll(ctx context.Context) bool {
	h.mu.Lock()
	targets := append([]*pgTarget(nil), h.targets...)
	h.mu.Unlock()
	results := make([]error, len(targets))
	latencies := make([]time.Duration, len(targets))
	var wg sync.WaitGroup
	for i, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			results[i] = pingPostgres(ctx, t.db)
			latencies[i] = time.Since(start)
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return false // cancelled: not a finding about the database
	}
	allUp := true
	for i, t := range targets {
		h.update(t, results[i], latencies[i])
		allUp = allUp && results[i] == nil
	}
	return allUp
}

// update stores one check's result and reports a change of state.
func (h *pgHealth) update(t *pgTarget, err error, latency time.Duration) {
	now := time.Now()
	h.mu.Lock()
	prev := t.health.State
	t.health.LastCheck = now
	if err != nil {
		t.health.State, t.health.Error = HealthDown, err.Error()
	} else {
		t.health.State, t.health.Error, t.health.Latency = HealthUp, "", latency
	}
	changed := prev != t.health.State
	if changed {
		t.health.Since = now
	}
	health := t.health
	h.mu.Unlock()
	if !changed {
		return
	}
	if err != nil {
		h.log.Warn("postgres is down", "db", health.Database, "err", err)
		h.onChange(Event{Kind: EventPostgresDown, Process: "postgres", Message: fmt.Sprintf("PostgreSQL %s is down: %v", health.Database, err)})
	} else {
		h.log.Info("postgres is up", "db", health.Database, "latency", latency.Round(time.Microsecond))
		h.onChange(Event{Kind: EventPostgresUp, Process: "postgres", Message: fmt.Sprintf("PostgreSQL %s is up", health.Database)})
	}
}

// waitUp checks every pgWaitPoll until every database is up (nil), timeout
// passes or ctx is done (an error naming what is still down).
func (h *pgHealth) waitUp(ctx context.Context, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	logged := false
	for {
		if h.checkAll(ctx) {
			return nil
		}
		if !logged {
			h.log.Info("release: waiting for PostgreSQL", "timeout", timeout)
			logged = true
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("PostgreSQL not up after %s: %s", timeout, h.downSummary())
		case <-time.After(pgWaitPoll):
		}
	}
}

// downSummary names the databases that are not up and why.
func (h *pgHealth) downSummary() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var parts []string
	for _, t := range h.targets {
		if t.health.State != HealthUp {
			parts = append(parts, fmt.Sprintf("%s (%s)", t.health.Database, t.health.Error))
		}
	}
	return strings.Join(parts, "; ")
}

// status returns a copy of the current health.
func (h *pgHealth) status() PostgresStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := PostgresStatus{Used: len(h.targets) > 0, Interval: h.interval}
	if !st.Used {
		return st
	}
	st.State = HealthUp
	for _, t := range h.targets {
		st.Databases = append(st.Databases, t.health)
		switch {
		case t.health.State == HealthDown:
			st.State = HealthDown
		case t.health.State == HealthUnknown && st.State == HealthUp:
			st.State = HealthUnknown
		}
	}
	return st
}

// pingPostgres opens a connection with db's settings, runs SELECT 1 and
// closes it.
func pingPostgres(ctx context.Context, db Database) error {
	ctx, cancel := context.WithTimeout(ctx, pgCheckTimeout)
	defer cancel()
	cfg, err := pgx.ParseConfig(postgresDSN(db))
	if err != nil {
		return fmt.Errorf("postgres settings: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("SELECT 1: %w", err)
	}
	return nil
}

// libpqOptions are the DATABASES OPTIONS keys that mean the same to libpq
// (psycopg2 passes OPTIONS to it) and to pgx.
var libpqOptions = map[string]bool{
	"sslmode": true, "sslrootcert": true, "sslcert": true, "sslkey": true, "sslpassword": true,
	"connect_timeout": true, "application_name": true, "target_session_attrs": true,
	"options": true, "passfile": true, "service": true, "servicefile": true,
}

// postgresDSN writes db as a libpq keyword/value string. Django's empty
// HOST means libpq's default socket directory, which pgx also looks for.
func postgresDSN(db Database) string {
	var b strings.Builder
	add := func(k, v string) {
		if v == "" {
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(k)
		b.WriteString("='")
		b.WriteString(strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v))
		b.WriteByte('\'')
	}
	add("host", db.Host)
	add("port", db.Port)
	add("user", db.User)
	add("password", db.Password)
	add("dbname", db.Name)
	for _, k := range slices.Sorted(maps.Keys(db.Options)) {
		if libpqOptions[k] {
			add(k, db.Options[k])
		}
	}
	return b.String()
}
