package supervisor

import (
	_ "embed"
	"fmt"
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

// webCommand is the argv of generation n's gunicorn, bound to sock.
func (s *Supervisor) webCommand(server Server, app, sock string) []string {
	c := &s.cfg
	argv := []string{
		c.Python, "-m", "gunicorn",
		"--config", filepath.Join(c.RuntimeDir, gunicornConfName),
		"--bind", "unix:" + sock,
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

// writeGunicornConf (re)writes the generated gunicorn config.
func (s *Supervisor) writeGunicornConf() error {
	p := filepath.Join(s.cfg.RuntimeDir, gunicornConfName)
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, []byte(gunicornConf), 0o640); err != nil {
		return fmt.Errorf("write gunicorn config: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write gunicorn config: %w", err)
	}
	return nil
}

// socketPath is where generation n listens.
func (s *Supervisor) socketPath(n int) string {
	return filepath.Join(s.cfg.RuntimeDir, fmt.Sprintf("web-%d.sock", n))
}
