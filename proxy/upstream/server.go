package upstream

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Server is what all workers share about one upstream address: counters
// and health. It lives in a Registry, keyed by address, so that draining
// an old generation can still be observed after it left its group.
type Server struct {
	Addr     string
	sockaddr unix.Sockaddr
	family   int
	unixPath string

	inflight  atomic.Int64 // requests being proxied to it
	tunnels   atomic.Int64 // open upgraded (WebSocket) tunnels
	fails     atomic.Int32
	downUntil atomic.Int64 // Unix nanoseconds; passive failure marking
	unhealthy atomic.Bool  // active health check verdict
}

// maxUnixPath is the longest socket path sockaddr_un holds.
const maxUnixPath = 107

// CheckAddr reports what is wrong with an upstream address, without
// resolving it: "unix:/absolute/path.sock" (at most 107 bytes) or
// "host:port".
func CheckAddr(addr string) error {
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		switch {
		case path == "":
			return fmt.Errorf("%q: the socket path is empty", addr)
		case !filepath.IsAbs(path):
			return fmt.Errorf("%q: the socket path must be absolute", addr)
		case len(path) > maxUnixPath:
			return fmt.Errorf("%q: the socket path is longer than %d bytes", addr, maxUnixPath)
		}
		return nil
	}
	_, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is neither unix:/path nor host:port", addr)
	}
	if _, err := strconv.ParseUint(portStr, 10, 16); err != nil {
		return fmt.Errorf("%q: bad port %q", addr, portStr)
	}
	return nil
}

// parseAddr checks and resolves an upstream address once.
func parseAddr(addr string) (*Server, error) {
	if err := CheckAddr(addr); err != nil {
		return nil, err
	}
	s := &Server{Addr: addr}
	if path, ok := strings.CutPrefix(addr, "unix:"); ok {
		s.family, s.unixPath = unix.AF_UNIX, path
		s.sockaddr = &unix.SockaddrUnix{Name: path}
		return s, nil
	}
	host, portStr, _ := net.SplitHostPort(addr)
	port, _ := strconv.ParseUint(portStr, 10, 16)
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
func (s *Server) available(nowUnix int64) bool {
	return !s.unhealthy.Load() && s.downUntil.Load() <= nowUnix
}

// InFlight reports the requests being proxied to the server and the
// upgraded tunnels open to it, summed over all workers.
func (s *Server) InFlight() (requests, tunnels int64) {
	return s.inflight.Load(), s.tunnels.Load()
}

// TunnelOpened and TunnelClosed count an upgraded connection.
func (s *Server) TunnelOpened() { s.tunnels.Add(1) }

// TunnelClosed: see TunnelOpened.
func (s *Server) TunnelClosed() { s.tunnels.Add(-1) }

// Registry hands out one Server per address.
type Registry struct {
	mu sync.Mutex
	m  map[string]*Server
}

// Get returns the server for addr, parsing (and resolving) a new address.
func (r *Registry) Get(addr string) (*Server, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s, ok := r.m[addr]; ok {
		return s, nil
	}
	s, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	if r.m == nil {
		r.m = map[string]*Server{}
	}
	r.m[addr] = s
	return s, nil
}

// Lookup returns the server for addr, or nil when it was never used.
func (r *Registry) Lookup(addr string) *Server {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[addr]
}
