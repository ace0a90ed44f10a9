package supervisor

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStartGunicorn runs the example project under gunicorn: release steps
// ran (migration applied, hashed stylesheet collected), the edge was given
// the socket once it answered, the page renders from the database, output
// is logged tagged with the process name, and Status describes it all.
func TestStartGunicorn(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	h := start(t, testConfig(t, dir))
	addr := h.waitUpstream(60*time.Second, "")
	if !strings.HasPrefix(addr, "unix:") || !strings.HasSuffix(addr, "/web-1.sock") {
		t.Errorf("upstream %q, want unix:.../web-1.sock", addr)
	}

	// collectstatic wrote a hashed copy, and the page links to it.
	hashed, _ := filepath.Glob(filepath.Join(dir, "staticfiles", "pages", "site.*.css"))
	if len(hashed) != 1 || !regexp.MustCompile(`site\.[0-9a-f]{12}\.css$`).MatchString(hashed[0]) {
		t.Fatalf("collectstatic output %v, want one site.<12 hex>.css", hashed)
	}
	status, body := h.get("/")
	if status != 200 || !strings.Contains(body, "/static/pages/"+filepath.Base(hashed[0])) {
		t.Fatalf("GET / = %d, want 200 linking %s:\n%s", status, filepath.Base(hashed[0]), body)
	}
	// The visit counter is a table that migrate created.
	if !strings.Contains(body, `<span class="visits">1</span>`) {
		t.Errorf("GET / does not show the first visit:\n%s", body)
	}
	if status, body := h.get("/version/"); status != 200 || body != "version 1" {
		t.Errorf("GET /version/ = %d %q", status, body)
	}
	status, body, _, err := h.edge.doWithHeaders("GET", "/echo/", nil, map[string]string{"X-Forwarded-Proto": "https"})
	if err != nil || status != 200 || !strings.Contains(body, `"is_secure": true`) {
		t.Errorf("GET /echo/ with X-Forwarded-Proto: https = %d %v:\n%s", status, err, body)
	}

	st := h.sup.Status()
	if st.Web.State != StateRunning || st.Web.Generation != 1 || st.Web.PID == 0 || st.Upstream != addr {
		t.Errorf("status web = %+v, upstream %q", st.Web, st.Upstream)
	}
	if st.Server != ServerGunicorn || st.App != "mysite.wsgi:application" {
		t.Errorf("status server/app = %q %q", st.Server, st.App)
	}
	if st.LastDeploy == nil || !st.LastDeploy.OK || st.LastDeploy.Kind != KindInitial {
		t.Fatalf("last deploy = %+v", st.LastDeploy)
	}
	var ran []string
	for _, s := range st.LastDeploy.Steps {
		if s.Skipped == "" {
			ran = append(ran, s.Name)
		}
	}
	if got, want := strings.Join(ran, ","), "inspect,migrate,collectstatic,compress-static"; got != want {
		t.Errorf("release steps run = %s, want %s (steps %+v)", got, want, st.LastDeploy.Steps)
	}
	// collectstatic's files are compressed once, at release: the edge
	// serves the siblings.
	css, _ := filepath.Glob(filepath.Join(dir, "staticfiles", "pages", "site.*.css"))
	for _, c := range css {
		for _, ext := range []string{".br", ".zst", ".gz"} {
			if _, err := os.Stat(c + ext); err != nil {
				t.Errorf("no precompressed sibling: %v", err)
			}
		}
	}
	if len(css) == 0 {
		t.Errorf("no hashed CSS in STATIC_ROOT")
	}
	if st.Postgres.Used {
		t.Errorf("postgres status used with SQLite: %+v", st.Postgres)
	}

	logs := h.logs.String()
	for _, want := range []string{
		`proc=release:migrate`, `Applying pages.0001_initial... OK`,
		`proc=web`, `Booting worker`, `stream=stderr`, `gen=1`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
	if evs := h.events.find(EventReady); len(evs) != 1 || evs[0].Generation != 1 {
		t.Errorf("ready events = %+v", evs)
	}

	// Served pages, a database and collected static files are not code changes;
	// an edited module is.
	if changed, p := h.sup.CodeChanged(); changed {
		t.Errorf("CodeChanged right after the start: %s", p)
	}
	writeFile(t, dir, "mysite/version.py", "MESSAGE = \"version 2\"\n")
	if changed, p := h.sup.CodeChanged(); !changed || p != filepath.Join(dir, "mysite", "version.py") {
		t.Errorf("CodeChanged after an edit = %v %q", changed, p)
	}
}

// TestStartUvicorn runs the example's ASGI entry with uvicorn workers:
// Django pages, server-sent events and a WebSocket echo all answer on the
// one socket.
func TestStartUvicorn(t *testing.T) {
	requireDjango(t)
	t.Parallel()
	dir := copyProject(t)
	cfg := testConfig(t, dir)
	cfg.Server = ServerUvicorn
	h := start(t, cfg)
	addr := h.waitUpstream(60*time.Second, "")
	if st := h.sup.Status(); st.App != "mysite.asgi:application" || st.Server != ServerUvicorn {
		t.Errorf("server/app = %q %q, want uvicorn mysite.asgi:application", st.Server, st.App)
	}
	if status, body := h.get("/version/"); status != 200 || body != "version 1" {
		t.Errorf("GET /version/ = %d %q", status, body)
	}
	if status, body := h.get("/sse/?n=3&ms=10"); status != 200 || strings.Count(body, "event: tick") != 3 {
		t.Errorf("GET /sse/ = %d %q", status, body)
	}
	// The edge's forwarding headers are trusted on the socket: uvicorn
	// gives Django the client's address and the scheme.
	status, body, _, err := h.edge.doWithHeaders("POST", "/echo/", []byte("x=1"), map[string]string{
		"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "Content-Type": "application/x-www-form-urlencoded",
	})
	if err != nil || status != 200 || !strings.Contains(body, `"remote_addr": "203.0.113.7"`) || !strings.Contains(body, `"is_secure": true`) {
		t.Errorf("POST /echo/ = %d %v:\n%s", status, err, body)
	}
	sock := strings.TrimPrefix(addr, "unix:")
	for _, msg := range []string{"hello", strings.Repeat("x", 70000)} {
		if got := websocketEcho(t, sock, msg); got != msg {
			t.Errorf("websocket echo of %d bytes returned %d bytes", len(msg), len(got))
		}
	}
	if !strings.Contains(h.logs.String(), "uvicorn.workers.UvicornWorker") {
		t.Errorf("log does not show the uvicorn worker class")
	}
}

// websocketEcho opens /ws/echo/ on sock, sends msg as one masked text
// frame and returns the payload of the frame that comes back.
func websocketEcho(t *testing.T, sock, msg string) string {
	t.Helper()
	conn, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(conn, "GET /ws/echo/ HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(conn)
	line, err := br.ReadString('\n')
	if err != nil || !strings.Contains(line, " 101 ") {
		t.Fatalf("websocket handshake: %q %v", line, err)
	}
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if l == "\r\n" {
			break
		}
	}
	// One final text frame, masked as a client must.
	payload := []byte(msg)
	frame := []byte{0x81}
	switch n := len(payload); {
	case n < 126:
		frame = append(frame, 0x80|byte(n))
	case n < 1<<16:
		frame = append(frame, 0x80|126, byte(n>>8), byte(n))
	default:
		frame = append(frame, 0x80|127)
		frame = binary.BigEndian.AppendUint64(frame, uint64(n))
	}
	mask := make([]byte, 4)
	_, _ = rand.Read(mask)
	frame = append(frame, mask...)
	for i, b := range payload {
		frame = append(frame, b^mask[i%4])
	}
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil {
		t.Fatal(err)
	}
	if head[0] != 0x81 {
		t.Fatalf("frame opcode byte %#x, want a final text frame", head[0])
	}
	n := uint64(head[1] & 0x7f)
	switch n {
	case 126:
		ext := make([]byte, 2)
		_, _ = io.ReadFull(br, ext)
		n = uint64(binary.BigEndian.Uint16(ext))
	case 127:
		ext := make([]byte, 8)
		_, _ = io.ReadFull(br, ext)
		n = binary.BigEndian.Uint64(ext)
	}
	got := make([]byte, n)
	if _, err := io.ReadFull(br, got); err != nil {
		t.Fatal(err)
	}
	return string(got)
}

// TestMain lets the test binary double as the helper process of
// TestChildrenDieWithSupervisor.
func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		runHelperSupervisor()
		return
	}
	os.Exit(m.Run())
}
