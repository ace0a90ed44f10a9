// Command rateload sends HTTP/1.1 requests at a fixed rate over keep-alive
// connections and reports the latency percentiles and the CPU time the
// server under test spent per request. bench/rates.bash runs it.
//
//	rateload -addr 127.0.0.1:18280 -path /ok -rate 1000 -c 10 -d 10s -pid PID
//	rateload -idle -d 60s -pid PID
//
// The load is open-loop, like wrk2's: request i is due at start + i/rate
// whatever happened to the earlier ones, and its latency is counted from
// when it was due, not from when a connection was free to send it. A
// server that stalls is charged for every request that waited behind the
// stall (no coordinated omission). Requests are spread over -c
// connections; one that finds every connection busy waits in a queue, and
// that wait is part of its latency.
//
// The server's CPU time is read from /proc: the run time of every thread
// of -pid and of its child processes (nginx's workers are its master's
// children), in nanoseconds (/proc/PID/task/TID/schedstat), before the
// first request and after the last answer. So are the times its threads
// were put on a CPU: each is a wake-up, or a preemption.
//
// With -idle no request is sent: the same figures over -d, per second.
//
// Output: one line of key=value pairs on standard output; with -threads,
// a line per server thread on standard error (the threads' names, CPU and
// wake-ups), to see where the time goes.
package main

import (
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "server address")
	path := flag.String("path", "/", "path to request")
	rate := flag.Float64("rate", 100, "requests per second")
	conns := flag.Int("c", 10, "keep-alive connections")
	dur := flag.Duration("d", 10*time.Second, "how long to send (or, with -idle, to watch)")
	idle := flag.Bool("idle", false, "send nothing: watch the server's CPU and wake-ups for -d")
	threads := flag.Bool("threads", false, "print the server's threads' CPU and wake-ups on standard error")
	var pids pidList
	flag.Var(&pids, "pid", "server process whose CPU is measured, with its children (repeatable)")
	flag.Parse()
	if err := run(*addr, *path, *rate, *conns, *dur, *idle, *threads, pids); err != nil {
		fmt.Fprintln(os.Stderr, "rateload:", err)
		os.Exit(1)
	}
}

func run(addr, path string, rate float64, conns int, dur time.Duration, idle, threads bool, pids pidList) error {
	if idle {
		before := sample(pids)
		start := time.Now()
		time.Sleep(dur)
		usage := sample(pids).since(before)
		secs := time.Since(start).Seconds()
		fmt.Printf("secs=%.3f cpu_pct=%.4f wakeups_per_s=%.2f threads=%d\n",
			secs, 100*float64(usage.runNs)/1e9/secs, float64(usage.wakeups)/secs, usage.threads)
		if threads {
			usage.print(os.Stderr, secs, 0)
		}
		return nil
	}
	if rate <= 0 || conns <= 0 {
		return fmt.Errorf("-rate and -c must be positive")
	}
	l, err := newLoad(addr, path, conns)
	if err != nil {
		return err
	}
	defer l.close()
	before := sample(pids)
	res := l.run(rate, dur)
	usage := sample(pids).since(before)
	p := res.percentiles()
	n := float64(max(res.done, 1))
	fmt.Printf("sent=%d done=%d errors=%d secs=%.3f rate=%.1f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f cpu_us_per_req=%.2f cpu_pct=%.3f wakeups_per_req=%.3f threads=%d\n",
		res.sent, res.done, res.errors, res.secs, float64(res.done)/res.secs,
		p[0], p[1], p[2], p[3],
		float64(usage.runNs)/1e3/n, 100*float64(usage.runNs)/1e9/res.secs,
		float64(usage.wakeups)/n, usage.threads)
	if threads {
		usage.print(os.Stderr, res.secs, res.done)
	}
	if res.errors > 0 {
		return fmt.Errorf("%d requests failed; first: %v", res.errors, res.firstErr)
	}
	return nil
}
