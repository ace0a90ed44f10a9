package proxy

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// healthChecker runs the active health checks: one goroutine per group
// that has a HealthCheck, polling each server with an HTTP GET and marking
// it unhealthy (never chosen) while it fails. The checks are ordinary
// blocking HTTP clients: they run beside the workers, not on them.
type healthChecker struct {
	log    *slog.Logger
	mu     sync.Mutex
	cancel map[string]context.CancelFunc
	specs  map[string]*groupSpec
	wg     sync.WaitGroup
}

func newHealthChecker(log *slog.Logger) *healthChecker {
	return &healthChecker{log: log, cancel: map[string]context.CancelFunc{}, specs: map[string]*groupSpec{}}
}

// update starts, restarts or stops group checks to match groups.
func (h *healthChecker) update(groups map[string]*groupSpec) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, cancel := range h.cancel {
		if g, ok := groups[name]; !ok || g != h.specs[name] {
			cancel()
			delete(h.cancel, name)
			delete(h.specs, name)
		}
	}
	for name, g := range groups {
		if g.health == nil || h.cancel[name] != nil {
			if g.health == nil {
				for _, s := range g.servers {
					s.state.unhealthy.Store(false)
				}
			}
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		h.cancel[name], h.specs[name] = cancel, g
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			h.run(ctx, g)
		}()
	}
}

func (h *healthChecker) stop() {
	if h == nil {
		return
	}
	h.mu.Lock()
	for _, cancel := range h.cancel {
		cancel()
	}
	h.mu.Unlock()
	h.wg.Wait()
}

func (h *healthChecker) run(ctx context.Context, g *groupSpec) {
	hc := *g.health
	if hc.Interval <= 0 {
		hc.Interval = 5 * time.Second
	}
	if hc.Timeout <= 0 {
		hc.Timeout = 2 * time.Second
	}
	if hc.Path == "" {
		hc.Path = "/"
	}
	if hc.Host == "" {
		hc.Host = "localhost"
	}
	clients := map[*serverState]*http.Client{}
	for _, s := range g.servers {
		clients[s.state] = healthClient(s.state, hc.Timeout)
	}
	tick := time.NewTicker(hc.Interval)
	defer tick.Stop()
	for {
		for _, s := range g.servers {
			ok := probe(ctx, clients[s.state], hc)
			if was := !s.state.unhealthy.Swap(!ok); was != ok {
				if ok {
					h.log.Info("upstream healthy again", "group", g.name, "upstream", s.state.addr)
				} else {
					h.log.Warn("upstream failed its health check", "group", g.name, "upstream", s.state.addr, "path", hc.Path)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func healthClient(s *serverState, timeout time.Duration) *http.Client {
	network, addr := "tcp", s.addr
	if s.unixPath != "" {
		network, addr = "unix", s.unixPath
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
			DisableKeepAlives: true,
		},
	}
}

func probe(ctx context.Context, c *http.Client, hc HealthCheck) bool {
	path := hc.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://health"+path, nil)
	if err != nil {
		return false
	}
	req.Host = hc.Host
	req.Header.Set("User-Agent", "frontdoor-health-check")
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode < 500
}
