package appliance

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSlowClients runs Debian's slowhttptest against frontdoor in front of
// gunicorn + Django: slowloris (-H), slow body (-B) and slow read (-X),
// each for FRONTDOOR_SLOWTEST_SECONDS (default 15) with
// FRONTDOOR_SLOWTEST_CONNS connections (default 300; `make slowtest` runs
// 3,000 for 120 s). During each attack, once a second:
//
//   - a probe GET /healthz/ through the edge to Django must be answered
//     within a second;
//   - a probe POST /echo/ with a body of random length must reach the app
//     whole: the app logs every POST's length and digest, and each logged
//     POST must be one of the probe's, with its length and digest (so no
//     slow body that never completed ever reached gunicorn);
//   - frontdoor's RSS is sampled, and must stay under a bound.
//
// slowhttptest's own CSV report shows the server cutting the connections
// at the configured deadlines (request_head 5s, body_idle 5s, send_idle
// 10s): no connection is closed much before its deadline, every one soon
// after it. slowhttptest opens its connections once and does not replace
// the ones the server cuts, so the attack is started again until the
// duration is over.
func TestSlowClients(t *testing.T) {
	slow := needTool(t, "slowhttptest", "slowhttptest")
	conns := envInt("FRONTDOOR_SLOWTEST_CONNS", 300)
	duration := time.Duration(envInt("FRONTDOOR_SLOWTEST_SECONDS", 15)) * time.Second
	raiseOpenFiles(t, uint64(2*conns+1000))
	d := startMysite(t, `[timeouts]
request_head = "5s"
body_idle = "5s"
send_idle = "10s"
`)
	base := "http://" + d.addr
	const bigSize = 2621440 // 2.5 MiB: more than loopback's socket buffers take, so the engine keeps the rest

	attacks := []struct {
		mode     string
		args     []string
		rate     int
		deadline time.Duration // the configured deadline that must cut the connections
		slack    time.Duration // how long after it the client may notice (slowhttptest notices at its next send, and a loaded test machine starves it for seconds)
	}{
		// Slowloris: a header line every 2 s; request_head is absolute.
		{"H", []string{"-H", "-i", "2", "-x", "24", "-u", base + "/healthz/"}, max(conns/3, 50), 5 * time.Second, 6 * time.Second},
		// Slow body: 8 KiB announced, a few bytes every 2 s: under
		// body_min_rate (1 KiB/s), which applies once body_idle (5 s) has
		// passed, so the first follow-up after 5 s is answered 408.
		{"B", []string{"-B", "-i", "2", "-s", "8192", "-x", "10", "-u", base + "/echo/"}, max(conns/3, 50), 5 * time.Second, 6 * time.Second},
		// Slow read: a 512–1024 byte window, 256 bytes read a second, of a
		// 2.5 MiB response from Django (buffered by the engine). The
		// client notices the reset after reading what its own buffer
		// still held (~2 KB at 256 B/s), and Django takes a while to
		// answer every one under the load.
		{"X", []string{"-X", "-n", "1", "-z", "256", "-w", "512", "-y", "1024", "-k", "1",
			"-u", fmt.Sprintf("%s/big/?size=%d", base, bigSize)}, min(max(conns/10, 20), 50), 10 * time.Second, 15 * time.Second},
	}
	// The bound asserted on frontdoor's resident memory: a base, plus per
	// connection the head/body buffers, or for a slow reader the
	// response's memory part (buffer_memory, 64 KiB) until the rest goes
	// to the temporary file.
	rssBound := int64(48<<10) + int64(conns)*96 // KiB
	var summary []string
	for _, a := range attacks {
		t.Run(a.mode, func(t *testing.T) {
			mon := startMonitor(t, d, base, a.mode)
			var runs [][]slowRow
			deadline := time.Now().Add(duration)
			for i := 0; time.Until(deadline) > 2*time.Second; i++ {
				left := int(time.Until(deadline).Seconds())
				prefix := filepath.Join(t.TempDir(), fmt.Sprintf("run%d", i))
				args := append([]string{"-c", strconv.Itoa(conns), "-r", strconv.Itoa(a.rate), "-l", strconv.Itoa(left),
					"-p", "3", "-g", "-o", prefix}, a.args...)
				cmd := exec.Command(slow, args...)
				var out bytes.Buffer
				cmd.Stdout, cmd.Stderr = &out, &out
				if err := cmd.Run(); err != nil {
					t.Fatalf("slowhttptest %v: %v\n%s", args, err, out.String())
				}
				rows, err := readSlowCSV(prefix + ".csv")
				if err != nil {
					t.Fatalf("%v\n%s", err, out.String())
				}
				runs = append(runs, rows)
			}
			m := mon.stop()

			held, total := 0, 0
			for i, rows := range runs {
				if err := checkCuts(rows, a.deadline, a.slack); err != nil {
					t.Errorf("run %d: %v\n%s", i, err, formatRows(rows))
				}
				for _, r := range rows {
					held = max(held, r.connected)
				}
				if n := len(rows); n > 0 {
					total += rows[n-1].closed + rows[n-1].connected
				}
			}
			if len(runs) == 0 {
				t.Fatal("slowhttptest never ran")
			}
			line := fmt.Sprintf("-%s: %d runs, %d connections made, %d held at once; probe worst %v, median %v (%d probes); RSS max %d KiB (bound %d KiB); %d POSTs reached the app, all whole",
				a.mode, len(runs), total, held, m.worst.Round(time.Millisecond), m.median().Round(time.Millisecond), len(m.latencies), m.maxRSS, rssBound, m.posts)
			t.Log(line)
			summary = append(summary, line)
			if m.failures > 0 {
				t.Errorf("%d probes failed: %s", m.failures, m.firstFailure)
			}
			// A starved site answers nothing for the attack's length; the
			// bound only tells that apart from a busy test machine (the
			// latency under attack is measured by make slowtest).
			if m.worst > 5*time.Second {
				t.Errorf("a probe took %v (want < 5 s for the whole attack)", m.worst)
			}
			if m.maxRSS > rssBound {
				t.Errorf("frontdoor's RSS reached %d KiB (bound %d KiB)", m.maxRSS, rssBound)
			}
			// The app's log lines pass through frontdoor's log: give the
			// last ones a moment.
			err := checkAppSawWholeBodies(d.stderr.String(), m.sent)
			for end := time.Now().Add(10 * time.Second); err != nil && time.Now().Before(end); {
				time.Sleep(100 * time.Millisecond)
				err = checkAppSawWholeBodies(d.stderr.String(), m.sent)
			}
			if err != nil {
				t.Error(err)
			}
			if held < conns/10 {
				t.Errorf("only %d connections were ever held at once: the attack did not take", held)
			}
		})
	}
	t.Logf("slow clients, %d connections for %v each:\n%s", conns, duration, strings.Join(summary, "\n"))
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}

// slowRow is one line of slowhttptest's CSV report: per second, the
// sockets closed, still connecting, and connected (sent their request).
type slowRow struct {
	second, closed, pending, connected int
	available                          bool // its own probe was answered
}

func readSlowCSV(path string) ([]slowRow, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("slowhttptest report: %w", err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		return nil, fmt.Errorf("slowhttptest report %s: %w", path, err)
	}
	var rows []slowRow
	for _, rec := range recs[1:] { // "Seconds,Closed,Pending,Connected,Service Available"
		var v [5]int
		for i := range v {
			v[i], _ = strconv.Atoi(rec[i])
		}
		rows = append(rows, slowRow{v[0], v[1], v[2], v[3], v[4] > 0})
	}
	return rows, nil
}

// checkCuts reads the report for the deadline: with opened(t) the sockets
// that had sent their request by second t, the ones closed by t must be
// no more than those opened by t−deadline+1 (nobody cut early) and at
// least those opened by t−deadline−slack (everybody cut soon after).
func checkCuts(rows []slowRow, deadline, slack time.Duration) error {
	opened := func(s int) int {
		if s < 0 {
			return 0
		}
		for i := len(rows) - 1; i >= 0; i-- {
			if rows[i].second <= s {
				return rows[i].closed + rows[i].connected
			}
		}
		return 0
	}
	dl, sl := int(deadline.Seconds()), int(slack.Seconds())
	for _, r := range rows {
		if early := r.closed - opened(r.second-dl+1); early > opened(r.second)/100 {
			return fmt.Errorf("second %d: %d connections closed before the %v deadline", r.second, early, deadline)
		}
		if late := opened(r.second-dl-sl) - r.closed; late > opened(r.second)/100 {
			return fmt.Errorf("second %d: %d connections still open %v after the %v deadline", r.second, late, slack, deadline)
		}
	}
	return nil
}

func formatRows(rows []slowRow) string {
	var b strings.Builder
	b.WriteString("second closed pending connected\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "%d %d %d %d\n", r.second, r.closed, r.pending, r.connected)
	}
	return b.String()
}

// monitor probes the site and samples frontdoor's memory once a second.
type monitor struct {
	t      *testing.T
	name   string // prefix of the probe's request IDs
	cancel context.CancelFunc
	done   chan struct{}

	mu           sync.Mutex
	latencies    []time.Duration
	worst        time.Duration
	failures     int
	firstFailure string
	maxRSS       int64                // KiB
	sent         map[string]postProbe // by request ID
	posts        int
}

type postProbe struct {
	length int
	sha256 string
}

func startMonitor(t *testing.T, d *daemon, base, name string) *monitor {
	m := &monitor{t: t, name: name, done: make(chan struct{}), sent: map[string]postProbe{}}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	pid := d.cmd.Process.Pid
	go func() {
		defer close(m.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for i := 0; ; i++ {
			m.sample(pid)
			m.probeGet(client, base)
			m.probePost(client, base, i)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return m
}

func (m *monitor) stop() *monitor {
	m.cancel()
	<-m.done
	return m
}

func (m *monitor) sample(pid int) {
	rss := procStatusKiB(pid, "VmRSS")
	m.mu.Lock()
	m.maxRSS = max(m.maxRSS, rss)
	m.mu.Unlock()
}

func (m *monitor) fail(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.failures++
	if m.firstFailure == "" {
		m.firstFailure = fmt.Sprintf(format, args...)
	}
}

func (m *monitor) record(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.latencies = append(m.latencies, d)
	m.worst = max(m.worst, d)
}

func (m *monitor) probeGet(client *http.Client, base string) {
	start := time.Now()
	resp, err := client.Get(base + "/healthz/")
	if err != nil {
		m.fail("GET /healthz/: %v", err)
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m.record(time.Since(start))
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		m.fail("GET /healthz/: %d %q", resp.StatusCode, body)
	}
}

func (m *monitor) probePost(client *http.Client, base string, i int) {
	n, _ := rand.Int(rand.Reader, big.NewInt(64<<10))
	body := make([]byte, int(n.Int64())+1)
	rand.Read(body)
	sum := sha256.Sum256(body)
	id := fmt.Sprintf("slowprobe-%s-%06d", m.name, i)
	req, _ := http.NewRequest("POST", base+"/echo/", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set("X-Request-ID", id)
	resp, err := client.Do(req)
	if err != nil {
		m.fail("POST /echo/: %v", err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		m.fail("POST /echo/: %d", resp.StatusCode)
		return
	}
	m.mu.Lock()
	m.sent[id] = postProbe{len(body), hex.EncodeToString(sum[:])}
	m.posts++
	m.mu.Unlock()
}

func (m *monitor) median() time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.latencies) == 0 {
		return 0
	}
	s := slices.Clone(m.latencies)
	slices.Sort(s)
	return s[len(s)/2]
}

// echoLog matches the example app's log line for each /echo/ request.
var echoLog = regexp.MustCompile(`echo method=POST path=/echo/ body_length=(\d+) body_sha256=([0-9a-f]+) request_id=(\S+)`)

// checkAppSawWholeBodies compares the POSTs the application logged with
// those the probe sent whole: the app must have seen nothing else.
func checkAppSawWholeBodies(log string, sent map[string]postProbe) error {
	seen := 0
	for _, m := range echoLog.FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[1])
		p, ok := sent[strings.TrimRight(m[3], `"`)]
		if !ok {
			continue // an earlier subtest's probe, or one whose answer was lost
		}
		seen++
		if n != p.length || m[2] != p.sha256 {
			return fmt.Errorf("the app saw request %s with %d bytes (sha256 %s), the client sent %d (%s)", m[3], n, m[2], p.length, p.sha256)
		}
	}
	if seen != len(sent) {
		return fmt.Errorf("the app logged %d of the %d POSTs answered 200", seen, len(sent))
	}
	// Every POST in the log is a probe's: slowhttptest's never completed.
	for _, m := range echoLog.FindAllStringSubmatch(log, -1) {
		if !strings.HasPrefix(m[3], "slowprobe-") {
			return fmt.Errorf("the app saw a POST that is not a probe's (body_length=%s): a partial request reached it", m[1])
		}
	}
	return nil
}

// TestPerClientLimits: with [limits] per-address caps on, one abusive
// address (127.0.0.2) holding connections and flooding requests gets 503
// for connections over its cap and 429 with Retry-After for requests over
// its rate — complete answers, not resets — while another address
// (127.0.0.3) using the site at the same time is served normally.
func TestPerClientLimits(t *testing.T) {
	t.Parallel()
	d := startMysite(t, "[limits]\nmax_connections_per_ip = 20\nrequests_per_second_per_ip = 20\nburst_per_ip = 20\n")
	from := func(ip string) *net.Dialer {
		return &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	}
	abuser, user := from("127.0.0.2"), from("127.0.0.3")
	get := func(c net.Conn, br *bufio.Reader) (*http.Response, error) {
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprint(c, "GET /healthz/ HTTP/1.1\r\nHost: localhost\r\n\r\n"); err != nil {
			return nil, err
		}
		resp, err := http.ReadResponse(br, nil)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}

	// The abuser holds its 20 connections; 10 more are refused with 503.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for i := 0; i < 20; i++ {
		c, err := abuser.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	// Accepted connections are counted when the engine accepts them: make
	// sure all 20 were (each answers a request).
	readers := make([]*bufio.Reader, len(held))
	for i, c := range held {
		readers[i] = bufio.NewReader(c)
		if resp, err := get(c, readers[i]); err != nil || resp.StatusCode != 200 {
			t.Fatalf("held connection %d: %v %v", i, resp, err)
		}
	}
	for i := 0; i < 10; i++ {
		c, err := abuser.Dial("tcp", d.addr)
		if err != nil {
			t.Fatalf("connection over the cap refused at TCP level: %v", err)
		}
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		c.Close()
		if err != nil || resp.StatusCode != 503 {
			t.Fatalf("connection %d over the cap: %v %v, want a 503 answer", 21+i, resp, err)
		}
	}

	// Meanwhile the other address is served, and keeps being served
	// while the abuser floods requests on its held connections.
	userErrs := make(chan error, 1)
	go func() {
		var bad []string
		for i := 0; i < 10; i++ {
			c, err := user.Dial("tcp", d.addr)
			if err != nil {
				bad = append(bad, err.Error())
				continue
			}
			resp, err := get(c, bufio.NewReader(c))
			c.Close()
			if err != nil || resp.StatusCode != 200 {
				bad = append(bad, fmt.Sprintf("%v %v", resp, err))
			}
			time.Sleep(100 * time.Millisecond)
		}
		if len(bad) > 0 {
			userErrs <- fmt.Errorf("the other address was not served: %v", bad)
			return
		}
		userErrs <- nil
	}()
	ok, limited := 0, 0
	start := time.Now()
	for i := 0; i < 100; i++ {
		resp, err := get(held[i%len(held)], readers[i%len(held)])
		if err != nil {
			t.Fatalf("flood request %d: %v (a reset instead of an answer)", i, err)
		}
		switch resp.StatusCode {
		case 200:
			ok++
		case 429:
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
		default:
			t.Fatalf("flood request %d: %d", i, resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond) // 100 a second, for as long as the other address's visit
	}
	elapsed := time.Since(start)
	if err := <-userErrs; err != nil {
		t.Error(err)
	}
	// The 20 warm-up requests took the burst; then 20 per second.
	allowed := int(20*elapsed.Seconds()) + 2
	t.Logf("abuser: 10/10 connections over the cap got 503; 100 requests in %v: %d answered 200, %d got 429; the other address: 10/10 served",
		elapsed.Round(time.Millisecond), ok, limited)
	if ok > allowed || limited == 0 {
		t.Errorf("%d of 100 flood requests served in %v (rate 20/s allows about %d)", ok, elapsed, allowed)
	}
}
