package appliance

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"frontdoor/state/cluster"
)

// TestClusterConfig: a good [cluster] decodes; each mistake is one error
// naming the file, the line, the key and a fix.
func TestClusterConfig(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "cluster.key")
	os.WriteFile(key, []byte(cluster.NewKey()), 0o600)
	open := filepath.Join(dir, "open.key")
	os.WriteFile(open, []byte(cluster.NewKey()), 0o644)
	os.Chmod(open, 0o644)
	good := fmt.Sprintf(`[server]
http = ["127.0.0.1:8080"]

[cluster]
postgres = "postgres://frontdoor:secret@db.internal:5432/site"
edge = "edge-1"
key_file = %q
lease = "30s"
`, key)
	c, err := ParseConfig("f.toml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster == nil || c.Cluster.Edge != "edge-1" || c.Cluster.Lease.Seconds() != 30 {
		t.Fatalf("decoded %+v", c.Cluster)
	}
	if v := c.Cluster.restartValue(); strings.Contains(v, "secret") || !strings.Contains(v, "frontdoor@db.internal:5432/site") {
		t.Errorf("the restart note shows %q (no password, the database)", v)
	}

	for _, tc := range []struct {
		name, body, want string
		line             int
	}{
		{"no database", "[cluster]\nedge = \"x\"\nkey_file = %q\n", "cluster.postgres: the cluster's database is not set", 1},
		{"app without [app]", "[cluster]\npostgres = \"app\"\nkey_file = %q\n", "there is no [app]", 2},
		{"bad connection string", "[cluster]\npostgres = \"postgres://h:notaport/db\"\nkey_file = %q\n", "not a PostgreSQL connection string", 2},
		{"bad schema", "[cluster]\npostgres = \"postgres://h/db\"\nschema = \"Front Door\"\nkey_file = %q\n", "cluster.schema", 3},
		{"bad edge name", "[cluster]\npostgres = \"postgres://h/db\"\nedge = \"a/b\"\nkey_file = %q\n", "cluster.edge", 3},
		{"short lease", "[cluster]\npostgres = \"postgres://h/db\"\nkey_file = %q\nlease = \"10ms\"\n", "cluster.lease: 10ms is too short", 4},
		{"missing key", "[cluster]\npostgres = \"postgres://h/db\"\nkey_file = %q\n", "frontdoor cluster-key >", 3},
		{"key anyone reads", "[cluster]\npostgres = \"postgres://h/db\"\nkey_file = %q\n", "readable by every user", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k := key
			switch tc.name {
			case "missing key":
				k = filepath.Join(dir, "missing.key")
			case "key anyone reads":
				k = open
			}
			_, err := ParseConfig("f.toml", []byte(fmt.Sprintf(tc.body, k)))
			var errs ConfigErrors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("want one ConfigError, got %v", err)
			}
			e := errs[0]
			if !strings.Contains(e.Error(), tc.want) || e.Line != tc.line || e.Fix == "" || e.File != "f.toml" {
				t.Fatalf("got %q (line %d, fix %q), want %q at line %d", e.Error(), e.Line, e.Fix, tc.want, tc.line)
			}
		})
	}
}

// TestClusterNeedsRestart: a reload that changes [cluster] says a restart
// applies it, without showing the password.
func TestClusterNeedsRestart(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "cluster.key")
	os.WriteFile(key, []byte(cluster.NewKey()), 0o600)
	parse := func(pw string) *Config {
		c, err := ParseConfig("f.toml", []byte(fmt.Sprintf("[cluster]\npostgres = \"postgres://u:%s@db/site\"\nedge = \"e\"\nkey_file = %q\n", pw, key)))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	none, _ := ParseConfig("f.toml", []byte("[server]\n"))
	if got := restartNeeded(none, parse("one"), false); len(got) != 1 || !strings.HasPrefix(got[0], "cluster (") {
		t.Fatalf("adding [cluster]: %v", got)
	}
	got := restartNeeded(parse("one"), parse("two"), false)
	if len(got) != 1 || strings.Contains(got[0], "one") || strings.Contains(got[0], "two") {
		t.Fatalf("a new password: %v (a restart, and no password shown)", got)
	}
	if got := restartNeeded(parse("one"), parse("one"), false); len(got) != 0 {
		t.Fatalf("nothing changed: %v", got)
	}
}
