package appliance

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Memory policy. frontdoor's steady state allocates almost nothing (the
// request path is allocation-free), so a low GC target costs little CPU
// and keeps the heap close to what connections really hold; and memory
// freed after a burst (handshakes, large responses) is given back to the
// system instead of staying resident. Together they make an idle
// connection cost what its structures cost, which is what a machine
// holding tens of thousands of them needs.
//
// Looking at the heap is a timer, and an idle server should not be woken
// by timers (issue 17: each look woke three of its threads where an idle
// nginx sleeps). What the look finds changes only when the program
// allocates or collects, so while neither happened since the last look,
// the next one waits twice as long, up to releaseIdleMax.

const (
	// defaultGCPercent is the GC target unless GOGC is set.
	defaultGCPercent = 25
	// releaseEvery is how often free heap memory is looked at while the
	// heap changes.
	releaseEvery = 5 * time.Second
	// releaseIdleMax is the longest wait between two looks at an
	// unchanged heap.
	releaseIdleMax = 5 * time.Minute
	// releaseOver is how much reclaimable heap (free pages not yet given
	// back, plus garbage not yet collected) triggers a release.
	releaseOver = 4 << 20
)

// tuneMemory sets the GC target (GOGC in the environment wins) and starts
// the background release of free heap memory until ctx ends.
func tuneMemory(ctx context.Context, log *slog.Logger) {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	go releaseFreeMemory(ctx, log)
}

// heapReading is what a look at the heap reads.
type heapReading struct {
	free, objects, live uint64 // bytes
	allocs, cycles      uint64 // cumulative: bytes allocated, GC cycles
}

// releasePacer decides, at each look, whether to give free memory back
// and how long to wait for the next look.
type releasePacer struct {
	last  heapReading
	wait  time.Duration
	first bool
}

func newReleasePacer() *releasePacer { return &releasePacer{wait: releaseEvery, first: true} }

// look returns whether free memory should be released now, and the wait
// until the next look.
func (p *releasePacer) look(r heapReading) (release bool, next time.Duration) {
	changed := p.first || r.allocs != p.last.allocs || r.cycles != p.last.cycles
	p.first, p.last = false, r
	if !changed {
		// Nothing allocated or collected: what the last look decided
		// still holds, and it was acted on then.
		p.wait = min(2*p.wait, releaseIdleMax)
		return false, p.wait
	}
	p.wait = releaseEvery
	garbage := uint64(0)
	if r.objects > r.live {
		garbage = r.objects - r.live
	}
	return r.free+garbage > releaseOver, p.wait
}

func releaseFreeMemory(ctx context.Context, log *slog.Logger) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}
	read := func() heapReading {
		metrics.Read(samples)
		var v [5]uint64
		for i, s := range samples {
			if s.Value.Kind() == metrics.KindUint64 {
				v[i] = s.Value.Uint64()
			}
		}
		return heapReading{free: v[0], objects: v[1], live: v[2], allocs: v[3], cycles: v[4]}
	}
	pacer := newReleasePacer()
	t := time.NewTimer(releaseEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		release, next := pacer.look(read())
		if release {
			debug.FreeOSMemory()
			// The release collected and scavenged: read the heap it left,
			// so that its own GC cycle is not taken for new activity.
			pacer.look(read())
		}
		t.Reset(next)
	}
}
