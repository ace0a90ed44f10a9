package appliance

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"frontdoor/proxy"
	"frontdoor/systemd"
)

// openListeners returns the engine's listeners: the sockets systemd passed
// (by name) when socket activated, else its own listeners on the
// configured addresses. Either way the engine sees the same thing.
// activated reports the first case. server.http2 decides which HTTPS
// listeners offer h2: by their configured address, or a passed socket's
// bound one (HTTP2Listeners).
func openListeners(cfg *Config, log *slog.Logger) (ls []proxy.Listener, activated bool, err error) {
	passed, err := systemd.ActivatedSockets()
	if err != nil {
		return nil, false, err
	}
	if len(passed) > 0 {
		var https []net.Addr // the https sockets' addresses
		for _, s := range passed {
			l, err := adoptSocket(s)
			if err != nil {
				closeListeners(ls)
				return nil, true, err
			}
			switch s.Name {
			case systemd.SocketHTTP:
				l.H2C = cfg.Server.H2C
			case systemd.SocketHTTPS:
				l.TLS = true
				l.NoHTTP2 = !cfg.Server.HTTP2.offersOnSocket(s.Addr)
				https = append(https, s.Addr)
			default:
				log.Warn("socket passed under an unknown name; serving plain HTTP on it", "name", s.Name, "addr", l.Addr)
			}
			ls = append(ls, l)
		}
		// A listed address must name a socket, or what it asks for
		// would silently not happen.
		if errs := cfg.checkHTTP2Sockets(https); errs != nil {
			closeListeners(ls)
			return nil, true, errs
		}
		log.Info("using sockets passed by systemd", "count", len(ls))
		return ls, true, nil
	}
	for _, kind := range []struct {
		key   string
		name  string
		addrs []string
	}{{"server.http", systemd.SocketHTTP, cfg.Server.HTTP}, {"server.https", systemd.SocketHTTPS, cfg.Server.HTTPS}} {
		for i, addr := range kind.addrs {
			l, err := proxy.Listen(addr, kind.name)
			if err != nil {
				closeListeners(ls)
				return nil, false, cfg.bindError(fmt.Sprintf("%s[%d]", kind.key, i), addr, err)
			}
			l.TLS = kind.name == systemd.SocketHTTPS
			l.H2C = !l.TLS && cfg.Server.H2C
			l.NoHTTP2 = l.TLS && !cfg.Server.HTTP2.offersOn(addr)
			ls = append(ls, l)
		}
	}
	return ls, false, nil
}

// bindError names the configuration line of an address that could not be
// listened on, with what to do about it.
func (c *Config) bindError(key, addr string, err error) error {
	fix := "choose another address, or free this one"
	switch {
	case errors.Is(err, unix.EADDRINUSE):
		_, port, _ := net.SplitHostPort(addr)
		fix = fmt.Sprintf("another program listens there (ss -ltnp 'sport = :%s' shows which): stop it or choose another port", port)
	case errors.Is(err, unix.EACCES):
		fix = "ports below 1024 need root: run frontdoor under systemd with its sockets (frontdoor-http.socket, frontdoor-https.socket), or choose a port above 1023"
	case errors.Is(err, unix.EADDRNOTAVAIL):
		fix = "the address is not one of this machine's: use one that `ip addr` lists, or leave the host empty for every address"
	}
	if _, set := c.lines[key]; !set && c.lineOf(key) == 0 {
		fix += " (this is the default; set " + key[:strings.IndexByte(key, '[')] + " to change it)"
	}
	var errno unix.Errno
	if errors.As(err, &errno) {
		err = errno // "bind ADDR: " repeats what the message says
	}
	return ConfigErrors{{File: c.path, Line: c.lineOf(key), Key: key,
		Msg: fmt.Sprintf("cannot listen on %q: %v", addr, err), Fix: fix}}
}

// adoptSocket takes the descriptor out of its *os.File (whose finalizer
// would otherwise close it) as a close-on-exec duplicate.
func adoptSocket(s systemd.Socket) (proxy.Listener, error) {
	defer s.File.Close()
	fd, err := unix.FcntlInt(s.File.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return proxy.Listener{}, fmt.Errorf("adopt socket %s: %w", s.Name, err)
	}
	addr := ""
	if s.Addr != nil {
		addr = s.Addr.String()
	}
	return proxy.Listener{Fd: fd, Name: s.Name, Addr: addr}, nil
}

func closeListeners(ls []proxy.Listener) {
	for _, l := range ls {
		unix.Close(l.Fd)
	}
}

// listenerPorts returns the port of the first plain and the first TLS
// listener (0 when there is none).
func listenerPorts(ls []proxy.Listener) (httpPort, httpsPort int) {
	for _, l := range ls {
		_, p, err := net.SplitHostPort(l.Addr)
		if err != nil {
			continue
		}
		n, _ := strconv.Atoi(p)
		if l.TLS && httpsPort == 0 {
			httpsPort = n
		} else if !l.TLS && httpPort == 0 {
			httpPort = n
		}
	}
	return httpPort, httpsPort
}
