package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Upstream is a group of application servers that routes proxy to.
type Upstream struct {
	// Name is how routes refer to the group.
	Name string
	// Servers are "unix:/path/to.sock" or "host:port" addresses with
	// optional weights. A dynamic group (the supervised application) may
	// start empty: its servers are set with Engine.SetUpstreamServers, and
	// while it has none, requests get 503 with Retry-After.
	Servers []UpstreamServer
	// Balance is "round_robin" (default, weighted) or "least_conn".
	Balance string
	// MaxFails transport failures within FailTimeout take a server out
	// for FailTimeout (defaults 1 and 10 s, as nginx).
	MaxFails    int
	FailTimeout time.Duration
	// HealthCheck, when set, polls every server with an HTTP GET.
	HealthCheck *HealthCheck
}

// UpstreamServer is one server of a group.
type UpstreamServer struct {
	Addr   string
	Weight int // default 1
}

// HealthCheck configures active health checks: a server answering with a
// status below 500 within Timeout is healthy.
type HealthCheck struct {
	Path     string        // default "/"
	Host     string        // Host header (default "localhost")
	Interval time.Duration // default 5 s
	Timeout  time.Duration // default 2 s
}

// ProxyConfig holds the engine-wide settings of the reverse proxy.
type ProxyConfig struct {
	ConnectTimeout  time.Duration // default 5 s (504 after)
	ResponseTimeout time.Duration // waiting for a response head, and between body reads (default 60 s; 504)
	PoolIdle        time.Duration // idle pooled connection lifetime (default 4 s: below gunicorn's keep-alive)
	PoolSize        int           // idle connections kept per server per worker (default 64)
	// BufferMemory is how much of a request or response body is held in
	// memory before the rest goes to a temporary file (default 64 KiB).
	BufferMemory int64
	// MaxTempFile bounds the temporary file of one response; beyond it the
	// application is read only as fast as the client drains (default 1 GiB).
	MaxTempFile int64
	TempDir     string        // default os.TempDir()
	TunnelIdle  time.Duration // idle WebSocket tunnel (default 10 min)
	// Compress compresses proxied responses on the fly (off by default).
	Compress Compression
	// TrustedProxies are CIDR prefixes (or "cloudflare", "private") whose
	// X-Forwarded-* headers are believed; from anyone else they are
	// replaced.
	TrustedProxies []string
}

// serverState is what all workers share about one upstream address:
// counters and health. It lives in the engine's registry, keyed by
// address, so that draining an old generation can still be observed after
// it left its group.
type serverState struct {
	addr     string
	sockaddr unix.Sockaddr
	family   int
	unixPath string

	inflight  atomic.Int64 // requests being proxied to it
	tunnels   atomic.Int64 // open upgraded (WebSocket) tunnels
	fails     atomic.Int32
	downUntil atomic.Int64 // Unix nanoseconds; passive failure marking
	unhealthy atomic.Bool  // active health check verdict
}

// parseServerAddr resolves an upstream address once.
func parseServerAddr(addr string) (*serverState, error) {
	s := &serverState{addr: addr}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		if path == "" || len(path) >= 108 {
			return nil, fmt.Errorf("upstream %q: unix socket path empty or longer than 107 bytes", addr)
		}
		s.family, s.unixPath = unix.AF_UNIX, path
		s.sockaddr = &unix.SockaddrUnix{Name: path}
		return s, nil
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: want unix:/path or host:port", addr)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: bad port", addr)
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ips, lerr := net.LookupIP(host)
		if lerr != nil || len(ips) == 0 {
			return nil, fmt.Errorf("upstream %q: cannot resolve %s", addr, host)
		}
		ip, _ = netip.AddrFromSlice(ips[0])
		ip = ip.Unmap()
	}
	if ip.Is4() {
		s.family = unix.AF_INET
		s.sockaddr = &unix.SockaddrInet4{Port: int(port), Addr: ip.As4()}
	} else {
		s.family = unix.AF_INET6
		s.sockaddr = &unix.SockaddrInet6{Port: int(port), Addr: ip.As16()}
	}
	return s, nil
}

// available reports whether the server may be chosen now.
func (s *serverState) available(nowUnix int64) bool {
	return !s.unhealthy.Load() && s.downUntil.Load() <= nowUnix
}

// serverRegistry hands out one serverState per address.
type serverRegistry struct {
	mu sync.Mutex
	m  map[string]*serverState
}

func (r *serverRegistry) get(addr string) (*serverState, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.m[addr]; ok {
		return s, nil
	}
	s, err := parseServerAddr(addr)
	if err != nil {
		return nil, err
	}
	if r.m == nil {
		r.m = map[string]*serverState{}
	}
	r.m[addr] = s
	return s, nil
}

func (r *serverRegistry) lookup(addr string) *serverState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[addr]
}

// groupSpec is a group's compiled, shared description.
type groupSpec struct {
	name        string
	leastConn   bool
	maxFails    int32
	failTimeout time.Duration
	servers     []serverSpec
	health      *HealthCheck
	// hold is how long a request waits for a server while the group has
	// none (the application is booting) before it gets 503; 0: at once.
	hold time.Duration
	// maintenance, when set, answers every request for the group (its
	// application is in maintenance mode) instead of its servers.
	maintenance *maintenancePage
}

type serverSpec struct {
	state  *serverState
	weight int
}

// workerGroup is one worker's view of a group: its own balancing cursor,
// active counts and idle connection pools, so the hot path takes no lock.
type workerGroup struct {
	spec    *groupSpec
	servers []*workerServer
}

type workerServer struct {
	state   *serverState
	weight  int
	current int // smooth weighted round robin
	active  int // this worker's requests on it (least_conn)
	idle    *upConn
	nidle   int
}

func newWorkerGroup(spec *groupSpec) *workerGroup {
	g := &workerGroup{spec: spec}
	for _, s := range spec.servers {
		g.servers = append(g.servers, &workerServer{state: s.state, weight: max(s.weight, 1)})
	}
	return g
}

// pick chooses a server: smooth weighted round robin (nginx's) or least
// connections, skipping servers marked down or unhealthy. It returns nil
// when none is available.
func (g *workerGroup) pick(nowUnix int64) *workerServer {
	var best *workerServer
	if g.spec.leastConn {
		for _, s := range g.servers {
			if !s.state.available(nowUnix) {
				continue
			}
			if best == nil || s.active*best.weight < best.active*s.weight {
				best = s
			}
		}
		return best
	}
	total := 0
	for _, s := range g.servers {
		if !s.state.available(nowUnix) {
			continue
		}
		s.current += s.weight
		total += s.weight
		if best == nil || s.current > best.current {
			best = s
		}
	}
	if best != nil {
		best.current -= total
	}
	return best
}

// markFailure records a transport failure (connect refused or timed out,
// connection reset, response timeout).
func (g *workerGroup) markFailure(s *workerServer, nowUnix int64) {
	n := s.state.fails.Add(1)
	if n >= g.spec.maxFails {
		s.state.downUntil.Store(nowUnix + int64(g.spec.failTimeout))
		s.state.fails.Store(0)
	}
}

func (g *workerGroup) markSuccess(s *workerServer) {
	if s.state.fails.Load() != 0 {
		s.state.fails.Store(0)
	}
}
