package appliance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"frontdoor/state/cluster"
)

// TestClusterPostgresFromApp: postgres = "app" connects the cluster to
// the application's own database, as its Django settings name it, once
// the supervisor has read them; the schema is created there.
func TestClusterPostgresFromApp(t *testing.T) {
	needDjango(t)
	t.Parallel()
	pg, project, static := mysiteOnPG(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "cluster.key")
	os.WriteFile(key, []byte(cluster.NewKey()), 0o600)
	addr := freePort(t)
	text := fmt.Sprintf("[app]\ndir = %q\nworkers = 1\nstatic_url = \"/static/\"\nstatic_root = %q\n\n[cluster]\npostgres = \"app\"\nedge = \"only\"\nkey_file = %q\nheartbeat = \"300ms\"\n",
		project, static, key) + serverTable(addr, dir)
	os.WriteFile(filepath.Join(dir, "frontdoor.toml"), []byte(text), 0o644)
	d := startDaemon(t, dir, addr)

	await(t, 60*time.Second, "the cluster connected to the application's database", func() bool {
		st, ok := d.tryStatus()
		return ok && st.Cluster != nil && st.Cluster.State == cluster.StateUp
	})
	st, _ := d.tryStatus()
	if !strings.Contains(st.Cluster.Database, pg.Dir) || !strings.Contains(st.Cluster.Database, "postgres@") {
		t.Errorf("the cluster's database is %q, want the application's (socket in %s)", st.Cluster.Database, pg.Dir)
	}
	conn, err := pgx.Connect(context.Background(), fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", pg.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var edge string
	if err := conn.QueryRow(context.Background(), "SELECT edge FROM frontdoor.edges").Scan(&edge); err != nil || edge != "only" {
		t.Fatalf("the edge in the application's database: %q, %v", edge, err)
	}
	out, err := cli(t, "status", "--cluster", "--admin", d.socket)
	if err != nil || !strings.Contains(out, "only (this)") {
		t.Errorf("status --cluster: %v\n%s", err, out)
	}
}
