package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Each edge's heartbeat and events, for `frontdoor status --cluster`.

// liveHeartbeats is how many heartbeat periods an edge may miss before
// it counts as gone.
const liveHeartbeats = 3

// maxPendingEvents bounds the events kept while the database is away;
// the oldest are dropped first (they are in the edge's own state file
// anyway).
const maxPendingEvents = 1000

// maxEvents is how many events the schema keeps, for all edges together.
const maxEvents = 10000

// EdgeInfo is what an edge tells the others with every heartbeat.
type EdgeInfo struct {
	// Certificates are the certificates the edge serves now.
	Certificates []ServedCert `json:"certificates,omitempty"`
	// LastError is the edge's last error worth an operator's eye (a
	// failed order, say), with its time.
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// ServedCert is one certificate an edge serves.
type ServedCert struct {
	Name     string    `json:"name"`
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"not_after"`
	Issuer   string    `json:"issuer,omitempty"`
}

// edgeRecord is the info column: what the edge says plus the history of
// its connection to the database.
type edgeRecord struct {
	EdgeInfo
	Outages         int       `json:"outages,omitempty"`
	LastOutageStart time.Time `json:"last_outage_start,omitzero"`
	LastOutageEnd   time.Time `json:"last_outage_end,omitzero"`
	PendingEvents   int       `json:"pending_events,omitempty"`
}

// Event is one line of the cluster's event history.
type Event struct {
	Time    time.Time `json:"time"`
	Edge    string    `json:"edge"`
	Source  string    `json:"source"`
	Kind    string    `json:"kind"`
	Message string    `json:"message"`
}

// AddEvent records an event of this edge in the cluster's history: at
// once while the database is up, else when it is back (the last
// maxPendingEvents of them).
func (s *Store) AddEvent(source, kind, message string) {
	s.mu.Lock()
	s.pending = append(s.pending, Event{Time: time.Now(), Edge: s.opts.Edge, Source: source, Kind: kind, Message: message})
	if over := len(s.pending) - maxPendingEvents; over > 0 {
		s.pending = append(s.pending[:0:0], s.pending[over:]...)
		s.droppedEvents += over
	}
	s.mu.Unlock()
	select {
	case s.flushKick <- struct{}{}:
	default:
	}
}

// heartbeatLoop writes the heartbeat every Heartbeat and the pending
// events as they come, until ctx ends (the session).
func (s *Store) heartbeatLoop(ctx context.Context, pool *pgxpool.Pool) {
	s.checkEdgeName(ctx, pool)
	t := time.NewTicker(s.opts.Heartbeat)
	defer t.Stop()
	for beats := 0; ; beats++ {
		if err := s.beat(ctx, pool); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.log.Warn("writing the heartbeat failed", "err", err)
			s.opFailed(err)
		}
		s.flushEvents(ctx, pool)
		if beats%20 == 0 {
			s.prune(ctx, pool)
		}
		for waiting := true; waiting; {
			select {
			case <-ctx.Done():
				return
			case <-s.flushKick:
				s.flushEvents(ctx, pool)
			case <-t.C:
				waiting = false
			}
		}
	}
}

// checkEdgeName warns when another live process uses this edge's name:
// their heartbeats would overwrite each other.
func (s *Store) checkEdgeName(ctx context.Context, pool *pgxpool.Pool) {
	octx, cancel := s.opContext(ctx)
	defer cancel()
	var other string
	var live bool
	err := pool.QueryRow(octx, `SELECT instance, heartbeat_at > now() - make_interval(secs => $2)
		FROM edges WHERE edge = $1`, s.opts.Edge, (liveHeartbeats*s.opts.Heartbeat).Seconds()).Scan(&other, &live)
	if err == nil && live && other != s.instance {
		s.log.Error("another live edge uses this edge's name in the cluster: give each edge its own [cluster] edge", "edge", s.opts.Edge, "other", other)
	}
}

func (s *Store) beat(ctx context.Context, pool *pgxpool.Pool) error {
	rec := edgeRecord{}
	if s.opts.EdgeInfo != nil {
		rec.EdgeInfo = s.opts.EdgeInfo()
	}
	s.mu.Lock()
	rec.Outages, rec.LastOutageStart, rec.LastOutageEnd = s.conn.Outages, s.conn.LastOutageStart, s.conn.LastOutageEnd
	rec.PendingEvents = len(s.pending)
	s.mu.Unlock()
	info, _ := json.Marshal(rec)
	octx, cancel := s.opContext(ctx)
	defer cancel()
	_, err := pool.Exec(octx, `INSERT INTO edges (edge, instance, hostname, version, started_at, heartbeat_at, info)
		VALUES ($1, $2, $3, $4, $5, now(), $6)
		ON CONFLICT (edge) DO UPDATE SET instance = EXCLUDED.instance, hostname = EXCLUDED.hostname,
			version = EXCLUDED.version, started_at = EXCLUDED.started_at, heartbeat_at = now(), info = EXCLUDED.info`,
		s.opts.Edge, s.instance, s.hostname, s.opts.Version, s.started, string(info))
	return err
}

// flushEvents writes the pending events; on failure they stay pending.
func (s *Store) flushEvents(ctx context.Context, pool *pgxpool.Pool) {
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	octx, cancel := s.opContext(ctx)
	defer cancel()
	rows := make([][]any, len(batch))
	for i, e := range batch {
		rows[i] = []any{e.Time, e.Edge, e.Source, e.Kind, e.Message}
	}
	_, err := pool.CopyFrom(octx, pgx.Identifier{"events"}, []string{"at", "edge", "source", "kind", "message"}, pgx.CopyFromRows(rows))
	if err != nil {
		s.mu.Lock()
		s.pending = append(batch, s.pending...)
		if over := len(s.pending) - maxPendingEvents; over > 0 {
			s.pending = s.pending[over:]
			s.droppedEvents += over
		}
		s.mu.Unlock()
		if ctx.Err() == nil {
			s.log.Warn("writing events to the cluster failed; kept for later", "events", len(batch), "err", err)
			s.opFailed(err)
		}
	}
}

// prune drops old events and expired challenges and leases.
func (s *Store) prune(ctx context.Context, pool *pgxpool.Pool) {
	octx, cancel := s.opContext(ctx)
	defer cancel()
	for _, q := range []string{
		fmt.Sprintf("DELETE FROM events WHERE id <= (SELECT max(id) FROM events) - %d", maxEvents),
		"DELETE FROM challenges WHERE expires_at < now() - interval '1 hour'",
		"DELETE FROM leases WHERE expires_at < now() - interval '1 hour'",
	} {
		if _, err := pool.Exec(octx, q); err != nil {
			s.opFailed(err)
			return
		}
	}
	s.pruneChallenges()
}
