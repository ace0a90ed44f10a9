package upstream

import (
	"fmt"
	"strings"
	"time"
)

// Balance is how a group chooses a server for a request.
type Balance uint8

const (
	// RoundRobin is smooth weighted round robin, nginx's (the default).
	RoundRobin Balance = iota
	// LeastConn picks the server with the fewest requests in flight on
	// this worker, relative to its weight.
	LeastConn
)

// balanceNames are the names of the balancing methods, as configured.
var balanceNames = map[string]Balance{"round_robin": RoundRobin, "least_conn": LeastConn}

// ParseBalance reads a balancing method: "round_robin" (or "", the
// default) or "least_conn", in any case.
func ParseBalance(name string) (Balance, error) {
	if name == "" {
		return RoundRobin, nil
	}
	if b, ok := balanceNames[strings.ToLower(name)]; ok {
		return b, nil
	}
	return 0, fmt.Errorf("balance %q: want round_robin or least_conn", name)
}

// Spec is a group's compiled description, shared by the workers and never
// changed once made: a change makes a new Spec.
type Spec struct {
	Name        string
	Balance     Balance
	MaxFails    int32         // transport failures within FailTimeout that take a server out
	FailTimeout time.Duration // and for how long
	Servers     []ServerSpec
	Health      *HealthCheck
	// Hold is how long a request waits for a server while the group has
	// none (the application is booting) before it gets 503; 0: at once.
	Hold time.Duration
	// Maintenance, when set, answers every request for the group (its
	// application is in maintenance mode) instead of its servers.
	Maintenance *Maintenance
}

// ServerSpec is one server of a Spec.
type ServerSpec struct {
	Server *Server
	Weight int
}

// Group is one worker's view of a group: its own balancing cursor, active
// counts and idle connection pools, so the hot path takes no lock.
type Group struct {
	Spec    *Spec
	Members []*Member
}

// Member is one server of a worker's Group.
type Member struct {
	Server  *Server
	weight  int
	current int // smooth weighted round robin
	active  int // this worker's requests on it (least_conn)
	idle    *Conn
	nidle   int
	// overQueued: the member holds more idle connections than the pool's
	// Size, and is in the pool's list to trim at the end of the turn.
	overQueued bool
}

func newGroup(spec *Spec) *Group {
	g := &Group{Spec: spec}
	for _, s := range spec.Servers {
		g.Members = append(g.Members, &Member{Server: s.Server, weight: max(s.Weight, 1)})
	}
	return g
}

// Pick chooses a server: smooth weighted round robin (nginx's) or least
// connections, skipping servers marked down or unhealthy. It returns nil
// when none is available.
func (g *Group) Pick(nowUnix int64) *Member {
	var best *Member
	if g.Spec.Balance == LeastConn {
		for _, s := range g.Members {
			if !s.Server.available(nowUnix) {
				continue
			}
			if best == nil || s.active*best.weight < best.active*s.weight {
				best = s
			}
		}
		return best
	}
	total := 0
	for _, s := range g.Members {
		if !s.Server.available(nowUnix) {
			continue
		}
		s.current += s.weight
		total += s.weight
		if best == nil || s.current > best.current {
			best = s
		}
	}
	if best != nil {
		best.current -= total
	}
	return best
}

// MarkFailure records a transport failure (connect refused or timed out,
// connection reset, response timeout).
func (g *Group) MarkFailure(s *Member, nowUnix int64) {
	n := s.Server.fails.Add(1)
	if n >= g.Spec.MaxFails {
		s.Server.downUntil.Store(nowUnix + int64(g.Spec.FailTimeout))
		s.Server.fails.Store(0)
	}
}

// MarkSuccess forgets the failures of a server that answered.
func (g *Group) MarkSuccess(s *Member) {
	if s.Server.fails.Load() != 0 {
		s.Server.fails.Store(0)
	}
}

// CountIn counts a request in flight on s (this worker's least_conn
// count, and the server's in-flight figure).
func (s *Member) CountIn() {
	s.active++
	s.Server.inflight.Add(1)
}

// CountOut ends what CountIn counted.
func (s *Member) CountOut() {
	s.active--
	s.Server.inflight.Add(-1)
}
