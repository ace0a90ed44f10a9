package appliance

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"frontdoor/internal/pebbletest"
	"frontdoor/internal/pgtest"
	"frontdoor/internal/testkit"
	"frontdoor/state/cluster"
)

// A cluster of frontdoor edges for the [cluster] tests: one PostgreSQL
// started as a plain process, pebble with challtestsrv, and edges, each a
// `frontdoor run` on its own loopback address (127.0.0.1, .2, .3) with
// the same HTTP and HTTPS ports, as several machines would have: pebble
// validates on those ports at whichever address challtestsrv gives the
// name (127.0.0.1 unless the test says otherwise). The rig binds every
// edge's sockets and passes them to it, as systemd's socket activation
// does: a connection to an edge that is still starting (or restarting)
// waits for it rather than being refused. Three edges started at once
// reach PostgreSQL one after the other (the first migrates the schema),
// so the CA may knock at an edge before it serves: on separate machines
// the resolve check's probe would wait for it, here its address is on
// "this machine" for every edge.
type clusterRig struct {
	t                 *testing.T
	pg                *pgtest.Server
	p                 *pebbletest.Server
	dir               string
	keyFile           string
	httpPort, tlsPort int
	// spareHTTP and spareTLS hold the rig's ports at spareEdgeIP, for a
	// test to use or close.
	spareHTTP, spareTLS net.Listener
	roots               *x509.CertPool
	names               []string
	opts                rigOptions
	edges               []*clusterEdge
}

type rigOptions struct {
	// skipResolveCheck orders without the resolve check (a name pointed
	// at an address no edge answers on).
	skipResolveCheck bool
}

// clusterEdge is one edge of the rig.
type clusterEdge struct {
	r    *clusterRig
	name string // the [cluster] edge name
	ip   string
	cfg  string // its configuration file
	proc *process
	// httpFile and tlsFile are its listening sockets, bound by the rig.
	httpFile, tlsFile *os.File
}

// clusterEdgeIPs are the edges' addresses: loopback only.
var clusterEdgeIPs = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}

// spareEdgeIP is an address no edge listens on, where a test puts what
// the CA should find instead (a black hole, a forwarder); the rig's ports
// are free there too.
const spareEdgeIP = "127.0.0.4"

func newClusterRig(t *testing.T, names []string, opts rigOptions) *clusterRig {
	t.Helper()
	pg := pgtest.Start(t) // skips without PostgreSQL, and with -short
	r := &clusterRig{t: t, pg: pg, dir: t.TempDir(), names: names, opts: opts}
	ips := append(append([]string{}, clusterEdgeIPs...), spareEdgeIP)
	var httpLs, tlsLs []net.Listener
	r.httpPort, httpLs = sharedListeners(t, ips)
	r.tlsPort, tlsLs = sharedListeners(t, ips)
	r.spareHTTP, r.spareTLS = httpLs[len(ips)-1], tlsLs[len(ips)-1]
	r.p = pebbletest.Start(t, r.httpPort, r.tlsPort)
	r.roots = r.p.Roots(t)
	r.keyFile = filepath.Join(r.dir, "cluster.key")
	if err := os.WriteFile(r.keyFile, []byte(cluster.NewKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"a", "b", "c"} {
		e := r.newEdge(name, clusterEdgeIPs[i])
		e.httpFile, e.tlsFile = listenerFile(t, httpLs[i]), listenerFile(t, tlsLs[i])
		r.edges = append(r.edges, e)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, e := range r.edges {
				if e.proc != nil {
					t.Logf("edge %s's log:\n%s", e.name, e.proc.stderr.String())
				}
			}
		}
	})
	return r
}

// sharedListeners listens on the same TCP port, picked by the kernel, on
// every one of ips.
func sharedListeners(t *testing.T, ips []string) (int, []net.Listener) {
	t.Helper()
	for range 100 {
		first, err := net.Listen("tcp", ips[0]+":0")
		if err != nil {
			t.Fatal(err)
		}
		port := first.Addr().(*net.TCPAddr).Port
		held := []net.Listener{first}
		for _, ip := range ips[1:] {
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
			if err != nil {
				break
			}
			held = append(held, l)
		}
		if len(held) == len(ips) {
			for _, l := range held {
				t.Cleanup(func() { l.Close() })
			}
			return port, held
		}
		for _, l := range held {
			l.Close()
		}
	}
	t.Fatal("no port free on every edge address")
	return 0, nil
}

// listenerFile is l's socket as a file to pass to an edge; l itself is
// closed (the file keeps the socket until the test ends).
func listenerFile(t *testing.T, l net.Listener) *os.File {
	t.Helper()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	t.Cleanup(func() { f.Close() })
	return f
}

func (r *clusterRig) dsn() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", r.pg.Port)
}

// newEdge writes an edge's configuration: short lease and heartbeat, so
// that takeovers and outages show within the test.
func (r *clusterRig) newEdge(name, ip string) *clusterEdge {
	dir := filepath.Join(r.dir, name)
	root := filepath.Join(dir, "www")
	if err := os.MkdirAll(root, 0o755); err != nil {
		r.t.Fatal(err)
	}
	os.WriteFile(filepath.Join(root, "index.html"), []byte("hello from edge "+name), 0o644)
	caFile := filepath.Join(dir, "pebble-api.pem")
	os.WriteFile(caFile, r.p.APICertPEM, 0o644)
	var hosts []string
	for _, n := range r.names {
		hosts = append(hosts, strconv.Quote(n))
	}
	text := fmt.Sprintf(`[server]
http = ["%s:%d"]
https = ["%s:%d"]
state = %q
runtime_dir = %q
access_log = "off"

[tls]
directory_url = %q
directory_ca = %q
resolver = %q
skip_resolve_check = %v

[cluster]
postgres = %q
edge = %q
key_file = %q
lease = "3s"
heartbeat = "300ms"
retry_max = "500ms"
challenge_wait = "3s"

[[site]]
hosts = [%s]
  [[site.route]]
  path = "/"
  static = %q
`, ip, r.httpPort, ip, r.tlsPort, filepath.Join(dir, "state", "state.db"), filepath.Join(dir, "run"),
		r.p.DirectoryURL, caFile, r.p.DNSAddr, r.opts.skipResolveCheck,
		r.dsn(), name, r.keyFile, strings.Join(hosts, ", "), root)
	cfg := filepath.Join(dir, "frontdoor.toml")
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		r.t.Fatal(err)
	}
	return &clusterEdge{r: r, name: name, ip: ip, cfg: cfg}
}

// start runs the edge on its sockets, passed as systemd passes them.
func (e *clusterEdge) start() {
	t := e.r.t
	p := &process{stderr: &syncBuffer{}}
	p.cmd = exec.Command("/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" run --config "$1"`, binPath, e.cfg)
	p.cmd.ExtraFiles = []*os.File{e.httpFile, e.tlsFile}
	p.cmd.Env = append(os.Environ(), "LISTEN_FDS=2", "LISTEN_FDNAMES=http:https")
	p.cmd.Stderr = p.stderr
	p.cmd.Stdout = io.Discard
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p.guardHostPaths(t)
	failOnRecoveredPanic(t, p.stderr)
	t.Cleanup(p.end)
	e.proc = p
}

// stop ends the edge with SIGTERM and waits for it.
func (e *clusterEdge) stop() {
	e.proc.cmd.Process.Signal(syscall.SIGTERM)
	e.proc.cmd.Wait()
}

func (e *clusterEdge) tlsAddr() string { return net.JoinHostPort(e.ip, strconv.Itoa(e.r.tlsPort)) }

func (e *clusterEdge) admin() *AdminClient { return NewAdminClient(AdminSocketFor(e.cfg)) }

// serial is the serial number (hex) of the certificate the edge serves
// for name, checked against pebble's root.
func (e *clusterEdge) serial(name string) (string, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", e.tlsAddr(), &tls.Config{ServerName: name, RootCAs: e.r.roots})
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Text(16), nil
}

// waitServing waits until the edge serves a valid certificate for name
// (other than not, when given) and returns its serial.
func (e *clusterEdge) waitServing(name, not string, timeout time.Duration) string {
	e.r.t.Helper()
	var serial string
	testkit.WaitFor(e.r.t, timeout, fmt.Sprintf("edge %s serving a certificate for %s", e.name, name), func() bool {
		s, err := e.serial(name)
		serial = s
		return err == nil && s != not
	})
	return serial
}

// waitValid waits, through the admin socket only (no TLS handshake, which
// would itself make the edge look at the name), until the edge holds a
// valid certificate for name, and returns its serial.
func (e *clusterEdge) waitValid(name string, timeout time.Duration) string {
	e.r.t.Helper()
	var serial string
	testkit.WaitFor(e.r.t, timeout, fmt.Sprintf("edge %s holding a certificate for %s", e.name, name), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		rep, _, err := e.admin().Status(ctx)
		if err != nil {
			return false
		}
		for _, c := range rep.Certificates {
			if c.Name == name && c.State == "valid" {
				serial = c.Serial
				return true
			}
		}
		return false
	})
	return serial
}

// status asks the edge's admin socket.
func (e *clusterEdge) status() StatusReport {
	e.r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, _, err := e.admin().Status(ctx)
	if err != nil {
		e.r.t.Fatalf("status of edge %s: %v", e.name, err)
	}
	return rep
}

// ordersPlaced sums the orders each edge says it placed for name.
func (r *clusterRig) ordersPlaced(name string, edges ...*clusterEdge) map[string]int {
	out := map[string]int{}
	for _, e := range edges {
		for _, c := range e.status().Certificates {
			if c.Name == name {
				out[e.name] = c.Orders
			}
		}
	}
	return out
}

// cli runs the frontdoor CLI against an edge.
func (e *clusterEdge) cli(args ...string) (string, error) {
	out, err := exec.Command(binPath, append(args, "--config", e.cfg)...).CombinedOutput()
	return string(out), err
}

// loadGen keeps HTTPS requests going to edges, each on a new TLS
// connection (so every request also takes a certificate), and counts
// failures.
type loadGen struct {
	stopCh chan struct{}
	wg     sync.WaitGroup
	mu     sync.Mutex
	ok     map[string]int
	failed map[string]int
	errs   []string
}

func (r *clusterRig) startLoad(name string, edges ...*clusterEdge) *loadGen {
	g := &loadGen{stopCh: make(chan struct{}), ok: map[string]int{}, failed: map[string]int{}}
	for _, e := range edges {
		client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			DisableKeepAlives: true,
			TLSClientConfig:   &tls.Config{ServerName: name, RootCAs: r.roots},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, e.tlsAddr())
			},
		}}
		for range 2 {
			g.wg.Add(1)
			go func() {
				defer g.wg.Done()
				for {
					select {
					case <-g.stopCh:
						return
					default:
					}
					resp, err := client.Get("https://" + name + "/")
					var body []byte
					if err == nil {
						body, _ = io.ReadAll(resp.Body)
						resp.Body.Close()
					}
					g.mu.Lock()
					if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(string(body), "hello from edge") {
						g.failed[e.name]++
						if len(g.errs) < 20 {
							why := fmt.Sprint(err)
							if err == nil {
								why = fmt.Sprintf("%s %q", resp.Status, body)
							}
							g.errs = append(g.errs, fmt.Sprintf("%s edge %s: %s", time.Now().Format("15:04:05.000"), e.name, why))
						}
					} else {
						g.ok[e.name]++
					}
					g.mu.Unlock()
					time.Sleep(2 * time.Millisecond) // load, not a flood, on a shared machine
				}
			}()
		}
	}
	return g
}

// finish stops the load and fails the test if any request failed or an
// edge served none.
func (g *loadGen) finish(t *testing.T, edges ...*clusterEdge) {
	t.Helper()
	close(g.stopCh)
	g.wg.Wait()
	for _, e := range edges {
		if g.failed[e.name] != 0 || g.ok[e.name] == 0 {
			t.Errorf("edge %s under load: %d requests served, %d failed; first failures:\n%s", e.name, g.ok[e.name], g.failed[e.name], strings.Join(g.errs, "\n"))
		}
	}
	t.Logf("load: served %v, failed %v", g.ok, g.failed)
}

// checkSealed reads the cluster's whole schema as PostgreSQL stores it
// and fails when a private key, or anything else, is there in clear:
// every shared value (the certificate cache's entries named by certKeys,
// the ACME records, the session-ticket keys) must be present and sealed
// (the seal's version byte, then nonce and ciphertext), and no row of any
// table may hold a PEM block, as text or as bytes.
func (r *clusterRig) checkSealed(t *testing.T, certKeys ...string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, r.dsn())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT space, key, value FROM frontdoor.kv WHERE NOT deleted")
	if err != nil {
		t.Fatal(err)
	}
	spaces := map[string]int{}
	stored := map[string]bool{}
	for rows.Next() {
		var space, key string
		var value []byte
		if err := rows.Scan(&space, &key, &value); err != nil {
			t.Fatal(err)
		}
		spaces[space]++
		if space == "" {
			stored[key] = true
		}
		if len(value) < 1+12+16 || value[0] != 1 || bytes.Contains(value, []byte("PRIVATE KEY")) || bytes.Contains(value, []byte("-----BEGIN")) {
			t.Errorf("kv %q/%q is not sealed: %q", space, key, value)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range certKeys {
		if !stored[k] {
			t.Errorf("the certificate cache's %q is not in the database (entries: %v)", k, stored)
		}
	}
	if spaces["acme"] == 0 || spaces["tls"] == 0 {
		t.Errorf("the ACME records or the session-ticket keys are not shared: rows per space %v", spaces)
	}
	var tables []string
	rows, err = conn.Query(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'frontdoor'")
	if err == nil {
		tables, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil || len(tables) < 6 {
		t.Fatalf("the schema's tables: %v, %v", tables, err)
	}
	pemHex := hex.EncodeToString([]byte("-----BEGIN"))
	for _, table := range tables {
		var dump string
		if err := conn.QueryRow(ctx, fmt.Sprintf("SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM frontdoor.%s t", pgx.Identifier{table}.Sanitize())).Scan(&dump); err != nil {
			t.Fatalf("read table %s: %v", table, err)
		}
		if strings.Contains(dump, "-----BEGIN") || strings.Contains(dump, "PRIVATE KEY") || strings.Contains(dump, pemHex) {
			t.Errorf("table frontdoor.%s holds a PEM block in clear:\n%s", table, dump)
		}
	}
}

// forwarder relays every TCP connection accepted on l to target, and
// counts them.
type forwarder struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	n      int
}

func newForwarder(t *testing.T, l net.Listener, target string) *forwarder {
	t.Helper()
	f := &forwarder{l: l, target: target}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.n++
			f.mu.Unlock()
			go f.relay(c)
		}
	}()
	return f
}

func (f *forwarder) relay(c net.Conn) {
	defer c.Close()
	up, err := net.DialTimeout("tcp", f.target, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite() }()
	io.Copy(c, up)
}

func (f *forwarder) accepted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}
