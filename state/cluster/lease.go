package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// One order per name for the whole cluster. An edge orders a certificate
// for a name only while it holds that name's lease: a row in leases whose
// expires_at (the database's clock: the edges' clocks never compare) is
// in the future. The holder renews it while the order runs; an edge that
// dies stops renewing, and once the lease runs out another edge takes it
// over. Every acquisition draws a new token from a sequence, the fencing
// token: the certificate is stored only if the lease is still live and
// still carries that token, and no certificate stored under a later token
// exists. So an edge that stalled past its lease (a long pause, a lost
// connection) and wakes up with a certificate cannot overwrite the one the
// edge that took over stored.

// ErrLeaseLost: the lease ran out or another edge took it over; nothing
// was stored.
var ErrLeaseLost = errors.New("cluster: the order lease was lost (it ran out, or another edge took it over)")

// ErrStale: a certificate stored under a later lease is in place; nothing
// was stored.
var ErrStale = errors.New("cluster: a newer certificate is already stored, under a later lease")

// LockOrder takes the order lease on name for ttl. It returns the lease's
// fencing token, or token 0 with the holding edge's name and when its
// lease runs out (by this machine's clock) when another edge holds it. It
// returns ErrUnavailable while the database is away: no order then.
func (s *Store) LockOrder(ctx context.Context, name string, ttl time.Duration) (token int64, holder string, until time.Time, err error) {
	pool := s.currentPool()
	if pool == nil {
		return 0, "", time.Time{}, ErrUnavailable
	}
	for range 3 { // a lease released between the two statements: ask again
		octx, cancel := s.opContext(ctx)
		err = pool.QueryRow(octx, `INSERT INTO leases (name, token, holder, acquired_at, expires_at)
			VALUES ($1, nextval('lease_tokens'), $2, now(), now() + make_interval(secs => $3))
			ON CONFLICT (name) DO UPDATE SET token = EXCLUDED.token, holder = EXCLUDED.holder,
				acquired_at = EXCLUDED.acquired_at, expires_at = EXCLUDED.expires_at
			WHERE leases.expires_at <= now()
			RETURNING token`, name, s.instance, ttl.Seconds()).Scan(&token)
		if err == nil {
			cancel()
			return token, s.opts.Edge, time.Now().Add(ttl), nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			cancel()
			s.opFailed(err)
			return 0, "", time.Time{}, fmt.Errorf("cluster: take the order lease of %s: %w", name, err)
		}
		var left float64
		err = pool.QueryRow(octx, "SELECT holder, extract(epoch FROM expires_at - now())::float8 FROM leases WHERE name = $1", name).Scan(&holder, &left)
		cancel()
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			s.opFailed(err)
			return 0, "", time.Time{}, fmt.Errorf("cluster: read the order lease of %s: %w", name, err)
		}
		return 0, edgeOf(holder), time.Now().Add(time.Duration(left * float64(time.Second))), nil
	}
	return 0, "", time.Time{}, fmt.Errorf("cluster: the order lease of %s keeps changing hands", name)
}

// RenewOrder extends the lease held with token to ttl from now; it
// returns ErrLeaseLost when the lease ran out or changed hands.
func (s *Store) RenewOrder(ctx context.Context, name string, token int64, ttl time.Duration) error {
	pool := s.currentPool()
	if pool == nil {
		return ErrUnavailable
	}
	octx, cancel := s.opContext(ctx)
	defer cancel()
	tag, err := pool.Exec(octx, `UPDATE leases SET expires_at = now() + make_interval(secs => $3)
		WHERE name = $1 AND token = $2 AND expires_at > now()`, name, token, ttl.Seconds())
	if err != nil {
		s.opFailed(err)
		return fmt.Errorf("cluster: renew the order lease of %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return ErrLeaseLost
	}
	return nil
}

// UnlockOrder ends the lease held with token (nothing when it is not
// held any more).
func (s *Store) UnlockOrder(ctx context.Context, name string, token int64) error {
	pool := s.currentPool()
	if pool == nil {
		return ErrUnavailable
	}
	octx, cancel := s.opContext(ctx)
	defer cancel()
	if _, err := pool.Exec(octx, "DELETE FROM leases WHERE name = $1 AND token = $2", name, token); err != nil {
		s.opFailed(err)
		return fmt.Errorf("cluster: release the order lease of %s: %w", name, err)
	}
	return nil
}

// PutCertificate stores data (the certificate cache's entry for name)
// for every edge, only while token holds a live lease on name and no
// certificate stored under a later token exists: else ErrLeaseLost or
// ErrStale, and nothing changes.
func (s *Store) PutCertificate(ctx context.Context, name string, token int64, data []byte) error {
	pool := s.currentPool()
	if pool == nil {
		return ErrUnavailable
	}
	octx, cancel := s.opContext(ctx)
	defer cancel()
	version, err := s.fencedPut(octx, name, token, data)
	if err != nil {
		s.opFailed(err)
		return err
	}
	return s.applyLocal("", name, data, false, version)
}

func (s *Store) fencedPut(ctx context.Context, name string, token int64, data []byte) (int64, error) {
	pool := s.currentPool()
	if pool == nil {
		return 0, ErrUnavailable
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// The lease row's lock orders this against a takeover: one that
	// commits first makes this fail; one that comes later waits.
	var held int64
	var live bool
	err = tx.QueryRow(ctx, "SELECT token, expires_at > now() FROM leases WHERE name = $1 FOR UPDATE", name).Scan(&held, &live)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (held != token || !live)) {
		return 0, ErrLeaseLost
	}
	if err != nil {
		return 0, err
	}
	var fence int64
	err = tx.QueryRow(ctx, "SELECT fence FROM kv WHERE space = '' AND key = $1 FOR UPDATE", name).Scan(&fence)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return 0, err
	}
	if fence > token {
		return 0, ErrStale
	}
	var version int64
	err = tx.QueryRow(ctx, `WITH w AS (
		INSERT INTO kv (space, key, value, version, fence, updated_by) VALUES ('', $1, $2, nextval('kv_versions'), $3, $4)
		ON CONFLICT (space, key) DO UPDATE
			SET value = EXCLUDED.value, version = EXCLUDED.version, deleted = false, fence = EXCLUDED.fence,
				updated_at = now(), updated_by = EXCLUDED.updated_by
		RETURNING version)
		SELECT version, pg_notify($5, json_build_object('k', 'kv', 's', '', 'key', $1::text, 'v', version, 'i', $4::text)::text) FROM w`,
		name, s.seal.seal("", name, data), token, s.instance, s.channel()).Scan(&version, new(string))
	if err != nil {
		return 0, err
	}
	return version, tx.Commit(ctx)
}

// edgeOf is the edge name of an instance ("edge/suffix").
func edgeOf(instance string) string {
	edge, _, _ := strings.Cut(instance, "/")
	return edge
}
