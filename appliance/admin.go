package appliance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"frontdoor/supervisor"
)

// AdminSocketName is the admin socket's file name in the runtime directory.
const AdminSocketName = "admin.sock"

// adminGroup is the group whose members may use the admin socket, besides
// root and the daemon's own user.
const adminGroup = "frontdoor"

// adminServer serves the admin unix socket the CLI talks to: HTTP (the
// control plane, not the data path, so net/http) on
// <runtime_dir>/admin.sock, mode 0660, group frontdoor when that group
// exists. The file mode keeps strangers out; every connection is checked
// again with SO_PEERCRED, so a socket whose mode was loosened by hand still
// answers only root, the daemon's user and members of the socket's group.
type adminServer struct {
	path string
	uid  int // the daemon's effective uid
	gid  int // the socket's group
	srv  *http.Server
	done chan struct{}
	log  *slog.Logger
}

// DeployResult is the answer of POST /deploy and POST /restart.
type DeployResult struct {
	// App is the app deployed.
	App    string                   `json:"app,omitempty"`
	OK     bool                     `json:"ok"`
	Error  string                   `json:"error,omitempty"`
	Report *supervisor.DeployReport `json:"report,omitempty"`
}

// startAdmin listens on the admin socket and serves it in the background.
func (a *Appliance) startAdmin() error {
	s := &adminServer{
		path: filepath.Join(a.cfg.Server.RuntimeDir, AdminSocketName),
		uid:  os.Geteuid(),
		gid:  os.Getegid(),
		done: make(chan struct{}),
		log:  a.log.With("part", "admin"),
	}
	ln, err := s.listen()
	if err != nil {
		return fmt.Errorf("admin socket: %w", err)
	}
	s.srv = &http.Server{
		Handler:           s.guard(a.adminRoutes()),
		ReadHeaderTimeout: 10 * time.Second,
		ConnContext:       withPeerCred,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	a.admin = s
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin socket stopped", "err", err)
		}
	}()
	s.log.Info("admin socket", "path", s.path, "group", s.gid)
	return nil
}

// adminRoutes lists what the admin socket answers. GET /certs and
// GET /trust-root belong here too when they come.
func (a *Appliance) adminRoutes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", a.handleStatus)
	mux.HandleFunc("GET /metrics", a.handleMetrics)
	mux.HandleFunc("POST /deploy", a.handleDeploy)
	mux.HandleFunc("POST /restart", a.handleDeploy)
	mux.HandleFunc("POST /reload", a.handleReload)
	mux.HandleFunc("GET /logs", a.handleLogs)
	mux.HandleFunc("POST /maintenance", a.handleMaintenance)
	mux.HandleFunc("GET /certs", a.handleCerts)
	mux.HandleFunc("POST /certs/renew", a.handleRenew)
	mux.HandleFunc("GET /certs/dns-record", a.handleDNSRecord)
	mux.HandleFunc("GET /trust-root", a.handleTrustRoot)
	mux.HandleFunc("GET /cluster", a.handleCluster)
	return mux
}

// stopAdmin stops answering (a request under way gets two seconds) and
// removes the socket.
func (a *Appliance) stopAdmin() {
	s := a.admin
	if s == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.done
	_ = os.Remove(s.path)
}

// listen creates the socket: a leftover file is removed unless a daemon
// still answers on it; then mode 0660 and the frontdoor group.
func (s *adminServer) listen() (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(s.path), 0o750); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(s.path); err == nil {
		if c, err := net.DialTimeout("unix", s.path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s: another frontdoor answers on it (one runtime_dir per daemon)", s.path)
		}
		if err := os.Remove(s.path); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("unix", s.path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(s.path, 0o660); err != nil {
		ln.Close()
		return nil, err
	}
	if g, err := user.LookupGroup(adminGroup); err == nil {
		gid, _ := strconv.Atoi(g.Gid)
		if err := os.Chown(s.path, -1, gid); err != nil {
			s.log.Warn("admin socket: could not give it to group "+adminGroup+"; only root and the daemon's user can use it", "err", err)
		} else {
			s.gid = gid
		}
	}
	return ln, nil
}

// peerCredKey keys the connecting process's credentials in a request's
// context.
type peerCredKey struct{}

// withPeerCred reads SO_PEERCRED once per connection.
func withPeerCred(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return ctx
	}
	var cred *unix.Ucred
	_ = raw.Control(func(fd uintptr) {
		cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if err != nil || cred == nil {
		return ctx
	}
	return context.WithValue(ctx, peerCredKey{}, cred)
}

// guard refuses peers that are not root, the daemon's user or a member of
// the socket's group.
func (s *adminServer) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cred, _ := r.Context().Value(peerCredKey{}).(*unix.Ucred)
		if cred == nil || !s.allowed(cred) {
			uid := -1
			if cred != nil {
				uid = int(cred.Uid)
			}
			s.log.Warn("admin socket: refused a peer", "uid", uid)
			http.Error(w, fmt.Sprintf("uid %d may not use frontdoor's admin socket: run as root or as a member of group %s", uid, s.groupName()), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (s *adminServer) allowed(c *unix.Ucred) bool {
	if c.Uid == 0 || int(c.Uid) == s.uid || int(c.Gid) == s.gid {
		return true
	}
	u, err := user.LookupId(strconv.Itoa(int(c.Uid)))
	if err != nil {
		return false
	}
	groups, err := u.GroupIds()
	return err == nil && slices.Contains(groups, strconv.Itoa(s.gid))
}

func (s *adminServer) groupName() string {
	if g, err := user.LookupGroupId(strconv.Itoa(s.gid)); err == nil {
		return g.Name
	}
	return strconv.Itoa(s.gid)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func (a *Appliance) handleStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.statusReport())
}

func (a *Appliance) handleMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", metricsContentType)
	if err := a.writeMetrics(w); err != nil {
		a.log.Debug("metrics: client went away", "err", err)
	}
}

// handleDeploy runs a deploy (POST /deploy) or a restart (POST /restart)
// of the app named by ?app=NAME (without it, the only app) and answers
// with its report once it ended. It does not depend on the client
// staying: it runs to its end even if the CLI is interrupted.
func (a *Appliance) handleDeploy(w http.ResponseWriter, r *http.Request) {
	runner, err := a.apps.runner(r.URL.Query().Get("app"))
	if err != nil {
		writeJSON(w, http.StatusConflict, DeployResult{Error: err.Error()})
		return
	}
	rep, err := runner.deploy(context.WithoutCancel(r.Context()), r.URL.Path == "/restart")
	if rep.Finished.IsZero() && !rep.Started.IsZero() {
		rep.Finished = time.Now() // the supervisor stamps only the copy Status shows
	}
	res := DeployResult{App: runner.name, OK: err == nil, Report: &rep}
	status := http.StatusOK
	switch {
	case errors.Is(err, supervisor.ErrNotRunning):
		status = http.StatusServiceUnavailable
	case err != nil:
		status = http.StatusInternalServerError
	}
	if rep.Started.IsZero() {
		res.Report = nil
	}
	if err != nil {
		res.Error = err.Error()
	}
	writeJSON(w, status, res)
}

// handleReload does what SIGHUP does — it sends SIGHUP to the daemon — and
// answers once the reload ended, the application's part included, or
// after ?app_wait=DURATION of the application's part (then app_pending).
func (a *Appliance) handleReload(w http.ResponseWriter, r *http.Request) {
	var appWait time.Duration
	if v := r.URL.Query().Get("app_wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			http.Error(w, fmt.Sprintf("app_wait %q is not a duration", v), http.StatusBadRequest)
			return
		}
		appWait = d
	}
	seq, _ := a.apps.reloads.current()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		writeJSON(w, http.StatusInternalServerError, ReloadResult{AppReloadResult: AppReloadResult{Error: err.Error()}})
		return
	}
	res, err := a.apps.reloads.waitAfter(r.Context(), seq, appWait)
	if err != nil {
		writeJSON(w, http.StatusGatewayTimeout, ReloadResult{AppReloadResult: AppReloadResult{Error: err.Error()}})
		return
	}
	status := http.StatusOK
	switch {
	case res.ConfigError != "":
		status = http.StatusUnprocessableEntity
	case !res.OK:
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, res)
}
