package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// load is a set of keep-alive connections to one server, each with a
// goroutine that sends the requests handed to it.
type load struct {
	conns []net.Conn
	req   []byte
}

// newLoad opens n connections and makes one request on each, so that the
// measured run starts with warm connections (and a warm backend pool
// behind a proxy).
func newLoad(addr, path string, n int) (*load, error) {
	l := &load{req: []byte("GET " + path + " HTTP/1.1\r\nHost: bench\r\nUser-Agent: rateload\r\n\r\n")}
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("connect %s: %w", addr, err)
		}
		l.conns = append(l.conns, c)
		if err := l.roundTrip(c, bufio.NewReader(c)); err != nil {
			l.close()
			return nil, fmt.Errorf("first request to %s: %w", addr, err)
		}
	}
	return l, nil
}

func (l *load) close() {
	for _, c := range l.conns {
		c.Close()
	}
}

// roundTrip sends one request on c and reads its whole answer.
func (l *load) roundTrip(c net.Conn, br *bufio.Reader) error {
	if _, err := c.Write(l.req); err != nil {
		return err
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}

// result is what a run measured.
type result struct {
	sent, done, errors int
	firstErr           error
	secs               float64
	latencies          []time.Duration // of the answered requests
}

// percentiles returns p50, p99, p99.9 and the maximum, in milliseconds.
func (r *result) percentiles() [4]float64 {
	var p [4]float64
	if len(r.latencies) == 0 {
		return p
	}
	slices.Sort(r.latencies)
	at := func(q float64) float64 {
		i := min(int(q*float64(len(r.latencies))), len(r.latencies)-1)
		return float64(r.latencies[i]) / 1e6
	}
	return [4]float64{at(0.50), at(0.99), at(0.999), float64(r.latencies[len(r.latencies)-1]) / 1e6}
}

// run sends requests at rate for dur, open-loop, and waits for the last
// answer (at most 10 s after the last request was due).
func (l *load) run(rate float64, dur time.Duration) result {
	total := int(rate * dur.Seconds())
	due := make(chan time.Time, total+1)
	var (
		mu  sync.Mutex
		res = result{latencies: make([]time.Duration, 0, total)}
		wg  sync.WaitGroup
	)
	for _, c := range l.conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			br := bufio.NewReader(c)
			for t := range due {
				err := l.roundTrip(c, br)
				lat := time.Since(t)
				mu.Lock()
				if err != nil {
					res.errors++
					if res.firstErr == nil {
						res.firstErr = err
					}
				} else {
					res.done++
					res.latencies = append(res.latencies, lat)
				}
				mu.Unlock()
				if err != nil {
					return // the connection is unusable; the others go on
				}
			}
		}()
	}
	// Request i is due at start + i/rate. The sender sleeps until the next
	// one is due and then hands out every request that is due by then: a
	// timer that wakes late delays requests, and the delay is counted.
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; i < total; i++ {
		t := start.Add(time.Duration(i) * interval)
		if d := time.Until(t); d > 0 {
			time.Sleep(d)
		}
		due <- t
		res.sent++
	}
	close(due)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		l.close() // unblocks the connections' goroutines
		<-finished
	}
	res.secs = time.Since(start).Seconds()
	mu.Lock()
	defer mu.Unlock()
	return res
}
