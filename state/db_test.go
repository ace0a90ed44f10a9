package state

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// openTemp opens a fresh state file in a temporary directory and closes it
// when the test ends.
func openTemp(t *testing.T, opts Options) *DB {
	t.Helper()
	db, err := Open(filepath.Join(t.TempDir(), "state.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestOpenCreatesPrivateDirectoryAndFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "lib", "frontdoor")
	path := filepath.Join(dir, "state.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, c := range []struct {
		path string
		want os.FileMode
	}{{dir, 0o700}, {path, 0o600}} {
		fi, err := os.Stat(c.path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != c.want {
			t.Errorf("%s: mode %o, want %o", c.path, got, c.want)
		}
	}
	if err := db.Check(); err != nil {
		t.Errorf("fresh file fails the consistency check: %v", err)
	}
}

func TestOpenTightensAReadableFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	fi, _ := os.Stat(path)
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("mode after reopen %o, want 600", got)
	}
}

func TestOpenRejectsARelativePath(t *testing.T) {
	if _, err := Open("state.db", Options{}); err == nil || !strings.Contains(err.Error(), "absolute") {
		t.Fatalf("Open(relative) = %v, want an error about absolute paths", err)
	}
}

func TestOpenFailsWhileAnotherHandleHoldsTheFile(t *testing.T) {
	db := openTemp(t, Options{})
	start := time.Now()
	_, err := Open(db.Path(), Options{LockTimeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "locked by another process") {
		t.Fatalf("second Open = %v, want a lock error", err)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Errorf("second Open waited %v, want about the lock timeout", waited)
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddEvent(Event{Source: "test", Kind: "k", Message: "kept"}); err != nil {
		t.Fatal(err)
	}
	if err := db.PutBlob("b", "k", []byte("v")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db, err = Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ev, err := db.Events(0)
	if err != nil || len(ev) != 1 || ev[0].Message != "kept" {
		t.Errorf("events after reopen = %+v, %v", ev, err)
	}
	if v, ok, err := db.Blob("b", "k"); err != nil || !ok || string(v) != "v" {
		t.Errorf("blob after reopen = %q %v %v", v, ok, err)
	}
}

func TestUseAfterCloseFails(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "state.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if err := db.AddEvent(Event{Message: "late"}); err == nil {
		t.Error("AddEvent after Close succeeded")
	}
}

// TestOptionsDefaults: a zero or negative option means its default; a
// positive one is kept.
func TestOptionsDefaults(t *testing.T) {
	defaults := Options{MaxEvents: DefaultMaxEvents, MaxRestarts: DefaultMaxRestarts, MaxHealth: DefaultMaxHealth,
		MaxConfigs: DefaultMaxConfigs, LockTimeout: DefaultLockTimeout}
	mine := Options{MaxEvents: 1, MaxRestarts: 2, MaxHealth: 3, MaxConfigs: 4, LockTimeout: 5}
	for _, c := range []struct {
		name     string
		in, want Options
	}{
		{"zero", Options{}, defaults},
		{"negative", Options{MaxEvents: -1, MaxRestarts: -1, MaxHealth: -1, MaxConfigs: -1, LockTimeout: -1}, defaults},
		{"given", mine, mine},
	} {
		if got := c.in.withDefaults(); got != c.want {
			t.Errorf("%s: %+v, want %+v", c.name, got, c.want)
		}
	}
}
