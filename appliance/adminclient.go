package appliance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// DefaultRuntimeDir is where the daemon puts its admin socket unless
// [server] runtime_dir says otherwise.
const DefaultRuntimeDir = "/run/frontdoor"

// AdminSocketFor returns the admin socket of the daemon that runs with the
// configuration file at configPath: <runtime_dir>/admin.sock. It reads only
// runtime_dir, leniently, so that a file the daemon would refuse still
// names its socket; an unreadable file means the default directory.
func AdminSocketFor(configPath string) string {
	dir := DefaultRuntimeDir
	if data, err := os.ReadFile(configPath); err == nil {
		var c struct {
			Server struct {
				RuntimeDir string `toml:"runtime_dir"`
			} `toml:"server"`
		}
		if toml.Unmarshal(data, &c) == nil && c.Server.RuntimeDir != "" {
			dir = c.Server.RuntimeDir
		}
	}
	return filepath.Join(dir, AdminSocketName)
}

// AdminClient talks to a running daemon over its admin socket. Its methods
// block until the daemon answers (a deploy: until it ended) or ctx ends.
type AdminClient struct {
	socket string
	hc     *http.Client
}

// NewAdminClient returns a client for the socket at path.
func NewAdminClient(path string) *AdminClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableKeepAlives: true,
	}
	return &AdminClient{socket: path, hc: &http.Client{Transport: tr}}
}

// Status returns the daemon's status, and the JSON it came as.
func (c *AdminClient) Status(ctx context.Context) (StatusReport, []byte, error) {
	var rep StatusReport
	body, _, err := c.do(ctx, http.MethodGet, "/status")
	if err != nil {
		return rep, nil, err
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		return rep, nil, fmt.Errorf("decode the status: %w", err)
	}
	return rep, body, nil
}

// Deploy asks for a deploy of the app named app ("" for the only one) and
// returns its result once it ended. A failed deploy is a result with OK
// false, not an error; the error is for not reaching the daemon.
func (c *AdminClient) Deploy(ctx context.Context, app string) (DeployResult, error) {
	return c.deployOrRestart(ctx, "/deploy", app)
}

// Restart starts a new generation of the app named app ("" for the only
// one) without the release steps, blue/green, and returns the result once
// it ended.
func (c *AdminClient) Restart(ctx context.Context, app string) (DeployResult, error) {
	return c.deployOrRestart(ctx, "/restart", app)
}

func (c *AdminClient) deployOrRestart(ctx context.Context, path, app string) (DeployResult, error) {
	var res DeployResult
	if app != "" {
		path += "?app=" + url.QueryEscape(app)
	}
	body, _, err := c.do(ctx, http.MethodPost, path)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return res, fmt.Errorf("decode the deploy result: %w", err)
	}
	return res, nil
}

// Reload asks the daemon to reload its configuration (as SIGHUP does) and
// returns the outcome once the reload ended; appWait > 0 bounds the wait
// for the application's part (a deploy may take minutes), after which the
// result says AppPending.
func (c *AdminClient) Reload(ctx context.Context, appWait time.Duration) (ReloadResult, error) {
	var res ReloadResult
	path := "/reload"
	if appWait > 0 {
		path += "?app_wait=" + url.QueryEscape(appWait.String())
	}
	body, _, err := c.do(ctx, http.MethodPost, path)
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return res, fmt.Errorf("decode the reload result: %w", err)
	}
	return res, nil
}

// Logs writes the app's log (GET /logs) to out: its events kept in the
// state file, its last n lines and, with follow, every new one until ctx
// ends.
func (c *AdminClient) Logs(ctx context.Context, app string, n int, follow bool, out io.Writer) error {
	q := url.Values{"app": {app}, "n": {strconv.Itoa(n)}}
	if follow {
		q.Set("follow", "1")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://frontdoor/logs?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return c.explain(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("%s: %s", c.socket, strings.TrimSpace(string(body)))
	}
	_, err = io.Copy(out, resp.Body)
	if ctx.Err() != nil {
		return nil // the reader stopped following
	}
	return err
}

// Maintenance turns the maintenance mode of the app named app ("" for the
// only one) on (with message and retryAfter, 0 for the default) or off.
func (c *AdminClient) Maintenance(ctx context.Context, app string, on bool, message string, retryAfter time.Duration) (MaintenanceResult, error) {
	var res MaintenanceResult
	q := url.Values{"app": {app}, "mode": {"off"}}
	if on {
		q.Set("mode", "on")
		if message != "" {
			q.Set("message", message)
		}
		if retryAfter > 0 {
			q.Set("retry_after", retryAfter.String())
		}
	}
	body, _, err := c.do(ctx, http.MethodPost, "/maintenance?"+q.Encode())
	if err != nil {
		return res, err
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return res, fmt.Errorf("decode the answer: %w", err)
	}
	return res, nil
}

// Metrics returns the Prometheus text exposition.
func (c *AdminClient) Metrics(ctx context.Context) (string, error) {
	body, _, err := c.do(ctx, http.MethodGet, "/metrics")
	return string(body), err
}

// do sends one request. Answers with a JSON body are returned whatever
// their status (the caller decodes them); others with a status of 400 or
// more become errors carrying the daemon's text.
func (c *AdminClient) do(ctx context.Context, method, path string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://frontdoor"+path, nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, c.explain(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, fmt.Errorf("read the answer from %s: %w", c.socket, err)
	}
	if resp.StatusCode >= 400 && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return nil, resp.StatusCode, fmt.Errorf("%s: %s", c.socket, strings.TrimSpace(string(bytes.TrimSpace(body))))
	}
	return body, resp.StatusCode, nil
}

// explain turns a dial error into what to do about it.
func (c *AdminClient) explain(err error) error {
	switch {
	case errors.Is(err, syscall.ENOENT), errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Errorf("frontdoor is not running: nothing answers on %s (systemctl status frontdoor; or pass --admin SOCKET or --config FILE)", c.socket)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return fmt.Errorf("permission denied on %s: run as root or as a member of group %s", c.socket, adminGroup)
	}
	return fmt.Errorf("talk to frontdoor on %s: %w", c.socket, err)
}
