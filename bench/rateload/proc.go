package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// pidList is the -pid flag: the server processes measured.
type pidList []int

func (p *pidList) String() string { return fmt.Sprint(*p) }

func (p *pidList) Set(s string) error {
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return fmt.Errorf("-pid %q: not a process id", f)
		}
		*p = append(*p, n)
	}
	return nil
}

// task is one thread's counters from /proc/PID/task/TID/schedstat: the
// nanoseconds it ran, and how many times it was put on a CPU.
type task struct {
	name    string
	runNs   int64
	wakeups int64
}

// snapshot is every thread of the measured processes, by "pid/tid".
type snapshot map[string]task

// sample reads the threads of pids and of their descendants.
func sample(pids []int) snapshot {
	s := snapshot{}
	seen := map[int]bool{}
	var walk func(pid int)
	walk = func(pid int) {
		if seen[pid] {
			return
		}
		seen[pid] = true
		dir := fmt.Sprintf("/proc/%d/task", pid)
		tids, _ := os.ReadDir(dir)
		for _, t := range tids {
			td := filepath.Join(dir, t.Name())
			if st, ok := readTask(td); ok {
				s[fmt.Sprintf("%d/%s", pid, t.Name())] = st
			}
			kids, _ := os.ReadFile(filepath.Join(td, "children"))
			for _, k := range strings.Fields(string(kids)) {
				if n, err := strconv.Atoi(k); err == nil {
					walk(n)
				}
			}
		}
	}
	for _, p := range pids {
		walk(p)
	}
	return s
}

func readTask(dir string) (task, bool) {
	b, err := os.ReadFile(filepath.Join(dir, "schedstat"))
	if err != nil {
		return task{}, false
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return task{}, false
	}
	run, err1 := strconv.ParseInt(f[0], 10, 64)
	wake, err2 := strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil {
		return task{}, false
	}
	name, _ := os.ReadFile(filepath.Join(dir, "comm"))
	return task{name: strings.TrimSpace(string(name)), runNs: run, wakeups: wake}, true
}

// usage is what the measured threads did between two snapshots. A thread
// that ended in between is not counted (Go and nginx keep theirs).
type usage struct {
	runNs, wakeups int64
	threads        int
	per            map[string]task
}

func (s snapshot) since(before snapshot) usage {
	u := usage{per: map[string]task{}}
	for id, t := range s {
		b := before[id] // zero for a thread started in between
		d := task{name: t.name, runNs: t.runNs - b.runNs, wakeups: t.wakeups - b.wakeups}
		u.runNs += d.runNs
		u.wakeups += d.wakeups
		u.threads++
		u.per[id] = d
	}
	return u
}

// print writes a line per thread, busiest first: CPU and wake-ups per
// second, and per request when requests is not 0.
func (u usage) print(w io.Writer, secs float64, requests int) {
	ids := make([]string, 0, len(u.per))
	for id := range u.per {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return u.per[ids[i]].runNs > u.per[ids[j]].runNs })
	for _, id := range ids {
		t := u.per[id]
		fmt.Fprintf(w, "thread %-14s %-16s cpu %8.3f ms/s %9.1f wakeups/s", id, t.name,
			float64(t.runNs)/1e6/secs, float64(t.wakeups)/secs)
		if requests > 0 {
			fmt.Fprintf(w, "  %7.2f us/req %6.3f wakeups/req", float64(t.runNs)/1e3/float64(requests),
				float64(t.wakeups)/float64(requests))
		}
		fmt.Fprintln(w)
	}
}
