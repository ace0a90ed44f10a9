package appliance

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"

	"golang.org/x/sys/unix"

	"frontdoor/proxy"
	"frontdoor/systemd"
)

// openListeners returns the engine's listeners: the sockets systemd passed
// (by name) when socket activated, else its own listeners on the
// configured addresses. Either way the engine sees the same thing.
func openListeners(cfg *Config, log *slog.Logger) ([]proxy.Listener, error) {
	activated, err := systemd.ActivatedSockets()
	if err != nil {
		return nil, err
	}
	if len(activated) > 0 {
		var ls []proxy.Listener
		for _, s := range activated {
			l, err := adoptSocket(s)
			if err != nil {
				closeListeners(ls)
				return nil, err
			}
			switch s.Name {
			case systemd.SocketHTTP:
			case systemd.SocketHTTPS:
				l.TLS = true
			default:
				log.Warn("socket passed under an unknown name; serving plain HTTP on it", "name", s.Name, "addr", l.Addr)
			}
			ls = append(ls, l)
		}
		log.Info("using sockets passed by systemd", "count", len(ls))
		return ls, nil
	}
	var ls []proxy.Listener
	for _, addr := range cfg.Server.HTTP {
		l, err := proxy.Listen(addr, systemd.SocketHTTP)
		if err != nil {
			closeListeners(ls)
			return nil, fmt.Errorf("%s: server.http: %w", cfg.path, err)
		}
		ls = append(ls, l)
	}
	for _, addr := range cfg.Server.HTTPS {
		l, err := proxy.Listen(addr, systemd.SocketHTTPS)
		if err != nil {
			closeListeners(ls)
			return nil, fmt.Errorf("%s: server.https: %w", cfg.path, err)
		}
		l.TLS = true
		ls = append(ls, l)
	}
	return ls, nil
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
