package supervisor

import (
	_ "embed"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// webName is the name of the application server process.
const webName = "web"

//go:embed gunicorn_conf.py
var gunicornConf string

// gunicornConfName is the generated config file in the runtime directory.
const gunicornConfName = "frontdoor-gunicorn.conf.py"

// generation is one start of the web process on its own socket. Deploys and
// restarts create a new generation; the edge is switched from one to the next.
type generation struct {
	n     int
	sock  string // socket path
	addr  string // "unix:" + sock, as given to the Edge
	child *child

	// Guarded by Supervisor.mu.
	readyAt  time.Time // zero until it answered HTTP
	retiring bool      // replaced: draining, then stopped
	usage    usage
}

// webCommand is the argv of a generation's gunicorn. Its socket is not
// on the command line: frontdoor creates it (listenWeb) and gunicorn gets
// it as systemd would pass it, descriptor 3 with LISTEN_FDS=1 and
// LISTEN_PID its own pid — which only a shell that execs gunicorn knows,
// hence /bin/sh in front. gunicorn then also leaves the socket file alone
// when it stops (it unlinks only sockets it bound itself).
func (s *Supervisor) webCommand(server Server, app string) []string {
	c := &s.cfg
	argv := []string{
		"/bin/sh", "-c", `LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@"`,
		c.Python, "-m", "gunicorn",
		"--config", filepath.Join(c.RuntimeDir, gunicornConfName),
		"--workers", strconv.Itoa(c.Workers),
		"--keep-alive", strconv.Itoa(int(c.KeepAlive / time.Second)),
		"--graceful-timeout", strconv.Itoa(gracefulSeconds(c.StopTimeout)),
		// Only the edge can reach the socket, and it sets the forwarding
		// headers itself: trust them (wsgi.url_scheme; uvicorn also takes
		// the client address from X-Forwarded-For).
		"--forwarded-allow-ips", "*",
	}
	if server == ServerUvicorn {
		argv = append(argv, "--worker-class", uvicornWorkerClass)
	} else {
		argv = append(argv, "--worker-class", c.WorkerClass)
		if c.WorkerClass == "gthread" {
			argv = append(argv, "--threads", strconv.Itoa(c.Threads))
		}
	}
	argv = append(argv, c.ExtraArgs...)
	return append(argv, app)
}

// gracefulSeconds leaves gunicorn a second less than frontdoor's own stop
// timeout, so that gunicorn ends its workers before frontdoor kills it.
func gracefulSeconds(stop time.Duration) int {
	return max(1, int(stop/time.Second)-1)
}

// writeGunicornConf (re)writes the generated gunicorn config: readable by
// every user (the application's reads it; it holds no secret).
func (s *Supervisor) writeGunicornConf() error {
	p := filepath.Join(s.cfg.RuntimeDir, gunicornConfName)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(gunicornConf), 0o644); err != nil {
		return fmt.Errorf("write gunicorn config: %w", err)
	}
	if err := os.Chmod(tmp, 0o644); err != nil { // whatever the umask
		return fmt.Errorf("write gunicorn config: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write gunicorn config: %w", err)
	}
	return nil
}

// listenWeb creates a generation's socket at sock: frontdoor binds and
// listens itself, the socket file is frontdoor's alone (0600), and the
// listening descriptor is handed to gunicorn (webCommand). So the
// application's user needs no right in frontdoor's runtime directory, and
// no other local user — another app's included — can connect to it.
func listenWeb(sock string) (*os.File, error) {
	_ = os.Remove(sock)
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: sock, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	defer ln.Close() // the file below is a duplicate the child inherits
	ln.SetUnlinkOnClose(false)
	if err := os.Chmod(sock, 0o600); err != nil {
		_ = os.Remove(sock)
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	f, err := ln.File()
	if err != nil {
		_ = os.Remove(sock)
		return nil, fmt.Errorf("listen on %s: %w", sock, err)
	}
	return f, nil
}

// socketPath is where generation n listens.
func (s *Supervisor) socketPath(n int) string {
	return filepath.Join(s.cfg.RuntimeDir, fmt.Sprintf("web-%d.sock", n))
}
