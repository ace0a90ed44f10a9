package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// ConnState says whether the edge reaches the cluster's PostgreSQL.
type ConnState string

const (
	// StateUp: connected, listening, state in sync.
	StateUp ConnState = "up"
	// StateConnecting: the first attempt is under way.
	StateConnecting ConnState = "connecting"
	// StateDown: the last attempt failed, or the connection broke; the
	// edge serves from its cache and retries.
	StateDown ConnState = "down"
	// StateWaiting: the connection string is not known yet (postgres =
	// "app" before the application's settings were read).
	StateWaiting ConnState = "waiting"
)

// connState is what Status reports about the connection.
type connState struct {
	State     ConnState
	Since     time.Time // when State began
	LastError string
	NextRetry time.Time
	// SchemaVersion is the schema's version after the last migration.
	SchemaVersion int
	// Outages counts the connections lost since start; LastOutage* is
	// the last one (End zero while it lasts).
	Outages                        int
	LastOutageStart, LastOutageEnd time.Time
}

// migrateTimeout bounds the schema migration (it may wait for another
// edge's).
const migrateTimeout = 30 * time.Second

// connectLoop keeps a session with PostgreSQL open, reconnecting with
// backoff; first is closed after the first attempt ends, either way.
func (s *Store) connectLoop(first chan struct{}) {
	defer s.wg.Done()
	signalled := false
	signal := func() {
		if !signalled {
			signalled = true
			close(first)
		}
	}
	defer signal()
	initial := min(time.Second, s.opts.RetryMax)
	wait := initial
	for {
		s.mu.Lock()
		dsn := s.dsn
		s.mu.Unlock()
		if dsn == "" {
			signal()
			select {
			case <-s.lifetime.Done():
				return
			case <-s.kick:
				continue
			}
		}
		err := s.session(dsn, func() { signal(); wait = initial })
		if s.lifetime.Err() != nil {
			return
		}
		s.setDown(err, wait)
		signal()
		select {
		case <-s.lifetime.Done():
			return
		case <-s.kick:
		case <-time.After(wait):
		}
		wait = min(2*wait, s.opts.RetryMax)
	}
}

// setDown records that the connection is not up and why.
func (s *Store) setDown(err error, retry time.Duration) {
	now := time.Now()
	s.mu.Lock()
	was := s.conn.State
	if was == StateUp {
		s.conn.Outages++
		s.conn.LastOutageStart, s.conn.LastOutageEnd = now, time.Time{}
	}
	if was != StateDown {
		s.conn.Since = now
	}
	s.conn.State = StateDown
	msg := "connection ended"
	if err != nil {
		msg = err.Error()
	}
	s.conn.LastError, s.conn.NextRetry = msg, now.Add(retry)
	s.mu.Unlock()
	switch {
	case was == StateUp:
		s.log.Error("lost the cluster's PostgreSQL: serving every stored certificate from the local cache; no certificate is ordered until it is back",
			"err", msg, "retry_in", retry)
		s.event("down", "lost the cluster's PostgreSQL ("+msg+"): serving from the local state, no orders until it is back")
	case was != StateDown:
		s.log.Warn("cannot reach the cluster's PostgreSQL: serving from the local cache, retrying", "err", msg, "retry_in", retry)
		s.event("down", "cannot reach the cluster's PostgreSQL ("+msg+"): serving from the local state, no orders until it is back")
	default:
		s.log.Debug("the cluster's PostgreSQL is still unreachable", "err", msg, "retry_in", retry)
	}
}

// event records a change of the connection in the cluster's history and
// tells Options.OnEvent.
func (s *Store) event(kind, message string) {
	s.AddEvent("cluster", kind, message)
	if s.opts.OnEvent != nil {
		s.opts.OnEvent(kind, message)
	}
}

// opFailed ends the session when err says the connection is gone, so
// that the loop reconnects (and the store serves from the cache
// meanwhile).
func (s *Store) opFailed(err error) {
	if err == nil || !isConnectionError(err) || s.lifetime.Err() != nil {
		return
	}
	s.mu.Lock()
	end := s.endSession
	s.mu.Unlock()
	if end != nil {
		end()
	}
}

// isConnectionError tells a lost or refused connection (or a query that
// timed out) from an error in a query that a retry would repeat.
func isConnectionError(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		c := pgErr.Code
		return strings.HasPrefix(c, "08") || strings.HasPrefix(c, "53") || strings.HasPrefix(c, "57P")
	}
	return !errors.Is(err, errSealed) && !errors.Is(err, ErrLeaseLost) && !errors.Is(err, ErrStale)
}

// errKeyMismatch: the schema was set up with another key.
var errKeyMismatch = errors.New("this edge's cluster key is not the key the cluster was set up with: copy the cluster.key file of an edge of the cluster (every edge needs the same)")

// session runs one connection: connect, migrate, check the key, LISTEN,
// bring the cache in sync, then handle notifications until the
// connection breaks or the store closes. up is called once in sync.
func (s *Store) session(dsn string, up func()) error {
	sctx, cancel := context.WithCancel(s.lifetime)
	defer cancel()
	s.mu.Lock()
	s.endSession = cancel
	s.mu.Unlock()

	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("the connection string: %w", err)
	}
	setRuntimeParams(cfg.RuntimeParams, s.opts.Schema, s.opts.Edge)
	cctx, ccancel := context.WithTimeout(sctx, s.opts.ConnectTimeout)
	conn, err := pgx.ConnectConfig(cctx, cfg)
	ccancel()
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())

	mctx, mcancel := context.WithTimeout(sctx, migrateTimeout)
	from, to, err := migrate(mctx, conn, s.opts.Schema)
	if err == nil {
		err = s.checkKey(mctx, conn)
	}
	if err == nil {
		_, err = conn.Exec(mctx, "LISTEN "+pgx.Identifier{s.channel()}.Sanitize())
	}
	mcancel()
	if err != nil {
		return err
	}
	if to > from {
		s.log.Info("migrated the cluster schema", "schema", s.opts.Schema, "from", from, "to", to)
	}

	poolCfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("the connection string: %w", err)
	}
	setRuntimeParams(poolCfg.ConnConfig.RuntimeParams, s.opts.Schema, s.opts.Edge)
	poolCfg.MaxConns = 4
	poolCfg.ConnConfig.ConnectTimeout = s.opts.ConnectTimeout
	pool, err := pgxpool.NewWithConfig(sctx, poolCfg)
	if err != nil {
		return err
	}
	defer pool.Close()

	// LISTEN came first: a change made while the cache syncs arrives as
	// a notification too, and applying it twice is harmless.
	changed, err := s.sync(sctx, pool)
	if err == nil {
		err = s.loadChallenges(sctx, pool)
	}
	if err != nil {
		return fmt.Errorf("bring the local cache in sync: %w", err)
	}

	// The heartbeat first: an edge that serves is an edge the others wait
	// for when they publish a challenge answer (challenge.go).
	if err := s.beat(sctx, pool); err != nil {
		return fmt.Errorf("write the heartbeat: %w", err)
	}

	now := time.Now()
	s.mu.Lock()
	wasDown := s.conn.State == StateDown
	downSince := s.conn.Since
	s.pool = pool
	s.conn.State, s.conn.Since, s.conn.LastError, s.conn.NextRetry = StateUp, now, "", time.Time{}
	s.conn.SchemaVersion = to
	if s.conn.Outages > 0 && s.conn.LastOutageEnd.IsZero() {
		s.conn.LastOutageEnd = now
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.pool = nil
		s.mu.Unlock()
	}()
	if wasDown {
		s.log.Info("reconnected to the cluster's PostgreSQL; the local cache is in sync", "down_for", now.Sub(downSince).Round(time.Millisecond), "changed", len(changed))
		s.event("up", fmt.Sprintf("reconnected to the cluster's PostgreSQL after %s; %d shared entries changed meanwhile", now.Sub(downSince).Round(time.Millisecond), len(changed)))
	} else {
		s.log.Info("connected to the cluster's PostgreSQL", "database", redactDSN(dsn), "schema", s.opts.Schema, "edge", s.opts.Edge, "changed", len(changed))
	}
	up()
	// Then ("", ""): connected (again), anything may have changed and
	// what needed the database (an order) may proceed.
	s.notifyWatchers(append(changed, change{"", ""}))

	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		s.heartbeatLoop(sctx, pool)
	}()
	defer func() { cancel(); <-hbDone }()

	for {
		n, err := conn.WaitForNotification(sctx)
		if err != nil {
			if sctx.Err() != nil && s.lifetime.Err() == nil {
				return errors.New("the connection failed during an operation")
			}
			return err
		}
		s.handleNotification(sctx, pool, n.Payload)
	}
}

// setRuntimeParams puts the store's settings on every connection: the
// schema first in search_path, and a name that says which edge it is in
// pg_stat_activity.
func setRuntimeParams(p map[string]string, schema, edge string) {
	p["search_path"] = schema
	p["application_name"] = "frontdoor edge " + edge
}

// channel is the NOTIFY channel of the schema.
func (s *Store) channel() string { return s.opts.Schema + "_changes" }

// checkKey stores this key's check value when the schema has none yet
// (the first edge), and refuses a different one.
func (s *Store) checkKey(ctx context.Context, conn *pgx.Conn) error {
	check := s.seal.keyCheck()
	if _, err := conn.Exec(ctx, "INSERT INTO meta (key, value) VALUES ('key_check', $1) ON CONFLICT (key) DO NOTHING", check); err != nil {
		return fmt.Errorf("store the key check: %w", err)
	}
	var stored string
	if err := conn.QueryRow(ctx, "SELECT value FROM meta WHERE key = 'key_check'").Scan(&stored); err != nil {
		return fmt.Errorf("read the key check: %w", err)
	}
	if stored != check {
		return errKeyMismatch
	}
	return nil
}

// notice is a NOTIFY payload.
type notice struct {
	// Kind: "kv" (an entry changed), "ch" (a challenge published),
	// "chdel" (withdrawn), "ack" (an edge has challenge ID).
	Kind     string `json:"k"`
	Space    string `json:"s,omitempty"`
	Key      string `json:"key,omitempty"`
	Version  int64  `json:"v,omitempty"`
	Token    string `json:"t,omitempty"`
	ID       int64  `json:"id,omitempty"`
	Instance string `json:"i"`
}

// handleNotification applies one change another edge announced.
func (s *Store) handleNotification(ctx context.Context, pool *pgxpool.Pool, payload string) {
	var n notice
	if err := json.Unmarshal([]byte(payload), &n); err != nil {
		s.log.Debug("ignoring a notification that is not frontdoor's", "payload", payload)
		return
	}
	if n.Instance == s.instance {
		return // our own write: the cache has it already
	}
	switch n.Kind {
	case "kv":
		if !s.shared[n.Space] {
			return
		}
		changed, err := s.pull(ctx, pool, n.Space, n.Key)
		if err != nil {
			s.log.Warn("could not read a change another edge made", "space", n.Space, "key", n.Key, "err", err)
			s.opFailed(err)
			return
		}
		if changed {
			s.notifyWatchers([]change{{n.Space, n.Key}})
		}
	case "ch":
		s.receiveChallenge(ctx, pool, n)
	case "chdel":
		s.mu.Lock()
		delete(s.challenges, n.Token)
		s.mu.Unlock()
	case "ack":
		s.receiveAck(n)
	}
}

// redactDSN describes a connection string without its password.
func redactDSN(dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "(a connection string that does not parse)"
	}
	host := cfg.Host
	if strings.HasPrefix(host, "/") {
		host = "socket " + host
	}
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, host, cfg.Port, cfg.Database)
}
