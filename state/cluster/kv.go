package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/acme/autocert"
)

// The shared entries (table kv) and their local cache. Space "" is the
// certificate cache; other spaces are blob buckets. Reads go to
// PostgreSQL while it is up (so a read after a lease sees what the
// previous holder stored) and fill the cache; while it is down they come
// from the cache. Writes go to PostgreSQL and then to the cache; while it
// is down they go to the cache only, marked dirty, and sync pushes them on
// return.

// metaBucket is the local blob bucket that records, per shared entry, the
// version of the database's copy the cache holds and whether the cache
// holds a change the database has not seen.
const metaBucket = "cluster-sync"

type entryMeta struct {
	Version int64 `json:"v"`
	Dirty   bool  `json:"d,omitempty"`
	Deleted bool  `json:"x,omitempty"` // a dirty deletion
}

func metaKey(space, key string) string { return space + "\x00" + key }

func (s *Store) getMeta(space, key string) (entryMeta, bool) {
	var m entryMeta
	data, ok, err := s.local.Blob(metaBucket, metaKey(space, key))
	if err != nil || !ok || json.Unmarshal(data, &m) != nil {
		return entryMeta{}, false
	}
	return m, true
}

func (s *Store) putMeta(space, key string, m entryMeta) error {
	data, _ := json.Marshal(m)
	return s.local.PutBlob(metaBucket, metaKey(space, key), data)
}

// localGet reads the cache (or, for a bucket not shared, the only copy).
func (s *Store) localGet(space, key string) ([]byte, bool, error) {
	if space == "" {
		v, err := s.local.CertCache().Get(context.Background(), key)
		if errors.Is(err, autocert.ErrCacheMiss) {
			return nil, false, nil
		}
		return v, err == nil, err
	}
	return s.local.Blob(space, key)
}

func (s *Store) localPut(space, key string, value []byte) error {
	if space == "" {
		return s.local.CertCache().Put(context.Background(), key, value)
	}
	return s.local.PutBlob(space, key, value)
}

func (s *Store) localDelete(space, key string) error {
	if space == "" {
		return s.local.CertCache().Delete(context.Background(), key)
	}
	return s.local.DeleteBlob(space, key)
}

// applyLocal writes what the database holds into the cache, value first:
// a crash between the two leaves an old version in the meta, so the next
// sync writes the value again.
func (s *Store) applyLocal(space, key string, value []byte, deleted bool, version int64) error {
	var err error
	if deleted {
		err = s.localDelete(space, key)
	} else {
		err = s.localPut(space, key, value)
	}
	if err != nil {
		return err
	}
	return s.putMeta(space, key, entryMeta{Version: version})
}

// writeDirty writes a change the database could not take into the cache,
// the dirty mark first: a crash between the two pushes the unchanged
// value again, which is harmless.
func (s *Store) writeDirty(space, key string, value []byte, deleted bool) error {
	m, _ := s.getMeta(space, key)
	m.Dirty, m.Deleted = true, deleted
	if err := s.putMeta(space, key, m); err != nil {
		return err
	}
	if deleted {
		return s.localDelete(space, key)
	}
	return s.localPut(space, key, value)
}

// fetch reads one entry from the database into the cache. changed says
// the cache did not have this version.
func (s *Store) fetch(ctx context.Context, pool *pgxpool.Pool, space, key string) (value []byte, found, changed bool, err error) {
	ctx, cancel := s.opContext(ctx)
	defer cancel()
	var sealed []byte
	var version int64
	var deleted bool
	err = pool.QueryRow(ctx, "SELECT value, version, deleted FROM kv WHERE space = $1 AND key = $2", space, key).Scan(&sealed, &version, &deleted)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, false, nil
	}
	if err != nil {
		return nil, false, false, err
	}
	if !deleted {
		if value, err = s.seal.open(space, key, sealed); err != nil {
			return nil, false, false, fmt.Errorf("%s/%s: %w", space, key, err)
		}
	}
	if m, ok := s.getMeta(space, key); ok && m.Version == version && !m.Dirty {
		return value, !deleted, false, nil
	}
	if err := s.applyLocal(space, key, value, deleted, version); err != nil {
		return nil, false, false, fmt.Errorf("update the local cache: %w", err)
	}
	return value, !deleted, true, nil
}

// pull is fetch for a notification: it reports whether anything changed.
func (s *Store) pull(ctx context.Context, pool *pgxpool.Pool, space, key string) (bool, error) {
	_, _, changed, err := s.fetch(ctx, pool, space, key)
	return changed, err
}

// get reads an entry: from the database while it is up, else (or when the
// read fails) from the cache.
func (s *Store) get(ctx context.Context, space, key string) ([]byte, bool, error) {
	if !s.shared[space] {
		return s.localGet(space, key)
	}
	pool := s.currentPool()
	if pool == nil {
		return s.localGet(space, key)
	}
	value, found, _, err := s.fetch(ctx, pool, space, key)
	if err != nil {
		s.log.Warn("reading the cluster's PostgreSQL failed; using the local cache", "space", space, "key", key, "err", err)
		s.opFailed(err)
		return s.localGet(space, key)
	}
	return value, found, nil
}

// upsertSQL writes an entry with a new version and tells the other edges,
// in one statement: the NOTIFY is sent when it commits.
const upsertSQL = `WITH w AS (
	INSERT INTO kv (space, key, value, version, updated_by)
	VALUES ($1, $2, $3, nextval('kv_versions'), $4)
	ON CONFLICT (space, key) DO UPDATE
		SET value = EXCLUDED.value, version = EXCLUDED.version, deleted = false,
			updated_at = now(), updated_by = EXCLUDED.updated_by
	RETURNING version)
SELECT version, pg_notify($5, json_build_object('k', 'kv', 's', $1::text, 'key', $2::text, 'v', version, 'i', $4::text)::text) FROM w`

// put writes an entry: to the database and the cache, or, while the
// database is away, to the cache alone (dirty) for sync to push later.
func (s *Store) put(ctx context.Context, space, key string, value []byte) error {
	if !s.shared[space] {
		return s.localPut(space, key, value)
	}
	if pool := s.currentPool(); pool != nil {
		octx, cancel := s.opContext(ctx)
		var version int64
		err := pool.QueryRow(octx, upsertSQL, space, key, s.seal.seal(space, key, value), s.instance, s.channel()).Scan(&version, new(string))
		cancel()
		if err == nil {
			return s.applyLocal(space, key, value, false, version)
		}
		s.log.Warn("writing to the cluster's PostgreSQL failed; kept in the local cache until it is back", "space", space, "key", key, "err", err)
		s.opFailed(err)
	}
	return s.writeDirty(space, key, value, false)
}

const deleteSQL = `WITH w AS (
	UPDATE kv SET deleted = true, value = '', version = nextval('kv_versions'),
		updated_at = now(), updated_by = $3
	WHERE space = $1 AND key = $2 AND NOT deleted
	RETURNING version)
SELECT version, pg_notify($4, json_build_object('k', 'kv', 's', $1::text, 'key', $2::text, 'v', version, 'i', $3::text)::text) FROM w`

// remove deletes an entry (a tombstone in the database, so that the
// deletion reaches edges that are away).
func (s *Store) remove(ctx context.Context, space, key string) error {
	if !s.shared[space] {
		return s.localDelete(space, key)
	}
	if pool := s.currentPool(); pool != nil {
		octx, cancel := s.opContext(ctx)
		var version int64
		err := pool.QueryRow(octx, deleteSQL, space, key, s.instance, s.channel()).Scan(&version, new(string))
		cancel()
		if errors.Is(err, pgx.ErrNoRows) {
			return s.localDelete(space, key)
		}
		if err == nil {
			return s.applyLocal(space, key, nil, true, version)
		}
		s.opFailed(err)
	}
	return s.writeDirty(space, key, nil, true)
}

// CompareAndSwap replaces the entry space/key with next only if it holds
// old now (nil: it does not exist). It returns the value it holds after
// the call and whether it swapped. It needs the database: while that is
// away it returns ErrUnavailable. Space "" is the certificate cache.
func (s *Store) CompareAndSwap(space, key string, old, next []byte) (current []byte, swapped bool, err error) {
	if !s.shared[space] {
		return nil, false, fmt.Errorf("cluster: %q is not a shared bucket", space)
	}
	pool := s.currentPool()
	if pool == nil {
		return nil, false, ErrUnavailable
	}
	ctx, cancel := s.opContext(context.Background())
	defer cancel()
	current, swapped, version, err := s.casTx(ctx, pool, space, key, old, next)
	if err != nil {
		s.opFailed(err)
		return nil, false, fmt.Errorf("cluster: compare-and-swap %s/%s: %w", space, key, err)
	}
	if version > 0 {
		if err := s.applyLocal(space, key, current, false, version); err != nil {
			return nil, false, err
		}
	}
	return current, swapped, nil
}

// casTx is CompareAndSwap's transaction. version is the entry's version
// after it (0 when the entry does not exist).
func (s *Store) casTx(ctx context.Context, pool *pgxpool.Pool, space, key string, old, next []byte) (current []byte, swapped bool, version int64, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return nil, false, 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var sealed []byte
	var deleted bool
	err = tx.QueryRow(ctx, "SELECT value, version, deleted FROM kv WHERE space = $1 AND key = $2 FOR UPDATE", space, key).Scan(&sealed, &version, &deleted)
	exists := err == nil && !deleted
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, false, 0, err
	}
	if exists {
		if current, err = s.seal.open(space, key, sealed); err != nil {
			return nil, false, 0, err
		}
	}
	if exists != (old != nil) || (exists && !bytes.Equal(current, old)) {
		if !exists {
			version = 0
		}
		return current, false, version, tx.Commit(ctx)
	}
	sealedNext := s.seal.seal(space, key, next)
	if errors.Is(err, pgx.ErrNoRows) {
		// Absent: insert, unless another edge inserted it meanwhile (the
		// unique key makes this statement wait for its commit).
		err = tx.QueryRow(ctx, `WITH w AS (
			INSERT INTO kv (space, key, value, version, updated_by) VALUES ($1, $2, $3, nextval('kv_versions'), $4)
			ON CONFLICT (space, key) DO NOTHING RETURNING version)
			SELECT version, pg_notify($5, json_build_object('k', 'kv', 's', $1::text, 'key', $2::text, 'v', version, 'i', $4::text)::text) FROM w`,
			space, key, sealedNext, s.instance, s.channel()).Scan(&version, new(string))
		if errors.Is(err, pgx.ErrNoRows) {
			tx.Rollback(ctx)
			v, found, err := s.fetchForCAS(ctx, pool, space, key)
			if err != nil || !found {
				return nil, false, 0, err
			}
			return v.value, false, v.version, nil
		}
	} else {
		err = tx.QueryRow(ctx, upsertSQL, space, key, sealedNext, s.instance, s.channel()).Scan(&version, new(string))
	}
	if err != nil {
		return nil, false, 0, err
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, false, 0, err
	}
	return next, true, version, nil
}

type versioned struct {
	value   []byte
	version int64
}

func (s *Store) fetchForCAS(ctx context.Context, pool *pgxpool.Pool, space, key string) (versioned, bool, error) {
	var sealed []byte
	var v versioned
	var deleted bool
	err := pool.QueryRow(ctx, "SELECT value, version, deleted FROM kv WHERE space = $1 AND key = $2", space, key).Scan(&sealed, &v.version, &deleted)
	if errors.Is(err, pgx.ErrNoRows) || deleted {
		return v, false, nil
	}
	if err != nil {
		return v, false, err
	}
	v.value, err = s.seal.open(space, key, sealed)
	return v, err == nil, err
}

// entryRef names one shared entry.
type entryRef struct{ space, key string }

// sync brings the cache and the database together after a (re)connection:
// it pushes what the cache holds that the database lacks (a new cluster
// is seeded from the edges' existing state) or what changed here while
// the database was away (the database's copy wins when it changed too),
// then reads back every entry whose version the cache does not have. It
// returns the entries that changed here.
func (s *Store) sync(ctx context.Context, pool *pgxpool.Pool) ([]change, error) {
	spaces := make([]string, 0, len(s.shared))
	for sp := range s.shared {
		spaces = append(spaces, sp)
	}
	remote := map[entryRef]int64{}
	rows, err := pool.Query(ctx, "SELECT space, key, version FROM kv WHERE space = ANY($1)", spaces)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var r entryRef
		var v int64
		if err := rows.Scan(&r.space, &r.key, &v); err != nil {
			rows.Close()
			return nil, err
		}
		remote[r] = v
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}

	local, err := s.localEntries(spaces)
	if err != nil {
		return nil, err
	}
	pushed, conflicts := 0, 0
	for _, r := range local {
		m, hasMeta := s.getMeta(r.space, r.key)
		rv, inRemote := remote[r]
		switch {
		case m.Dirty && m.Deleted:
			if inRemote && rv == m.Version {
				if _, err := pool.Exec(ctx, deleteSQL, r.space, r.key, s.instance, s.channel()); err != nil {
					return nil, err
				}
				pushed++
			} else if inRemote {
				conflicts++
			}
			if !inRemote {
				s.local.DeleteBlob(metaBucket, metaKey(r.space, r.key))
			}
		case m.Dirty && inRemote && rv == m.Version:
			ok, err := s.pushValue(ctx, pool, r, true)
			if err != nil {
				return nil, err
			}
			if ok {
				pushed++
			}
		case m.Dirty && inRemote:
			conflicts++ // changed on both sides: the database's copy wins
			s.log.Info("an entry changed here and in the cluster while PostgreSQL was away; keeping the cluster's", "space", r.space, "key", r.key)
		case !inRemote && (m.Dirty || !hasMeta || m.Version > 0):
			// Not in the database: a new cluster, a wiped schema, or a
			// change made here while away. Seed it.
			ok, err := s.pushValue(ctx, pool, r, false)
			if err != nil {
				return nil, err
			}
			if ok {
				pushed++
			}
		}
	}
	if pushed > 0 || conflicts > 0 {
		s.log.Info("pushed this edge's changes to the cluster", "pushed", pushed, "conflicts_lost", conflicts)
	}

	var changed []change
	rows, err = pool.Query(ctx, "SELECT space, key, value, version, deleted FROM kv WHERE space = ANY($1)", spaces)
	if err != nil {
		return nil, err
	}
	type row struct {
		r       entryRef
		sealed  []byte
		version int64
		deleted bool
	}
	var all []row
	for rows.Next() {
		var x row
		if err := rows.Scan(&x.r.space, &x.r.key, &x.sealed, &x.version, &x.deleted); err != nil {
			rows.Close()
			return nil, err
		}
		all = append(all, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, x := range all {
		if m, ok := s.getMeta(x.r.space, x.r.key); ok && m.Version == x.version && !m.Dirty {
			continue
		}
		var value []byte
		if !x.deleted {
			if value, err = s.seal.open(x.r.space, x.r.key, x.sealed); err != nil {
				s.log.Error("an entry in the cluster schema does not open with this edge's key; skipped", "space", x.r.space, "key", x.r.key)
				continue
			}
		}
		if err := s.applyLocal(x.r.space, x.r.key, value, x.deleted, x.version); err != nil {
			return nil, err
		}
		changed = append(changed, change{x.r.space, x.r.key})
	}
	return changed, nil
}

// pushValue writes the cached value of r to the database: over the
// version the cache was based on (ifVersion), or only where the database
// has no such entry. ok is false when the database's copy stays (it
// changed meanwhile, or another edge seeded it first).
func (s *Store) pushValue(ctx context.Context, pool *pgxpool.Pool, r entryRef, ifVersion bool) (bool, error) {
	value, found, err := s.localGet(r.space, r.key)
	if err != nil || !found {
		return false, err
	}
	sealed := s.seal.seal(r.space, r.key, value)
	var version int64
	if ifVersion {
		m, _ := s.getMeta(r.space, r.key)
		err = pool.QueryRow(ctx, `WITH w AS (
			UPDATE kv SET value = $3, version = nextval('kv_versions'), deleted = false, updated_at = now(), updated_by = $4
			WHERE space = $1 AND key = $2 AND version = $6 RETURNING version)
			SELECT version, pg_notify($5, json_build_object('k', 'kv', 's', $1::text, 'key', $2::text, 'v', version, 'i', $4::text)::text) FROM w`,
			r.space, r.key, sealed, s.instance, s.channel(), m.Version).Scan(&version, new(string))
	} else {
		err = pool.QueryRow(ctx, `WITH w AS (
			INSERT INTO kv (space, key, value, version, updated_by) VALUES ($1, $2, $3, nextval('kv_versions'), $4)
			ON CONFLICT (space, key) DO NOTHING RETURNING version)
			SELECT version, pg_notify($5, json_build_object('k', 'kv', 's', $1::text, 'key', $2::text, 'v', version, 'i', $4::text)::text) FROM w`,
			r.space, r.key, sealed, s.instance, s.channel()).Scan(&version, new(string))
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, s.putMeta(r.space, r.key, entryMeta{Version: version})
}

// localEntries lists the shared entries the cache holds, and the dirty
// deletions it remembers.
func (s *Store) localEntries(spaces []string) ([]entryRef, error) {
	seen := map[entryRef]bool{}
	var out []entryRef
	add := func(r entryRef) {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	for _, sp := range spaces {
		var keys []string
		var err error
		if sp == "" {
			keys, err = s.local.CertKeys()
		} else {
			keys, err = s.local.BlobKeys(sp)
		}
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			add(entryRef{sp, k})
		}
	}
	metaKeys, err := s.local.BlobKeys(metaBucket)
	if err != nil {
		return nil, err
	}
	for _, mk := range metaKeys {
		sp, k, ok := strings.Cut(mk, "\x00")
		if ok && s.shared[sp] {
			if m, _ := s.getMeta(sp, k); m.Dirty && m.Deleted {
				add(entryRef{sp, k})
			}
		}
	}
	return out, nil
}
