package cluster

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"
)

// Status is this edge's view of its connection to the cluster, as
// `frontdoor status` shows it. It is known without asking the database.
type Status struct {
	Edge     string `json:"edge"`
	Instance string `json:"instance"`
	// Database is the connection string without its password; empty
	// while waiting for it.
	Database string `json:"database,omitempty"`
	Schema   string `json:"schema"`
	// State is up, connecting, down or waiting; Since when it began.
	State ConnState `json:"state"`
	Since time.Time `json:"since"`
	// LastError is why the connection is not up; NextRetry when the
	// next attempt is.
	LastError     string    `json:"last_error,omitempty"`
	NextRetry     time.Time `json:"next_retry,omitzero"`
	SchemaVersion int       `json:"schema_version,omitempty"`
	// Outages counts the connections lost since start; LastOutage* is
	// the last one (End zero while it lasts).
	Outages         int       `json:"outages,omitempty"`
	LastOutageStart time.Time `json:"last_outage_start,omitzero"`
	LastOutageEnd   time.Time `json:"last_outage_end,omitzero"`
	// PendingEvents wait for the database; DroppedEvents did not fit.
	PendingEvents int `json:"pending_events,omitempty"`
	DroppedEvents int `json:"dropped_events,omitempty"`
	// Heartbeat and RetryMax are the configured periods.
	Heartbeat time.Duration `json:"heartbeat"`
	RetryMax  time.Duration `json:"retry_max"`
}

// Status returns the connection's state. It does not block on I/O.
func (s *Store) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Status{
		Edge: s.opts.Edge, Instance: s.instance, Schema: s.opts.Schema,
		State: s.conn.State, Since: s.conn.Since, LastError: s.conn.LastError, NextRetry: s.conn.NextRetry,
		SchemaVersion: s.conn.SchemaVersion, Outages: s.conn.Outages,
		LastOutageStart: s.conn.LastOutageStart, LastOutageEnd: s.conn.LastOutageEnd,
		PendingEvents: len(s.pending), DroppedEvents: s.droppedEvents,
		Heartbeat: s.opts.Heartbeat, RetryMax: s.opts.RetryMax,
	}
	if s.dsn != "" {
		st.Database = redactDSN(s.dsn)
	}
	return st
}

// View is the whole cluster as the database knows it: every edge, the
// orders under way, the latest events.
type View struct {
	Edges  []EdgeView  `json:"edges"`
	Orders []OrderView `json:"orders,omitempty"`
	Events []Event     `json:"events,omitempty"`
}

// EdgeView is one edge in View.
type EdgeView struct {
	Edge        string    `json:"edge"`
	Instance    string    `json:"instance"`
	Hostname    string    `json:"hostname"`
	Version     string    `json:"version"`
	StartedAt   time.Time `json:"started_at"`
	HeartbeatAt time.Time `json:"heartbeat_at"`
	// HeartbeatAge is the heartbeat's age by the database's clock; Live
	// says it is within three heartbeat periods.
	HeartbeatAge time.Duration `json:"heartbeat_age"`
	Live         bool          `json:"live"`
	// Self marks the edge that answered.
	Self            bool         `json:"self,omitempty"`
	Certificates    []ServedCert `json:"certificates,omitempty"`
	LastError       string       `json:"last_error,omitempty"`
	LastErrorAt     time.Time    `json:"last_error_at,omitzero"`
	Outages         int          `json:"outages,omitempty"`
	LastOutageStart time.Time    `json:"last_outage_start,omitzero"`
	LastOutageEnd   time.Time    `json:"last_outage_end,omitzero"`
	PendingEvents   int          `json:"pending_events,omitempty"`
}

// OrderView is a live order lease: an edge ordering a certificate.
type OrderView struct {
	Name       string        `json:"name"`
	Edge       string        `json:"edge"`
	Token      int64         `json:"token"`
	AcquiredAt time.Time     `json:"acquired_at"`
	Left       time.Duration `json:"left"`
}

// viewEvents is how many events View carries.
const viewEvents = 20

// View reads the cluster's state from the database; it returns
// ErrUnavailable while the database is away.
func (s *Store) View(ctx context.Context) (View, error) {
	var v View
	pool := s.currentPool()
	if pool == nil {
		return v, ErrUnavailable
	}
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	live := (liveHeartbeats * s.opts.Heartbeat).Seconds()
	rows, err := pool.Query(ctx, `SELECT edge, instance, hostname, version, started_at, heartbeat_at,
		extract(epoch FROM now() - heartbeat_at)::float8, info FROM edges ORDER BY edge`)
	if err != nil {
		s.opFailed(err)
		return v, err
	}
	for rows.Next() {
		var e EdgeView
		var age float64
		var info []byte
		if err := rows.Scan(&e.Edge, &e.Instance, &e.Hostname, &e.Version, &e.StartedAt, &e.HeartbeatAt, &age, &info); err != nil {
			rows.Close()
			return v, err
		}
		var rec edgeRecord
		json.Unmarshal(info, &rec)
		e.HeartbeatAge = time.Duration(age * float64(time.Second))
		e.Live = age < live
		e.Self = e.Instance == s.instance
		e.Certificates, e.LastError, e.LastErrorAt = rec.Certificates, rec.LastError, rec.LastErrorAt
		e.Outages, e.LastOutageStart, e.LastOutageEnd, e.PendingEvents = rec.Outages, rec.LastOutageStart, rec.LastOutageEnd, rec.PendingEvents
		v.Edges = append(v.Edges, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return v, err
	}
	rows, err = pool.Query(ctx, `SELECT name, holder, token, acquired_at, extract(epoch FROM expires_at - now())::float8
		FROM leases WHERE expires_at > now() ORDER BY name`)
	if err != nil {
		return v, err
	}
	for rows.Next() {
		var o OrderView
		var holder string
		var left float64
		if err := rows.Scan(&o.Name, &holder, &o.Token, &o.AcquiredAt, &left); err != nil {
			rows.Close()
			return v, err
		}
		o.Edge, o.Left = edgeOf(holder), time.Duration(left*float64(time.Second))
		v.Orders = append(v.Orders, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return v, err
	}
	rows, err = pool.Query(ctx, "SELECT at, edge, source, kind, message FROM events ORDER BY id DESC LIMIT $1", viewEvents)
	if err != nil {
		return v, err
	}
	v.Events, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (Event, error) {
		var e Event
		err := r.Scan(&e.Time, &e.Edge, &e.Source, &e.Kind, &e.Message)
		return e, err
	})
	return v, err
}
