package state

import (
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkOpenFull measures Open (with its consistency check) of a file
// whose event log is full.
func BenchmarkOpenFull(b *testing.B) {
	path := filepath.Join(b.TempDir(), "state.db")
	db, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	msg := strings.Repeat("m", 150)
	for range DefaultMaxEvents {
		if err := db.AddEvent(Event{Source: "bench", Kind: "k", Message: msg}); err != nil {
			b.Fatal(err)
		}
	}
	db.Close()
	b.ResetTimer()
	for b.Loop() {
		db, err := Open(path, Options{})
		if err != nil {
			b.Fatal(err)
		}
		db.Close()
	}
}

// BenchmarkAddEvent measures one committed event append (fsync included).
func BenchmarkAddEvent(b *testing.B) {
	db, err := Open(filepath.Join(b.TempDir(), "state.db"), Options{MaxEvents: 1000})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	for b.Loop() {
		if err := db.AddEvent(Event{Source: "bench", Kind: "k", Message: "an event of ordinary size"}); err != nil {
			b.Fatal(err)
		}
	}
}
