package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"

	"golang.org/x/sys/unix"
)

// Listener is a listening TCP socket handed to the engine. It may come from
// systemd socket activation or from Listen; the engine treats both alike.
type Listener struct {
	Fd   int
	Name string // "http", "https", or an address
	Addr string // the bound address, for logs and status
	TLS  bool
	// H2C accepts HTTP/2 with prior knowledge on a plain listener (RFC
	// 9113 §3.3): a connection that opens with the HTTP/2 preface speaks
	// HTTP/2, any other HTTP/1.1. For a listener behind a TLS-terminating
	// balancer that speaks h2c; off by default. (TLS listeners offer
	// HTTP/2 in ALPN: Config.TLS.)
	H2C bool
	// NoHTTP2 keeps a TLS listener to HTTP/1.1: its handshakes use
	// Config.TLSNoHTTP2, whose ALPN does not offer "h2", whatever
	// Config.TLS offers (nginx's "listen 443 ssl" without "http2").
	NoHTTP2 bool
}

// listenBacklog is the accept queue asked of the kernel (capped by
// net.core.somaxconn). During a restart, connections wait here.
const listenBacklog = 4096

// Listen opens a listening socket on addr ("host:port", "[::]:port",
// ":port" for all addresses of both families).
func Listen(addr string, name string) (Listener, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return Listener{}, fmt.Errorf("listen address %q: %w", addr, err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return Listener{}, fmt.Errorf("listen address %q: bad port", addr)
	}
	var ip netip.Addr
	dualStack := false
	switch host {
	case "", "*":
		ip, dualStack = netip.IPv6Unspecified(), true
	default:
		ip, err = netip.ParseAddr(host)
		if err != nil {
			return Listener{}, fmt.Errorf("listen address %q: host must be an IP address: %w", addr, err)
		}
	}
	family := unix.AF_INET6
	if ip.Is4() {
		family = unix.AF_INET
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return Listener{}, fmt.Errorf("socket for %s: %w", addr, err)
	}
	fail := func(what string, err error) (Listener, error) {
		unix.Close(fd)
		return Listener{}, fmt.Errorf("%s %s: %w", what, addr, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return fail("SO_REUSEADDR", err)
	}
	var sa unix.Sockaddr
	if family == unix.AF_INET {
		sa = &unix.SockaddrInet4{Port: int(port), Addr: ip.As4()}
	} else {
		v6only := 1
		if dualStack {
			v6only = 0
		}
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, v6only); err != nil {
			return fail("IPV6_V6ONLY", err)
		}
		sa = &unix.SockaddrInet6{Port: int(port), Addr: ip.As16()}
	}
	if err := unix.Bind(fd, sa); err != nil {
		return fail("bind", err)
	}
	if err := unix.Listen(fd, listenBacklog); err != nil {
		return fail("listen", err)
	}
	bound := addr
	if got, err := unix.Getsockname(fd); err == nil {
		bound = sockaddrString(got)
	}
	if name == "" {
		name = bound
	}
	return Listener{Fd: fd, Name: name, Addr: bound}, nil
}

func sockaddrString(sa unix.Sockaddr) string {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port)).String()
	}
	return "?"
}

// prepareListener makes an inherited socket usable by the workers: it must
// be non-blocking, or accept4 in a worker would block the whole loop.
func prepareListener(l *Listener) error {
	if err := unix.SetNonblock(l.Fd, true); err != nil {
		return fmt.Errorf("listener %s: set non-blocking: %w", l.Name, err)
	}
	if l.Addr == "" {
		if sa, err := unix.Getsockname(l.Fd); err == nil {
			l.Addr = sockaddrString(sa)
		}
	}
	return nil
}
