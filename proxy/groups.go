package proxy

import (
	"fmt"
	"time"

	"frontdoor/proxy/upstream"
)

// compileProxy resolves the upstream groups and trusted proxies of cfg
// (validated, defaults applied).
func (e *Engine) compileProxy(cfg *Config) (map[string]*upstream.Spec, *trustedSet, error) {
	trusted, err := parseTrusted(cfg.Proxy.TrustedProxies)
	if err != nil {
		return nil, nil, err
	}
	groups := map[string]*upstream.Spec{}
	for _, u := range cfg.Upstreams {
		balance, err := upstream.ParseBalance(u.Balance)
		if err != nil {
			return nil, nil, fmt.Errorf("upstream %q: %w", u.Name, err)
		}
		spec := &upstream.Spec{Name: u.Name, Balance: balance, MaxFails: int32(u.MaxFails), FailTimeout: u.FailTimeout}
		if h := u.HealthCheck; h != nil {
			spec.Health = &upstream.HealthCheck{Path: h.Path, Host: h.Host, Interval: h.Interval, Timeout: h.Timeout}
		}
		for _, s := range u.Servers {
			st, err := e.servers.Get(s.Addr)
			if err != nil {
				return nil, nil, fmt.Errorf("upstream %q: %w", u.Name, err)
			}
			spec.Servers = append(spec.Servers, upstream.ServerSpec{Server: st, Weight: max(s.Weight, 1)})
		}
		groups[u.Name] = spec
	}
	return groups, trusted, nil
}

// setGroups gives the worker its own view of each group, keeping the
// balancing state and pools of servers that stay, and retries the
// requests waiting for a server.
func (w *worker) setGroups(specs map[string]*upstream.Spec) {
	w.groups = w.pool.Regroup(w.groups, specs)
	w.resumeHeld()
}

// SetUpstreamServers replaces the servers of a group at run time: the
// supervisor points the "app" group at a new generation's socket this way
// (or at nothing while the application is down: requests then get 503 with
// Retry-After). It returns once every worker has switched, so afterwards no
// new request goes to a removed server, and every request that went to one
// is counted in its InFlight.
func (e *Engine) SetUpstreamServers(group string, addrs []string) error {
	return e.changeGroup(group, true, func(next *upstream.Spec) error {
		next.Servers = nil
		for _, a := range addrs {
			st, err := e.servers.Get(a)
			if err != nil {
				return err
			}
			next.Servers = append(next.Servers, upstream.ServerSpec{Server: st, Weight: 1})
		}
		return nil
	})
}

// SetUpstreamHold makes requests for a group without servers wait up to d
// for one (the supervised application is booting: after a restart of
// frontdoor, say) instead of getting 503 at once; 0 turns it off. Requests
// already waiting keep their deadline.
func (e *Engine) SetUpstreamHold(group string, d time.Duration) error {
	return e.changeGroup(group, false, func(next *upstream.Spec) error {
		next.Hold = d
		return nil
	})
}

// SetUpstreamMaintenance puts a group in maintenance: every request routed
// to it is answered 503 with Retry-After (retryAfter, rounded to seconds)
// and page as its HTML body, without reaching its servers — static routes
// are not concerned. A nil page ends it. A held request (the group
// waiting for its application) gets the page too. The mode stays through
// Reload, like the servers given with SetUpstreamServers. It returns once
// every worker has switched.
func (e *Engine) SetUpstreamMaintenance(group string, page []byte, retryAfter time.Duration) error {
	return e.changeGroup(group, false, func(next *upstream.Spec) error {
		next.Maintenance = upstream.NewMaintenance(page, retryAfter)
		return nil
	})
}

// changeGroup replaces a group's Spec with a copy that change edits (a
// Spec is never changed once the workers have it), and returns once every
// worker has the new one. servers: the change touches the servers, which
// the health checker follows. Called before Start, it sets the group the
// workers begin with.
func (e *Engine) changeGroup(group string, servers bool, change func(next *upstream.Spec) error) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return fmt.Errorf("upstream %q: the engine has stopped", group)
	}
	spec, ok := e.groups[group]
	if !ok {
		return fmt.Errorf("upstream %q is not defined", group)
	}
	next := *spec
	if err := change(&next); err != nil {
		return err
	}
	groups := make(map[string]*upstream.Spec, len(e.groups))
	for k, v := range e.groups {
		groups[k] = v
	}
	groups[group] = &next
	e.groups = groups
	if !e.started {
		// No loop runs yet: Start gives the health checker these groups.
		for _, w := range e.workers {
			w.setGroups(groups)
		}
		return nil
	}
	if servers {
		e.health.Update(groups)
	}
	e.onEachWorker(func(w *worker) { w.setGroups(groups) })
	return nil
}

// InFlight reports the requests being proxied to addr and the upgraded
// tunnels open to it, summed over all workers.
func (e *Engine) InFlight(addr string) (requests, tunnels int) {
	s := e.servers.Lookup(addr)
	if s == nil {
		return 0, 0
	}
	r, t := s.InFlight()
	return int(r), int(t)
}

// resumeHeld retries the requests waiting for a server (the groups just
// changed: a server may have arrived). A request whose own group still has
// no server, and still holds, keeps waiting within its deadline: another
// group's change (another app became ready) is no answer for it.
func (w *worker) resumeHeld() {
	held := w.held
	w.held = nil
	for _, h := range held {
		ex := h.ex
		if ex.id != h.id || ex.phase != phaseUpstream || ex.px == nil || ex.px.up != nil {
			continue
		}
		px := ex.px
		if g := w.groups[px.route.upstream]; g != nil {
			px.group = g
		}
		if g := px.group; len(g.Members) == 0 && g.Spec.Hold > 0 && g.Spec.Maintenance == nil {
			w.held = append(w.held, h)
			continue
		}
		s := ex.s
		ex.connectUpstream()
		s.resume()
	}
}
