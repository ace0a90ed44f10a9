package supervisor

import (
	"context"
	"time"

	"github.com/shirou/gopsutil/v3/process"
)

// usage is a child's resource use, summed over its whole process tree (a
// gunicorn master and its workers).
type usage struct {
	at         time.Time
	cpuSeconds float64 // user+system time of the tree's live processes
	cpuPercent float64 // over the last sample interval; 100 is one full core
	rss        uint64  // resident memory, bytes
	procs      int     // processes in the tree
}

// sampleTrees measures the process trees rooted at roots. It reads /proc
// once for the parent links of every process, then CPU times and memory
// of the tree members. Processes that vanish midway are skipped.
func sampleTrees(ctx context.Context, roots []int) map[int]usage {
	out := make(map[int]usage, len(roots))
	if len(roots) == 0 {
		return out
	}
	pids, err := process.PidsWithContext(ctx)
	if err != nil {
		return out
	}
	children := map[int32][]int32{}
	for _, pid := range pids {
		p := &process.Process{Pid: pid}
		ppid, err := p.PpidWithContext(ctx)
		if err != nil {
			continue
		}
		children[ppid] = append(children[ppid], pid)
	}
	now := time.Now()
	for _, root := range roots {
		u := usage{at: now}
		queue := []int32{int32(root)}
		for len(queue) > 0 {
			pid := queue[0]
			queue = queue[1:]
			queue = append(queue, children[pid]...)
			p := &process.Process{Pid: pid}
			times, err := p.TimesWithContext(ctx)
			if err != nil {
				continue
			}
			mem, err := p.MemoryInfoWithContext(ctx)
			if err != nil {
				continue
			}
			u.cpuSeconds += times.User + times.System
			u.rss += mem.RSS
			u.procs++
		}
		out[root] = u
	}
	return out
}

// withPercent fills cur.cpuPercent from the previous sample of the same tree.
func withPercent(prev, cur usage) usage {
	if prev.at.IsZero() {
		return cur
	}
	wall := cur.at.Sub(prev.at).Seconds()
	if wall <= 0 {
		return cur
	}
	// A worker that exited takes its CPU time with it: never negative.
	cur.cpuPercent = max(0, (cur.cpuSeconds-prev.cpuSeconds)/wall*100)
	return cur
}
