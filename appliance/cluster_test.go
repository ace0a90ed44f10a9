package appliance

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"frontdoor/internal/testkit"
	"frontdoor/state/cluster"
)

// TestClusterEdgesShareCertificates: three edges started at once for the
// same names place one order per name between them and serve the same
// certificates; `frontdoor status --cluster` shows every edge; a renewal
// ordered by edge a whose validation the CA sends to edge b succeeds;
// the renewed certificate reaches b and c by LISTEN/NOTIFY within a
// second, under load, with no failed request; a TLS session ticket edge a
// issued resumes on edge b.
func TestClusterEdgesShareCertificates(t *testing.T) {
	r := newClusterRig(t, []string{"one.test", "two.test"}, rigOptions{})
	// two.test is validated at edge b, whichever edge orders it.
	r.p.SetA(t, "two.test", "127.0.0.2")
	for _, e := range r.edges {
		e.start()
	}
	a, b, c := r.edges[0], r.edges[1], r.edges[2]

	serials := map[string]string{}
	for _, name := range r.names {
		for _, e := range r.edges {
			s := e.waitServing(name, "", 60*time.Second)
			if prev, ok := serials[name]; ok && prev != s {
				t.Fatalf("%s: edge %s serves serial %s, another edge %s", name, e.name, s, prev)
			}
			serials[name] = s
		}
	}
	if got := r.p.Orders(); got != len(r.names) {
		t.Fatalf("pebble saw %d orders for %d names (one per name wanted); the edges say they placed %v and %v",
			got, len(r.names), r.ordersPlaced("one.test", r.edges...), r.ordersPlaced("two.test", r.edges...))
	}

	t.Run("status --cluster shows every edge", func(t *testing.T) {
		var out string
		testkit.WaitFor(t, 10*time.Second, "every edge's heartbeat with both certificates", func() bool {
			o, err := a.cli("status", "--cluster")
			out = o
			return err == nil && strings.Count(out, "live") == 3 &&
				strings.Count(out, "#"+shortSerial(serials["one.test"])) == 3 && strings.Count(out, "#"+shortSerial(serials["two.test"])) == 3
		})
		for _, want := range []string{"a (this)", "\n          b ", "\n          c ", "PostgreSQL postgres@127.0.0.1"} {
			if !strings.Contains(out, want) {
				t.Errorf("status --cluster lacks %q:\n%s", want, out)
			}
		}

		// The same from another edge, as JSON: every edge with its
		// heartbeat, version and certificates; this edge's connection.
		raw, err := c.cli("status", "--cluster", "--json")
		if err != nil {
			t.Fatalf("status --cluster --json: %v\n%s", err, raw)
		}
		var rep ClusterReport
		if err := json.Unmarshal([]byte(raw), &rep); err != nil {
			t.Fatalf("status --cluster --json is not a cluster report: %v\n%s", err, raw)
		}
		if rep.Status.Edge != "c" || rep.Status.State != cluster.StateUp || rep.Status.SchemaVersion < 1 || rep.View == nil {
			t.Fatalf("status --cluster --json from edge c: %+v", rep)
		}
		var edges []string
		for _, e := range rep.View.Edges {
			edges = append(edges, e.Edge)
			served := map[string]string{}
			for _, s := range e.Certificates {
				served[s.Name] = s.Serial
			}
			if !e.Live || e.HeartbeatAt.IsZero() || e.Version == "" || e.Hostname == "" || e.Self != (e.Edge == "c") ||
				served["one.test"] != serials["one.test"] || served["two.test"] != serials["two.test"] {
				t.Errorf("edge %s in status --cluster --json: %+v (serving %v, want %v)", e.Edge, e, served, serials)
			}
		}
		if strings.Join(edges, ",") != "a,b,c" {
			t.Errorf("status --cluster --json lists edges %v, want a, b, c", edges)
		}
	})

	t.Run("no private key in clear in the database", func(t *testing.T) {
		r.checkSealed(t, "one.test", "two.test", "acme_account+key")
	})

	t.Run("validation at another edge; the renewal reaches every edge at once", func(t *testing.T) {
		r.p.SetA(t, "one.test", "127.0.0.2") // the CA validates at b; a orders
		load := r.startLoad("one.test", a, b, c)
		before := serials["one.test"]
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		res, err := a.admin().Renew(ctx, "one.test")
		renewed := time.Now()
		if err != nil || !res.OK {
			t.Fatalf("renewal ordered by edge a, validated at b: %v %+v", err, res)
		}
		after, err := a.serial("one.test")
		if err != nil || after == before {
			t.Fatalf("edge a serves %s after the renewal (before %s): %v", after, before, err)
		}
		var wg sync.WaitGroup
		lag := map[string]time.Duration{}
		var mu sync.Mutex
		for _, e := range []*clusterEdge{b, c} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				deadline := time.Now().Add(10 * time.Second)
				for time.Now().Before(deadline) {
					if s, err := e.serial("one.test"); err == nil && s == after {
						mu.Lock()
						lag[e.name] = time.Since(renewed)
						mu.Unlock()
						return
					}
					time.Sleep(10 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		load.finish(t, a, b, c)
		for _, e := range []*clusterEdge{b, c} {
			d, ok := lag[e.name]
			if !ok {
				t.Fatalf("edge %s still serves the old certificate 10 s after the renewal", e.name)
			}
			// The bound: pushed, not polled (the managers look at
			// their names once a minute).
			if d > time.Second {
				t.Errorf("edge %s served the renewed certificate %v after the renewal, over 1 s", e.name, d)
			}
		}
		t.Logf("renewed one.test on a (validated at b): b served it after %v, c after %v", lag["b"], lag["c"])
		if got := r.p.Orders(); got != len(r.names)+1 {
			t.Errorf("pebble saw %d orders, want %d", got, len(r.names)+1)
		}
		if !strings.Contains(b.proc.stderr.String(), "certificate loaded from the cluster") {
			t.Errorf("edge b's log does not say it loaded the certificate from the cluster")
		}
	})

	t.Run("HTTP-01 answered by another edge", func(t *testing.T) {
		// At 127.0.0.4 nothing answers HTTPS (TLS-ALPN-01 fails at once)
		// and port 80 leads to edge b: edge a's renewal can only succeed
		// with HTTP-01, answered by b from what a published.
		r.spareTLS.Close()
		fwd := newForwarder(t, r.spareHTTP, fmt.Sprintf("%s:%d", b.ip, r.httpPort))
		r.p.SetA(t, "one.test", spareEdgeIP)
		before, _ := a.serial("one.test")
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		res, err := a.admin().Renew(ctx, "one.test")
		if err != nil || !res.OK {
			t.Fatalf("renewal ordered by edge a, HTTP-01 validated at b: %v %+v", err, res)
		}
		if after, err := a.serial("one.test"); err != nil || after == before {
			t.Fatalf("edge a serves %s after the renewal (before %s): %v", after, before, err)
		}
		if fwd.accepted() == 0 {
			t.Fatal("the CA's HTTP-01 validation never reached edge b")
		}
	})

	t.Run("a session ticket from edge a resumes on edge b", func(t *testing.T) {
		cache := tls.NewLRUClientSessionCache(8)
		conf := &tls.Config{ServerName: "one.test", RootCAs: r.roots, ClientSessionCache: cache}
		first := httpsOver(t, a.tlsAddr(), conf)
		if first.DidResume {
			t.Fatal("the first connection resumed")
		}
		for _, e := range []*clusterEdge{b, c} {
			if st := httpsOver(t, e.tlsAddr(), conf); !st.DidResume {
				t.Errorf("edge %s did not resume a session edge a began", e.name)
			}
		}
	})
}

// httpsOver makes one request on a new TLS connection to addr (reading
// the answer, so that TLS 1.3's tickets arrive) and returns the
// connection's state.
func httpsOver(t *testing.T, addr string, conf *tls.Config) tls.ConnectionState {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, conf)
	if err != nil {
		t.Fatalf("TLS to %s: %v", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", conf.ServerName)
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.Contains(line, "200") {
		t.Fatalf("GET over TLS to %s: %q, %v", addr, line, err)
	}
	return conn.ConnectionState()
}

// blackHole accepts connections on l and holds them without a word
// until closed: the CA's validation, sent there, waits.
type blackHole struct {
	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func newBlackHole(t *testing.T, l net.Listener) *blackHole {
	t.Helper()
	h := &blackHole{l: l}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			h.conns = append(h.conns, c)
			h.mu.Unlock()
		}
	}()
	t.Cleanup(h.close)
	return h
}

func (h *blackHole) accepted() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

func (h *blackHole) close() {
	h.l.Close()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.conns {
		c.Close()
	}
	h.conns = nil
}

// TestClusterOrderingEdgeKilled: the edge holding a name's order lease is
// killed (SIGKILL) while the CA validates; another edge takes the lease
// over once it runs out and completes the order: one more order (the one
// retried), then one certificate, served by every surviving edge, and by
// the killed one once restarted, which orders nothing.
func TestClusterOrderingEdgeKilled(t *testing.T) {
	r := newClusterRig(t, []string{"kill.test"}, rigOptions{skipResolveCheck: true})
	// The name leads to an address where the validation hangs.
	hole := newBlackHole(t, r.spareTLS)
	r.p.SetA(t, "kill.test", spareEdgeIP)
	for _, e := range r.edges {
		e.start()
	}
	var orderer *clusterEdge
	testkit.WaitFor(t, 60*time.Second, "one edge ordering, its validation under way", func() bool {
		for _, e := range r.edges {
			if strings.Contains(e.proc.stderr.String(), "placing an ACME order") {
				orderer = e
			}
		}
		return orderer != nil && hole.accepted() > 0
	})
	// While its validation hangs the orderer renews its lease: it holds it
	// past twice its time to live, under the same fencing token, and no
	// other edge orders.
	var held cluster.OrderView
	testkit.WaitFor(t, 30*time.Second, "the orderer's lease held past twice its 3 s", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rep, err := orderer.admin().Cluster(ctx)
		if err != nil || rep.View == nil || len(rep.View.Orders) != 1 || rep.View.Orders[0].Edge != orderer.name {
			t.Fatalf("the orders under way while edge %s orders: %+v, %v", orderer.name, rep.View, err)
		}
		o := rep.View.Orders[0]
		if held.Token == 0 {
			held = o
		}
		if o.Token != held.Token {
			t.Fatalf("the lease changed hands while its holder was alive: %+v, then %+v", held, o)
		}
		return time.Since(o.AcquiredAt) > 2*3*time.Second
	})
	if got := r.p.Orders(); got != 1 {
		t.Fatalf("pebble saw %d orders before the kill, want 1", got)
	}
	var survivors []*clusterEdge
	for _, e := range r.edges {
		if e != orderer {
			survivors = append(survivors, e)
		}
	}
	// From now on the name leads to a surviving edge (the validation
	// under way stays in the hole), then the orderer dies mid-order.
	r.p.SetA(t, "kill.test", survivors[0].ip)
	orderer.proc.cmd.Process.Kill()
	orderer.proc.cmd.Wait()
	killed := time.Now()
	hole.close()

	// No client asks for the name meanwhile: the takeover must come from
	// the survivors themselves, when the lease runs out.
	serial := survivors[0].waitValid("kill.test", 60*time.Second)
	took := time.Since(killed)
	if s := survivors[1].waitValid("kill.test", 10*time.Second); s != serial {
		t.Fatalf("the survivors hold different certificates: %s and %s", serial, s)
	}
	for _, e := range survivors {
		if s := e.waitServing("kill.test", "", 10*time.Second); s != serial {
			t.Fatalf("edge %s serves %s, the cluster's certificate is %s", e.name, s, serial)
		}
	}
	t.Logf("edge %s killed mid-order; a surviving edge completed %v later (lease 3s)", orderer.name, took)
	// The lease runs out 3 s after the holder's last renewal; a takeover
	// then orders (a second or two with pebble). Far longer means the
	// takeover did not happen when the lease ran out.
	if took > 30*time.Second {
		t.Errorf("the order was completed %v after the kill, with a 3 s lease", took)
	}
	if got := r.p.Orders(); got != 2 {
		t.Errorf("pebble saw %d orders, want 2 (the killed edge's and the one retried)", got)
	}
	waited := false
	for _, e := range survivors {
		waited = waited || strings.Contains(e.proc.stderr.String(), "another edge of the cluster is ordering this certificate")
	}
	if !waited {
		t.Error("no surviving edge logged that it waited for the ordering edge")
	}

	// The killed edge comes back: it serves the cluster's certificate and
	// orders nothing.
	orderer.start()
	if s := orderer.waitServing("kill.test", "", 30*time.Second); s != serial {
		t.Errorf("the restarted edge serves %s, the cluster %s", s, serial)
	}
	if got := r.p.Orders(); got != 2 {
		t.Errorf("pebble saw %d orders after the killed edge restarted, want 2", got)
	}
}

// clusterOutage is how long TestClusterPostgresOutage keeps PostgreSQL
// stopped: 60 s, as the issue asks, or FRONTDOOR_CLUSTER_OUTAGE (a
// duration) when set.
func clusterOutage(t *testing.T) time.Duration {
	if v := os.Getenv("FRONTDOOR_CLUSTER_OUTAGE"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("FRONTDOOR_CLUSTER_OUTAGE=%q: %v", v, err)
		}
		return d
	}
	return 60 * time.Second // as the issue asks: a minute without the database
}

// TestClusterPostgresOutage: PostgreSQL stopped under load is no outage:
// no request fails on any edge (edge c under load once restarted), no
// order is placed (an operator's renewal is refused, saying why),
// `frontdoor status` shows the outage, an edge started meanwhile serves
// what its state file holds; when PostgreSQL is back every edge
// reconnects, the events of the outage reach the cluster's history, and a
// renewal reaches every edge again.
func TestClusterPostgresOutage(t *testing.T) {
	outage := clusterOutage(t)
	r := newClusterRig(t, []string{"outage.test"}, rigOptions{})
	for _, e := range r.edges {
		e.start()
	}
	a, b, c := r.edges[0], r.edges[1], r.edges[2]
	serial := a.waitServing("outage.test", "", 60*time.Second)
	for _, e := range []*clusterEdge{b, c} {
		testkit.WaitFor(t, 10*time.Second, "edge "+e.name+" serving the cluster's certificate", func() bool {
			s, err := e.serial("outage.test")
			return err == nil && s == serial
		})
	}
	orders := r.p.Orders()
	load := r.startLoad("outage.test", a, b)

	r.pg.Stop()
	stopped := time.Now()
	for _, e := range r.edges {
		testkit.WaitFor(t, 10*time.Second, "edge "+e.name+" reporting the outage", func() bool {
			st := e.status().Cluster
			return st != nil && st.State == cluster.StateDown
		})
	}
	text, err := a.cli("status")
	if err != nil || !strings.Contains(text, "DOWN since") || !strings.Contains(text, "no certificate is ordered until it is back") {
		t.Errorf("frontdoor status during the outage: %v\n%s", err, text)
	}
	if text, err := b.cli("status", "--cluster"); err != nil || !strings.Contains(text, "DOWN since") ||
		!strings.Contains(text, "edges     unknown: this edge cannot read the cluster's database") {
		t.Errorf("frontdoor status --cluster during the outage: %v\n%s", err, text)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if metrics, err := a.admin().Metrics(ctx); err != nil || !strings.Contains(metrics, `frontdoor_cluster_up{edge="a"} 0`) {
		t.Errorf("metrics during the outage: %v\n%s", err, metrics)
	}
	res, err := a.admin().Renew(ctx, "outage.test")
	if err != nil || res.OK || !strings.Contains(res.Error, "unavailable") {
		t.Errorf("a renewal during the outage: %v %+v (want it refused: the cluster's database is unavailable)", err, res)
	}

	// An edge (re)started while PostgreSQL is down serves its state file.
	c.stop()
	c.start()
	if s := c.waitServing("outage.test", "", 20*time.Second); s != serial {
		t.Errorf("edge c restarted during the outage serves %s, want %s", s, serial)
	}
	loadC := r.startLoad("outage.test", c) // and keeps serving it under load

	time.Sleep(time.Until(stopped.Add(outage))) // the outage lasts this long, under load
	r.pg.Start()
	// A new deadline: the first one may have run out during a long outage.
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, e := range r.edges {
		testkit.WaitFor(t, 30*time.Second, "edge "+e.name+" reconnected", func() bool {
			st := e.status().Cluster
			return st != nil && st.State == cluster.StateUp
		})
	}
	load.finish(t, a, b)
	loadC.finish(t, c)
	if got := r.p.Orders(); got != orders {
		t.Fatalf("pebble saw %d orders during the outage, %d before", got, orders)
	}
	if st := a.status().Cluster; st.Outages != 1 || st.LastOutageEnd.IsZero() {
		t.Errorf("edge a's status after the outage: %+v", st)
	}

	// The history got every edge's outage, written while the database was away.
	lastSeen := "no answer"
	defer func() {
		if t.Failed() {
			t.Logf("the cluster's view last seen: %s", lastSeen)
		}
	}()
	testkit.WaitFor(t, 10*time.Second, "the outage in the cluster's history, and three live edges", func() bool {
		rep, err := b.admin().Cluster(ctx)
		if err != nil || rep.View == nil {
			lastSeen = fmt.Sprintf("no view: %v %s", err, rep.ViewError)
			return false
		}
		live, down := 0, map[string]bool{}
		for _, e := range rep.View.Edges {
			if e.Live {
				live++
			}
		}
		for _, e := range rep.View.Events {
			if e.Source == "cluster" && e.Kind == "down" {
				down[e.Edge] = true
			}
		}
		lastSeen = fmt.Sprintf("%d live edges, outages recorded for %v; events %+v", live, down, rep.View.Events)
		return live == 3 && down["a"] && down["b"] && down["c"]
	})
	if out, err := b.cli("status", "--cluster"); err != nil || strings.Count(out, "live") != 3 || !strings.Contains(out, "lost PostgreSQL 1 time(s)") {
		t.Errorf("status --cluster after the outage: %v\n%s", err, out)
	}

	// The cluster works again: a renewal on b reaches a and c.
	res, err = b.admin().Renew(ctx, "outage.test")
	if err != nil || !res.OK {
		t.Fatalf("a renewal after the outage: %v %+v", err, res)
	}
	renewed, _ := b.serial("outage.test")
	for _, e := range []*clusterEdge{a, c} {
		testkit.WaitFor(t, 10*time.Second, "edge "+e.name+" serving the renewed certificate", func() bool {
			s, err := e.serial("outage.test")
			return err == nil && s == renewed
		})
	}
	if got := r.p.Orders(); got != orders+1 {
		t.Errorf("pebble saw %d orders, want %d", got, orders+1)
	}
}
