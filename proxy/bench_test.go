package proxy

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// The benchmarks below drive a one-worker engine (busy polling off, so
// that only the work per request counts) with keep-alive clients in the
// same process, and report, besides the wall time per request, the CPU
// time per request of the worker's thread (worker-ns/req: the thread that
// ran longest, since the worker is locked to its own) and of the whole
// process (cpu-ns/req: the clients' and, proxied, the upstream's too).
// They compare two versions of the engine on one machine (go test -bench,
// old and new, interleaved); the figures against nginx are bench/run's.

// BenchmarkStaticKeepAlive: a 1 KiB file kept in memory, 16 clients.
func BenchmarkStaticKeepAlive(b *testing.B) {
	root := b.TempDir()
	body := make([]byte, 1024)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	writeFile(b, filepath.Join(root, "1k.txt"), string(body))
	cfg := staticSite(root)
	cfg.Workers = 1
	cfg.BusyPoll = -1
	te := startEngine(b, cfg)
	benchRoundTrips(b, te.addr, "GET /1k.txt HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\n\r\n", string(body[len(body)-16:]))
}

// BenchmarkProxiedKeepAlive: a small response from an upstream that
// allocates nothing, over the pool, 16 clients.
func BenchmarkProxiedKeepAlive(b *testing.B) {
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
	addr := serveTCP(b, func(up net.Conn) { serveFixed(up, resp) })
	cfg := proxySite(addr)
	cfg.Workers = 1
	cfg.BusyPoll = -1
	te := startEngine(b, cfg)
	benchRoundTrips(b, te.addr, "GET /page HTTP/1.1\r\nHost: example.com\r\nUser-Agent: bench\r\n\r\n", "\r\n\r\nok\n")
}

// benchRoundTrips sends req b.N times over 16 keep-alive connections, each
// response read until it ends with last.
func benchRoundTrips(b *testing.B, addr, req, last string) {
	const clients = 16
	conns := make([]net.Conn, clients)
	for i := range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	reqBytes := []byte(req)
	roundTrip := func(c net.Conn, buf []byte) error {
		if _, err := c.Write(reqBytes); err != nil {
			return err
		}
		got := 0
		for {
			n, err := c.Read(buf[got:])
			if err != nil {
				return err
			}
			got += n
			if got >= len(last) && string(buf[got-len(last):got]) == last {
				return nil
			}
			if got == len(buf) {
				got = copy(buf, buf[got-len(last):got])
			}
		}
	}
	warm := make([]byte, 8192)
	for _, c := range conns {
		for range 50 {
			if err := roundTrip(c, warm); err != nil {
				b.Fatal(err)
			}
		}
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	cpu0, threads0 := processCPU(), threadCPU()
	start := time.Now()
	b.ResetTimer()
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 8192)
			for left.Add(-1) >= 0 {
				if err := roundTrip(c, buf); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	elapsed := time.Since(start)
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/req")
	var worker int64
	for tid, ns := range threadCPU() {
		worker = max(worker, ns-threads0[tid])
	}
	b.ReportMetric(float64(worker)/float64(b.N), "worker-ns/req")
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
}

// processCPU is the process's user and system CPU time in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// threadCPU is each thread's time on a CPU in nanoseconds, by thread id
// (the first field of /proc/self/task/TID/schedstat).
func threadCPU() map[string]int64 {
	out := map[string]int64{}
	tids, _ := os.ReadDir("/proc/self/task")
	for _, t := range tids {
		data, err := os.ReadFile("/proc/self/task/" + t.Name() + "/schedstat")
		if err != nil {
			continue
		}
		f, _, _ := bytes.Cut(data, []byte{' '})
		if ns, err := strconv.ParseInt(string(f), 10, 64); err == nil {
			out[t.Name()] = ns
		}
	}
	return out
}
