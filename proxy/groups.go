package proxy

import (
	"fmt"
	"strings"
	"time"
)

// compileProxy resolves the upstream groups and trusted proxies of cfg.
func (e *Engine) compileProxy(cfg *Config) (map[string]*groupSpec, *trustedSet, error) {
	trusted, err := parseTrusted(cfg.Proxy.TrustedProxies)
	if err != nil {
		return nil, nil, err
	}
	groups := map[string]*groupSpec{}
	for i, u := range cfg.Upstreams {
		if u.Name == "" {
			return nil, nil, fmt.Errorf("upstream %d has no name", i)
		}
		if _, dup := groups[u.Name]; dup {
			return nil, nil, fmt.Errorf("upstream %q is defined twice", u.Name)
		}
		spec := &groupSpec{name: u.Name, maxFails: int32(u.MaxFails), failTimeout: u.FailTimeout, health: u.HealthCheck}
		switch strings.ToLower(u.Balance) {
		case "", "round_robin", "roundrobin":
		case "least_conn", "leastconn":
			spec.leastConn = true
		default:
			return nil, nil, fmt.Errorf("upstream %q: balance %q: want round_robin or least_conn", u.Name, u.Balance)
		}
		if spec.maxFails <= 0 {
			spec.maxFails = 1
		}
		if spec.failTimeout <= 0 {
			spec.failTimeout = 10 * time.Second
		}
		for _, s := range u.Servers {
			st, err := e.servers.get(s.Addr)
			if err != nil {
				return nil, nil, err
			}
			spec.servers = append(spec.servers, serverSpec{state: st, weight: max(s.Weight, 1)})
		}
		groups[u.Name] = spec
	}
	return groups, trusted, nil
}

// setGroups gives the worker its own view of each group, keeping the
// balancing state and pools of servers that stay.
func (w *worker) setGroups(specs map[string]*groupSpec) {
	old := w.groups
	defer w.resumeHeld()
	w.groups = make(map[string]*workerGroup, len(specs))
	for name, spec := range specs {
		g := newWorkerGroup(spec)
		if prev, ok := old[name]; ok {
			for _, s := range g.servers {
				for _, p := range prev.servers {
					if p.state == s.state {
						s.current, s.active = p.current, p.active
						s.idle, s.nidle = p.idle, p.nidle
						p.idle, p.nidle = nil, 0
						for u := s.idle; u != nil; u = u.nextIdle {
							u.server = s
						}
					}
				}
			}
		}
		w.groups[name] = g
	}
	for _, prev := range old {
		for _, p := range prev.servers {
			w.drainPool(p) // servers that left: their idle connections go
		}
	}
}

// SetUpstreamServers replaces the servers of a group at run time: the
// supervisor points the "app" group at a new generation's socket this way
// (or at nothing while the application is down: requests then get 503 with
// Retry-After). It returns once every worker has switched, so afterwards no
// new request goes to a removed server, and every request that went to one
// is counted in its InFlight.
func (e *Engine) SetUpstreamServers(group string, addrs []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	spec, ok := e.groups[group]
	if !ok {
		return fmt.Errorf("upstream %q is not defined", group)
	}
	next := *spec
	next.servers = nil
	for _, a := range addrs {
		st, err := e.servers.get(a)
		if err != nil {
			return err
		}
		next.servers = append(next.servers, serverSpec{state: st, weight: 1})
	}
	groups := make(map[string]*groupSpec, len(e.groups))
	for k, v := range e.groups {
		groups[k] = v
	}
	groups[group] = &next
	e.groups = groups
	e.health.update(groups)
	e.onEachWorker(func(w *worker) { w.setGroups(groups) })
	return nil
}

// SetUpstreamHold makes requests for a group without servers wait up to d
// for one (the supervised application is booting: after a restart of
// frontdoor, say) instead of getting 503 at once; 0 turns it off. Requests
// already waiting keep their deadline.
func (e *Engine) SetUpstreamHold(group string, d time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	spec, ok := e.groups[group]
	if !ok {
		return fmt.Errorf("upstream %q is not defined", group)
	}
	next := *spec
	next.hold = d
	groups := make(map[string]*groupSpec, len(e.groups))
	for k, v := range e.groups {
		groups[k] = v
	}
	groups[group] = &next
	e.groups = groups
	e.onEachWorker(func(w *worker) { w.setGroups(groups) })
	return nil
}

// SetUpstreamMaintenance puts a group in maintenance: every request routed
// to it is answered 503 with Retry-After (retryAfter, rounded to seconds)
// and page as its HTML body, without reaching its servers — static routes
// are not concerned. A nil page ends it. A held request (the group
// waiting for its application) gets the page too. The mode stays through
// Reload, like the servers given with SetUpstreamServers. It returns once
// every worker has switched.
func (e *Engine) SetUpstreamMaintenance(group string, page []byte, retryAfter time.Duration) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	spec, ok := e.groups[group]
	if !ok {
		return fmt.Errorf("upstream %q is not defined", group)
	}
	next := *spec
	next.maintenance = newMaintenancePage(page, retryAfter)
	groups := make(map[string]*groupSpec, len(e.groups))
	for k, v := range e.groups {
		groups[k] = v
	}
	groups[group] = &next
	e.groups = groups
	e.onEachWorker(func(w *worker) { w.setGroups(groups) })
	return nil
}

// InFlight reports the requests being proxied to addr and the upgraded
// tunnels open to it, summed over all workers.
func (e *Engine) InFlight(addr string) (requests, tunnels int) {
	s := e.servers.lookup(addr)
	if s == nil {
		return 0, 0
	}
	return int(s.inflight.Load()), int(s.tunnels.Load())
}

// resumeHeld retries every request waiting for a server (the groups just
// changed: a server may have arrived).
func (w *worker) resumeHeld() {
	held := w.held
	w.held = nil
	for _, h := range held {
		c := h.c
		if c.gen != h.gen || c.state != stateUpstream || c.ex == nil || c.ex.px == nil || c.ex.px.up != nil {
			continue
		}
		px := c.ex.px
		if g := w.groups[px.route.upstream]; g != nil {
			px.group = g
		}
		w.connectUpstream(c)
		w.drive(c)
	}
}
