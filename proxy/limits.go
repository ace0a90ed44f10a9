package proxy

import (
	"net/netip"
	"sync"
	"time"
)

// ClientLimits bound what one client address may take. Both are off by
// default: behind a CDN every client shares the CDN's few addresses (the
// request rate is then counted per real client address from trusted
// X-Forwarded-For, but connections can only be counted per peer).
type ClientLimits struct {
	// MaxConnsPerIP caps simultaneous connections from one peer address;
	// a connection over the cap is answered 503 and closed (0: no cap).
	MaxConnsPerIP int
	// RequestsPerSecond is the sustained request rate allowed per client
	// address, with bursts up to Burst (default 2×rate); over it, 429 with
	// Retry-After (0: no limit).
	RequestsPerSecond float64
	Burst             int
}

// ipLimiter is shared by all workers (one client's connections land on any
// of them), sharded so workers rarely meet on a lock. It is consulted only
// when a limit is on.
type ipLimiter struct {
	shards [64]ipShard
}

type ipShard struct {
	mu sync.Mutex
	m  map[netip.Addr]*ipEntry
}

type ipEntry struct {
	conns  int
	tokens float64
	last   int64 // Unix nanoseconds of the last refill
	// filled is set once the bucket got its burst: an entry made by
	// acquireConn (which knows no burst) starts without it.
	filled bool
}

func (l *ipLimiter) shard(a netip.Addr) *ipShard {
	b := a.As16()
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return &l.shards[h%uint32(len(l.shards))]
}

func (s *ipShard) entry(a netip.Addr, now int64, burst float64) *ipEntry {
	if s.m == nil {
		s.m = map[netip.Addr]*ipEntry{}
	}
	e := s.m[a]
	if e == nil {
		e = &ipEntry{last: now}
		s.m[a] = e
	}
	if !e.filled && burst > 0 {
		e.tokens, e.last, e.filled = burst, now, true
	}
	return e
}

// acquireConn counts a new connection from a; false when over max.
func (l *ipLimiter) acquireConn(a netip.Addr, max int, now int64) bool {
	s := l.shard(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(a, now, 0)
	if e.conns >= max {
		return false
	}
	e.conns++
	return true
}

func (l *ipLimiter) releaseConn(a netip.Addr) {
	s := l.shard(a)
	s.mu.Lock()
	if e := s.m[a]; e != nil && e.conns > 0 {
		e.conns--
	}
	s.mu.Unlock()
}

// allow takes one request token for a (token bucket); false when empty.
func (l *ipLimiter) allow(a netip.Addr, rate, burst float64, now int64) bool {
	s := l.shard(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entry(a, now, burst)
	e.tokens = min(burst, e.tokens+rate*float64(now-e.last)/1e9)
	e.last = now
	if e.tokens < 1 {
		return false
	}
	e.tokens--
	return true
}

// sweep forgets addresses with no connection and a full bucket, so the map
// does not grow with every address ever seen.
func (l *ipLimiter) sweep(now int64, idle time.Duration) {
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		for a, e := range s.m {
			if e.conns == 0 && now-e.last > int64(idle) {
				delete(s.m, a)
			}
		}
		s.mu.Unlock()
	}
}
