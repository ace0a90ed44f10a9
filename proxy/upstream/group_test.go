package upstream

import (
	"strings"
	"testing"
	"time"
)

// TestPickSmoothWeightedRoundRobin: weights 3 and 1 give a a b a, again
// and again (nginx's smooth order, not a a a b); a server marked down is
// skipped until its fail_timeout has passed.
func TestPickSmoothWeightedRoundRobin(t *testing.T) {
	a, b := &Server{Addr: "a"}, &Server{Addr: "b"}
	g := newGroup(&Spec{MaxFails: 1, FailTimeout: time.Second, Servers: []ServerSpec{{a, 3}, {b, 1}}})
	var seq strings.Builder
	for range 8 {
		seq.WriteString(g.Pick(0).Server.Addr)
	}
	if seq.String() != "aabaaaba" {
		t.Fatalf("picked %s, want aabaaaba", seq.String())
	}
	g.MarkFailure(g.Members[0], 0)
	if s := g.Pick(int64(time.Second) - 1); s.Server != b {
		t.Fatalf("a marked down, picked %s", s.Server.Addr)
	}
	if s := g.Pick(int64(time.Second)); s == nil {
		t.Fatal("no server once the fail timeout passed")
	}
}

// TestPickLeastConn: the server with fewer requests in flight, relative
// to its weight.
func TestPickLeastConn(t *testing.T) {
	a, b := &Server{Addr: "a"}, &Server{Addr: "b"}
	g := newGroup(&Spec{Balance: LeastConn, Servers: []ServerSpec{{a, 1}, {b, 2}}})
	for _, want := range []string{"a", "b", "b", "a"} {
		s := g.Pick(0)
		if s.Server.Addr != want {
			t.Fatalf("picked %s, want %s", s.Server.Addr, want)
		}
		s.CountIn()
	}
}

func TestParseBalanceAndCheckAddr(t *testing.T) {
	for name, want := range map[string]Balance{"": RoundRobin, "round_robin": RoundRobin, "Least_Conn": LeastConn} {
		if b, err := ParseBalance(name); err != nil || b != want {
			t.Errorf("ParseBalance(%q) = %v, %v", name, b, err)
		}
	}
	for _, name := range []string{"roundrobin", "leastconn", "random"} {
		if _, err := ParseBalance(name); err == nil {
			t.Errorf("ParseBalance(%q) accepted", name)
		}
	}
	for addr, ok := range map[string]bool{"unix:/run/app.sock": true, "127.0.0.1:8000": true, "[::1]:80": true, "localhost:8000": true,
		"unix:": false, "unix:app.sock": false, "unix:/" + strings.Repeat("x", 107): false, "127.0.0.1": false, "127.0.0.1:http": false, "127.0.0.1:70000": false} {
		if err := CheckAddr(addr); (err == nil) != ok {
			t.Errorf("CheckAddr(%q) = %v", addr, err)
		}
	}
}
