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

const (
	// defaultGCPercent is the GC target unless GOGC is set.
	defaultGCPercent = 25
	// releaseEvery is how often free heap memory is looked at.
	releaseEvery = 5 * time.Second
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

func releaseFreeMemory(ctx context.Context, log *slog.Logger) {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/free:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
	}
	t := time.NewTicker(releaseEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(samples)
		var v [3]uint64
		for i, s := range samples {
			if s.Value.Kind() == metrics.KindUint64 {
				v[i] = s.Value.Uint64()
			}
		}
		garbage := uint64(0)
		if v[1] > v[2] {
			garbage = v[1] - v[2]
		}
		if v[0]+garbage > releaseOver {
			debug.FreeOSMemory()
		}
	}
}
