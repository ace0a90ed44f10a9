package cluster

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// The cluster schema is created and migrated by frontdoor itself: the
// files in migrations/ are applied in the order of their number, each
// once, recorded in schema_migrations. Edges that start together migrate
// once: the migration runs under a transaction-level advisory lock. A
// migration is never edited once released; a change is a new file.

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

var migrationName = regexp.MustCompile(`^([0-9]{4})_[a-z0-9_]+\.sql$`)

// migrations lists the embedded migrations by version.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %s: want NNNN_name.sql", e.Name())
		}
		v, _ := strconv.Atoi(m[1])
		data, err := migrationFiles.ReadFile("migrations/" + e.Name())
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: e.Name(), sql: string(data)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: versions must run 1, 2, 3… without gaps", m.name)
		}
	}
	return out, nil
}

// SchemaVersion is the schema version this build migrates to.
func SchemaVersion() int {
	ms, _ := migrations()
	return len(ms)
}

// ErrSchemaTooNew is wrapped by migrate's error when a newer frontdoor
// has migrated the schema past what this one knows.
var ErrSchemaTooNew = errors.New("the cluster schema is newer than this frontdoor")

// schemaName is what a schema name may be: a plain lower-case identifier.
var schemaName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// migrate creates the schema if needed and applies the migrations it
// lacks, in one transaction under an advisory lock. It returns the
// version before and after.
func migrate(ctx context.Context, conn *pgx.Conn, schema string) (from, to int, err error) {
	ms, err := migrations()
	if err != nil {
		return 0, 0, err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return 0, 0, err
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	// One migrating edge at a time, per schema.
	if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock(hashtext($1))", "frontdoor cluster migrate "+schema); err != nil {
		return 0, 0, fmt.Errorf("lock for migration: %w", err)
	}
	ident := pgx.Identifier{schema}.Sanitize()
	for _, q := range []string{
		"CREATE SCHEMA IF NOT EXISTS " + ident,
		"SET LOCAL search_path TO " + ident,
		`CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer     PRIMARY KEY,
			name       text        NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return 0, 0, fmt.Errorf("prepare schema %s: %w", schema, err)
		}
	}
	if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&from); err != nil {
		return 0, 0, fmt.Errorf("read the schema version: %w", err)
	}
	if from > len(ms) {
		return from, from, fmt.Errorf("%w: schema %s is at version %d, this frontdoor knows up to %d: upgrade this edge", ErrSchemaTooNew, schema, from, len(ms))
	}
	for _, m := range ms[from:] {
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return from, from, fmt.Errorf("migration %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
			return from, from, fmt.Errorf("record migration %s: %w", m.name, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return from, from, fmt.Errorf("commit migrations: %w", err)
	}
	return from, len(ms), nil
}
