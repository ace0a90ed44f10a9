package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunChargesAStallToEveryRequestBehindIt: the load is open-loop. A
// server that stalls once for 500 ms, at 100 requests a second over one
// connection, delays the requests due during the stall, and each is
// charged from when it was due: a closed-loop client (the next request
// sent when the last answer came) would count one slow request, and
// would send fewer in all.
func TestRunChargesAStallToEveryRequestBehindIt(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 11 { // the 10th request of the run (one warms up)
			time.Sleep(500 * time.Millisecond)
		}
		w.Write([]byte("ok\n"))
	}))
	defer srv.Close()
	l, err := newLoad(strings.TrimPrefix(srv.URL, "http://"), "/", 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	res := l.run(100, time.Second)
	if res.sent != 100 || res.done != 100 || res.errors != 0 {
		t.Fatalf("sent %d, done %d, errors %d (first %v); want 100, 100, 0", res.sent, res.done, res.errors, res.firstErr)
	}
	// Requests due up to 300 ms into the stall waited at least 200 ms
	// each, however fast or slow the machine: about 30 of them.
	slow := 0
	for _, d := range res.latencies {
		if d >= 200*time.Millisecond {
			slow++
		}
	}
	if slow < 20 {
		t.Fatalf("%d requests charged with 200 ms or more, want the ~30 due during the stall", slow)
	}
}

// TestSampleReadsThisProcess: the CPU time and wake-ups of a process's
// threads are read from /proc, and grow as it runs.
func TestSampleReadsThisProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/task"); err != nil {
		t.Skip("no /proc here")
	}
	before := sample([]int{os.Getpid()})
	if len(before) == 0 {
		t.Fatal("no thread of this process read")
	}
	for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
	}
	u := sample([]int{os.Getpid()}).since(before)
	if u.runNs <= 0 || u.threads == 0 {
		t.Fatalf("after running 20 ms: %d ns over %d threads", u.runNs, u.threads)
	}
}
