package appliance

import (
	"testing"
	"time"
)

// TestReleasePacerBacksOffOnAnIdleHeap: a heap that neither allocated nor
// collected since the last look is looked at half as often each time, up
// to releaseIdleMax, and never released again; any allocation or GC cycle
// brings the looks back to every releaseEvery, and the release decision
// is the reclaimable memory's (free pages plus garbage).
func TestReleasePacerBacksOffOnAnIdleHeap(t *testing.T) {
	p := newReleasePacer()
	big := heapReading{free: 8 << 20, objects: 10 << 20, live: 9 << 20, allocs: 100, cycles: 3}
	if release, next := p.look(big); !release || next != releaseEvery {
		t.Fatalf("first look at 9 MiB reclaimable: release %v, next %v; want true, %v", release, next, releaseEvery)
	}
	// The release is not repeated while nothing happens; the looks space out.
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, releaseIdleMax, releaseIdleMax}
	for i, w := range want {
		if release, next := p.look(big); release || next != w {
			t.Fatalf("idle look %d: release %v, next %v; want false, %v", i+1, release, next, w)
		}
	}
	// An allocation: back to every releaseEvery, decided on the figures.
	small := heapReading{free: 1 << 20, objects: 10 << 20, live: 9<<20 + 512<<10, allocs: 200, cycles: 3}
	if release, next := p.look(small); release || next != releaseEvery {
		t.Fatalf("after an allocation, 1.5 MiB reclaimable: release %v, next %v; want false, %v", release, next, releaseEvery)
	}
	if _, next := p.look(small); next != 2*releaseEvery {
		t.Fatalf("idle again: next %v, want %v", next, 2*releaseEvery)
	}
	// A GC cycle alone (garbage turned into free pages) counts as a change.
	collected := small
	collected.cycles, collected.free, collected.live, collected.objects = 4, 6<<20, 9<<20, 9<<20
	if release, next := p.look(collected); !release || next != releaseEvery {
		t.Fatalf("after a GC cycle, 6 MiB free: release %v, next %v; want true, %v", release, next, releaseEvery)
	}
}
