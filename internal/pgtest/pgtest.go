// Package pgtest runs a throwaway PostgreSQL server for tests, as a plain
// process (no systemd, no cluster wrapper): initdb into a temporary
// directory, pg_ctl start and stop, trust authentication, no fsync.
package pgtest

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"testing"

	"frontdoor/internal/testkit"
)

// BinDir holds Debian 12's PostgreSQL 15 server binaries.
const BinDir = "/usr/lib/postgresql/15/bin"

// Server is a PostgreSQL server started by a test.
type Server struct {
	t    testing.TB
	Dir  string // owned by postgres: data/, the socket, the log
	Port int    // on 127.0.0.1
}

// Start initialises and starts a server listening on 127.0.0.1 and on a
// socket in its own directory; it is stopped when the test ends. It skips
// the test with -short (make test-quick), and when PostgreSQL 15 or the postgres user is missing, or when not
// root (CI: apt-get install postgresql).
func Start(t testing.TB) *Server {
	t.Helper()
	if testing.Short() {
		t.Skip("starts PostgreSQL; skipped with -short")
	}
	if _, err := os.Stat(filepath.Join(BinDir, "initdb")); err != nil {
		t.Skipf("PostgreSQL 15 server binaries missing (apt-get install postgresql): %v", err)
	}
	pgUser, err := user.Lookup("postgres")
	if err != nil || os.Geteuid() != 0 {
		t.Skipf("needs root and the postgres user (apt-get install postgresql): %v", err)
	}
	// Not t.TempDir: its parents are mode 0700, closed to postgres.
	dir, err := os.MkdirTemp("", "fd-pg-")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, Dir: dir}
	t.Cleanup(func() {
		_ = s.ctl("stop", "-m", "immediate")
		_ = os.RemoveAll(dir)
	})
	if out, err := exec.Command("chown", pgUser.Uid+":"+pgUser.Gid, dir).CombinedOutput(); err != nil {
		t.Fatalf("chown %s: %v %s", dir, err, out)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	s.Port = testkit.FreePort(t)
	if out, err := asPostgres(filepath.Join(BinDir, "initdb"), "-D", filepath.Join(dir, "data"),
		"-A", "trust", "-U", "postgres", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.Start()
	return s
}

// Start starts the server again after Stop.
func (s *Server) Start() {
	s.t.Helper()
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -k %s -c fsync=off", s.Port, s.Dir)
	if err := s.ctl("-o", opts, "start"); err != nil {
		s.t.Fatal(err)
	}
}

// Stop stops the server (fast shutdown: sessions are ended).
func (s *Server) Stop() {
	s.t.Helper()
	if err := s.ctl("stop", "-m", "fast"); err != nil {
		s.t.Fatal(err)
	}
}

func (s *Server) ctl(args ...string) error {
	args = append([]string{"-D", filepath.Join(s.Dir, "data"), "-l", filepath.Join(s.Dir, "log"), "-w"}, args...)
	out, err := asPostgres(filepath.Join(BinDir, "pg_ctl"), args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %v: %w\n%s", args, err, out)
	}
	return nil
}

func asPostgres(name string, args ...string) *exec.Cmd {
	return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
}
