package upstream

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// HealthCheck is how a group's servers are checked: a server answering
// GET Path (with Host) with a status below 500 within Timeout is healthy;
// every Interval.
type HealthCheck struct {
	Path     string
	Host     string
	Interval time.Duration
	Timeout  time.Duration
}

// Checker runs the active health checks: one goroutine per group
// that has a HealthCheck, polling each server with an HTTP GET and marking
// it unhealthy (never chosen) while it fails. The checks are ordinary
// blocking HTTP clients: they run beside the workers, not on them.
type Checker struct {
	log    *slog.Logger
	mu     sync.Mutex
	cancel map[string]context.CancelFunc
	specs  map[string]*Spec
	wg     sync.WaitGroup
}

// NewChecker returns a checker that checks nothing yet.
func NewChecker(log *slog.Logger) *Checker {
	return &Checker{log: log, cancel: map[string]context.CancelFunc{}, specs: map[string]*Spec{}}
}

// Update starts, restarts or stops group checks to match groups.
func (h *Checker) Update(groups map[string]*Spec) {
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
		if g.Health == nil || h.cancel[name] != nil {
			if g.Health == nil {
				for _, s := range g.Servers {
					s.Server.unhealthy.Store(false)
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

// Stop ends every check and waits for them.
func (h *Checker) Stop() {
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

// run checks a group's servers until ctx ends; g.Health has its defaults.
func (h *Checker) run(ctx context.Context, g *Spec) {
	hc := *g.Health
	clients := map[*Server]*http.Client{}
	for _, s := range g.Servers {
		clients[s.Server] = healthClient(s.Server, hc.Timeout)
	}
	tick := time.NewTicker(hc.Interval)
	defer tick.Stop()
	for {
		for _, s := range g.Servers {
			ok := probe(ctx, clients[s.Server], hc)
			if was := !s.Server.unhealthy.Swap(!ok); was != ok {
				if ok {
					h.log.Info("upstream healthy again", "group", g.Name, "upstream", s.Server.Addr)
				} else {
					h.log.Warn("upstream failed its health check", "group", g.Name, "upstream", s.Server.Addr, "path", hc.Path)
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

func healthClient(s *Server, timeout time.Duration) *http.Client {
	network, addr := "tcp", s.Addr
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
