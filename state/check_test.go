package state

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
)

// Check must be able to fail: damage the page headers of the data pages of
// a closed file; Open must refuse it with ErrDamaged instead of letting
// bbolt panic on the damaged pages later.
func TestCheckReportsDamage(t *testing.T) {
	db := openTemp(t, Options{})
	for range 200 {
		must(t, db.AddEvent(Event{Message: strings.Repeat("m", 500)}))
	}
	must(t, db.Check())
	path := db.Path()
	must(t, db.Close())

	data, err := os.ReadFile(path)
	must(t, err)
	pageSize := os.Getpagesize()
	const leafFlag, headerFlagsOffset = 0x02, 8
	damaged := 0
	for off := 2 * pageSize; off+pageSize <= len(data); off += pageSize {
		if binary.LittleEndian.Uint16(data[off+headerFlagsOffset:]) == leafFlag {
			binary.LittleEndian.PutUint16(data[off+headerFlagsOffset:], 0x40) // no such page type
			damaged++
		}
	}
	if damaged == 0 {
		t.Fatal("found no leaf page to damage")
	}
	must(t, os.WriteFile(path, data, 0o600))

	_, err = Open(path, Options{})
	if !errors.Is(err, ErrDamaged) {
		t.Fatalf("Open of a file with %d damaged pages = %v, want ErrDamaged", damaged, err)
	}
	t.Logf("Open refused it: %.300s", err)
}
