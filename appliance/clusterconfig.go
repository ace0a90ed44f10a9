package appliance

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"frontdoor/state/cluster"
)

// ClusterConfig is the [cluster] table: several edges sharing their
// certificates and ACME state through PostgreSQL (state/cluster; README
// "Several machines"). Without it the edge keeps everything in its own
// state file, as always.
type ClusterConfig struct {
	// Postgres is the database: a connection string ("postgres://user:pw@
	// db.internal:5432/site?sslmode=verify-full", or libpq's "host=…
	// dbname=…"), or "app": the default database of the [app]'s Django
	// settings, once frontdoor has read them. Required.
	Postgres string `toml:"postgres"`
	// Schema is the schema frontdoor creates and migrates in it (default
	// "frontdoor").
	Schema string `toml:"schema"`
	// Edge names this edge in the cluster (default: the host name); each
	// edge needs its own.
	Edge string `toml:"edge"`
	// KeyFile holds the cluster key, the same on every edge (default:
	// cluster.key in systemd's credentials directory when the unit passes
	// it, else /etc/frontdoor/cluster.key). `frontdoor cluster-key` makes
	// one.
	KeyFile string `toml:"key_file"`
	// Lease is how long an order lease lasts unless renewed: how long the
	// other edges wait before taking over the order of an edge that died
	// (default 2m).
	Lease Duration `toml:"lease"`
	// Heartbeat is how often the edge writes its heartbeat; an edge
	// silent for three is shown as gone (default 10s).
	Heartbeat Duration `toml:"heartbeat"`
	// RetryMax caps the wait between reconnections to PostgreSQL (from
	// 1s, doubling; default 30s).
	RetryMax Duration `toml:"retry_max"`
	// ChallengeWait bounds how long the ordering edge waits for the
	// other edges to confirm a challenge answer (default 5s).
	ChallengeWait Duration `toml:"challenge_wait"`
}

// postgresFromApp is the value of postgres that means the application's
// own database.
const postgresFromApp = "app"

// edgeNamePattern is what an edge name may be.
var edgeNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// edgeName is the edge's name: as configured, or the host name.
func (c *ClusterConfig) edgeName() string {
	if c.Edge != "" {
		return c.Edge
	}
	h, _ := os.Hostname()
	return h
}

// validateCluster checks the [cluster] table.
func (c *Config) validateCluster() ConfigErrors {
	cc := c.Cluster
	if cc == nil {
		return nil
	}
	var errs ConfigErrors
	add := func(key, msg, fix string) { errs = append(errs, c.problem(key, msg, fix)) }
	switch {
	case cc.Postgres == "":
		add("cluster.postgres", "the cluster's database is not set", `set postgres = "postgres://user:password@db-host:5432/dbname" or "app" (the application's own database)`)
	case cc.Postgres == postgresFromApp:
		switch len(c.Apps) {
		case 0:
			add("cluster.postgres", `"app" means the [app]'s database, and there is no [app]`, "give the connection string of the database, or add the [app] whose database the edges share")
		case 1:
		default:
			add("cluster.postgres", fmt.Sprintf(`"app" means the [app]'s database, and there are %d apps (%s)`, len(c.Apps), strings.Join(c.appNames(), ", ")),
				"give the connection string of the database the edges share")
		}
	default:
		if _, err := pgx.ParseConfig(cc.Postgres); err != nil {
			add("cluster.postgres", fmt.Sprintf("not a PostgreSQL connection string: %v", err), `write a URL such as "postgres://user:password@db-host:5432/dbname?sslmode=verify-full" or "host=db-host dbname=site user=frontdoor"`)
		}
	}
	if cc.Schema != "" && !regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`).MatchString(cc.Schema) {
		add("cluster.schema", fmt.Sprintf("%q is not a plain schema name", cc.Schema), "use lower-case letters, digits and _, such as \"frontdoor\"")
	}
	if name := cc.edgeName(); !edgeNamePattern.MatchString(name) {
		add("cluster.edge", fmt.Sprintf("%q is not an edge name", name), `name the edge with letters, digits, ".", "_" and "-", such as "edge-1"`)
	}
	path := cluster.KeyFile(cc.KeyFile)
	if _, err := cluster.LoadKey(path); err != nil {
		fix := fmt.Sprintf("make the key once with `frontdoor cluster-key > %s`, `chgrp frontdoor %s && chmod 640 %s`, and copy that file to every edge", path, path, path)
		if _, serr := os.Stat(path); serr == nil {
			fix = fmt.Sprintf("`chgrp frontdoor %s && chmod 640 %s`, with the same key on every edge (`frontdoor cluster-key` prints a new one)", path, path)
		}
		add("cluster.key_file", err.Error(), fix)
	}
	for _, d := range []struct {
		key string
		v   Duration
		min time.Duration
	}{{"cluster.lease", cc.Lease, time.Second}, {"cluster.heartbeat", cc.Heartbeat, 100 * time.Millisecond},
		{"cluster.retry_max", cc.RetryMax, 100 * time.Millisecond}, {"cluster.challenge_wait", cc.ChallengeWait, 100 * time.Millisecond}} {
		if d.v.Duration != 0 && d.v.Duration < d.min {
			add(d.key, fmt.Sprintf("%s is too short", d.v.Duration), fmt.Sprintf("use at least %s, or remove it for the default", d.min))
		}
	}
	return errs
}

// restartValue is what a reload compares: [cluster] only applies at a
// restart. The connection string shows without its password (a digest
// tells a changed one).
func (cc *ClusterConfig) restartValue() string {
	if cc == nil {
		return "none"
	}
	sum := sha256.Sum256([]byte(fmt.Sprintf("%+v", *cc)))
	db := cc.Postgres
	if db != postgresFromApp {
		db = redactedDSN(db)
	}
	return fmt.Sprintf("edge %s, postgres %s (#%s)", cc.edgeName(), db, hex.EncodeToString(sum[:4]))
}

// redactedDSN shows a connection string without its password.
func redactedDSN(dsn string) string {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return "(unparsable)"
	}
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}
