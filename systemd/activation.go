package systemd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/coreos/go-systemd/v22/activation"
	"golang.org/x/sys/unix"
)

// Names of the file descriptors that frontdoor's socket units pass
// (FileDescriptorName= in frontdoor-http.socket and frontdoor-https.socket).
const (
	SocketHTTP  = "http"
	SocketHTTPS = "https"
)

// Socket is one listening stream socket, either handed over by systemd or
// opened by [Listen].
//
// The caller owns File and must close it. File's descriptor has
// close-on-exec set, so children (gunicorn) never inherit it; its blocking
// mode is whatever the opener left, so an event loop must set O_NONBLOCK
// itself.
type Socket struct {
	// Name is the socket unit's FileDescriptorName= ("http", "https"), or
	// the name given to Listen. A unit without FileDescriptorName= passes
	// its own unit name ("frontdoor-http.socket"); a descriptor without any
	// name (LISTEN_FDNAMES unset) is called "LISTEN_FD_<n>".
	Name string
	// File holds the listening descriptor.
	File *os.File
	// Addr is the local address the socket is bound to (a *net.TCPAddr or
	// a *net.UnixAddr), for logs and status.
	Addr net.Addr
}

// Fd returns the socket's descriptor number. It stays valid until File is
// closed.
func (s Socket) Fd() int { return int(s.File.Fd()) }

// ActivatedSockets returns the listening sockets systemd passed to this
// process (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES), in descriptor order,
// which is not the order of the units' Sockets= lines: select them by name
// with [Named].
//
// It returns nil and no error when the process was not socket activated;
// the caller then opens its own listeners from its configuration (see
// [Listen]) and runs the same code path with them.
//
// It unsets LISTEN_PID, LISTEN_FDS and LISTEN_FDNAMES so that child
// processes started later never believe the sockets are theirs, which also
// means it returns the sockets only on its first call. A passed descriptor
// that is not a listening stream socket is an error (a socket unit with
// ListenDatagram= or Accept=yes is a configuration mistake); all passed
// descriptors are closed in that case.
func ActivatedSockets() ([]Socket, error) {
	files := activation.Files(true)
	if len(files) == 0 {
		return nil, nil
	}
	sockets := make([]Socket, 0, len(files))
	for _, f := range files {
		addr, err := checkListening(f)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("socket activation: descriptor %d (%q): %w", f.Fd(), f.Name(), err)
		}
		sockets = append(sockets, Socket{Name: f.Name(), File: f, Addr: addr})
	}
	return sockets, nil
}

// Named returns the sockets called name, in the order given. A socket unit
// with two ListenStream= lines (IPv4 and IPv6, say) passes two descriptors
// under the same name, so the result may hold more than one.
func Named(sockets []Socket, name string) []Socket {
	var named []Socket
	for _, s := range sockets {
		if s.Name == name {
			named = append(named, s)
		}
	}
	return named
}

// Listen opens a TCP listening socket on address ("host:port"; ":80"
// listens on every IPv4 and IPv6 address) and returns it as a [Socket]
// called name, so that a process started without socket activation feeds
// its engine exactly what systemd would have passed. It blocks only for the
// bind; ctx bounds nothing else.
func Listen(ctx context.Context, name, address string) (Socket, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", address)
	if err != nil {
		return Socket{}, fmt.Errorf("listen %s on %s: %w", name, address, err)
	}
	defer ln.Close() // the duplicate below keeps the socket open
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		return Socket{}, fmt.Errorf("listen %s on %s: duplicate descriptor: %w", name, address, err)
	}
	return Socket{Name: name, File: f, Addr: ln.Addr()}, nil
}

// errNotListening reports a passed descriptor that cannot accept connections.
var errNotListening = errors.New("not a listening stream socket")

// checkListening verifies that f is a listening SOCK_STREAM socket and
// returns its local address.
func checkListening(f *os.File) (net.Addr, error) {
	fd := int(f.Fd())
	typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
	if err != nil {
		if errors.Is(err, syscall.ENOTSOCK) {
			return nil, errNotListening
		}
		return nil, fmt.Errorf("read SO_TYPE: %w", err)
	}
	accepting, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ACCEPTCONN)
	if err != nil {
		return nil, fmt.Errorf("read SO_ACCEPTCONN: %w", err)
	}
	if typ != unix.SOCK_STREAM || accepting != 1 {
		return nil, errNotListening
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		return nil, fmt.Errorf("getsockname: %w", err)
	}
	return sockaddrToAddr(sa), nil
}

// sockaddrToAddr converts a bound stream socket's address for display.
func sockaddrToAddr(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		addr := &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
		if a.ZoneId != 0 {
			// The numeric zone, not the interface name: looking the name
			// up needs a netlink socket, which the unit's
			// RestrictAddressFamilies= does not allow.
			addr.Zone = strconv.FormatUint(uint64(a.ZoneId), 10)
		}
		return addr
	case *unix.SockaddrUnix:
		return &net.UnixAddr{Name: a.Name, Net: "unix"}
	default:
		return nil
	}
}
