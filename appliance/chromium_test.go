package appliance

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// TestChromiumLoadsTheAdminOverHTTP2: Debian's Chromium, headless, loads
// the Django admin's login page of a stock startproject site (through
// init and run, HTTPS from the local CA) and every asset the page needs;
// its net-log shows each one requested on an HTTP/2 stream and answered
// 200. Skipped where chromium is not installed (scripts/ensure-deps test
// installs it).
func TestChromiumLoadsTheAdminOverHTTP2(t *testing.T) {
	needDjango(t)
	chromium := testkit.FindTool("chromium")
	if chromium == "" {
		t.Skip("chromium not installed (apt-get install chromium; scripts/ensure-deps test installs it)")
	}
	project := sqliteStartproject(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "frontdoor.toml")
	out, _ := cli(t, "init", project, "--domain", "localhost", "--config", cfg)
	appliedFixes(t, out, project, nil)
	if out, err := cli(t, "init", project, "--domain", "localhost", "--config", cfg); err != nil {
		t.Fatalf("init after its fixes: %v\n%s", err, out)
	}
	httpAddr, httpsAddr := freePort(t), freePort(t)
	appendTo(t, cfg, siteServer(httpAddr, httpsAddr, dir))
	d := startDaemon(t, dir, httpAddr)
	await(t, 120*time.Second, "the site to serve", func() bool {
		st, ok := d.tryStatus()
		return ok && st.App != nil && st.App.Upstream != ""
	})

	origin := "https://localhost:" + strings.Split(httpsAddr, ":")[1]
	dom, netLog := runChromium(t, chromium, origin+"/admin/login/")
	if !strings.Contains(dom, "Django administration") {
		t.Fatalf("chromium's page:\n%s", dom)
	}
	loads, err := h2Loads(netLog, origin)
	if err != nil {
		t.Fatal(err)
	}
	assets := 0
	for _, l := range loads {
		t.Logf("%s %s: %s", l.proto, l.path, l.status)
		if l.proto != "h2" || l.status != "200" {
			t.Errorf("%s: %s over %s, want 200 over h2", l.path, l.status, l.proto)
		}
		if strings.HasPrefix(l.path, "/static/") {
			assets++
		}
	}
	if len(loads) == 0 || loads[0].path != "/admin/login/" || assets < 3 {
		t.Fatalf("chromium loaded %d resources (%d static assets); want the login page and its stylesheets", len(loads), assets)
	}
}

// runChromium loads url in headless Chromium and returns the DOM once the
// page has loaded, and the path of its net-log.
func runChromium(t *testing.T, chromium, url string) (string, string) {
	t.Helper()
	netLog := filepath.Join(t.TempDir(), "net.json")
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(t.TempDir(), "profile"), "--ignore-certificate-errors",
		"--log-net-log="+netLog, "--virtual-time-budget=10000", "--dump-dom", url)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	done := make(chan struct{})
	var dom []byte
	var err error
	go func() { dom, err = cmd.Output(); close(done) }()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("chromium did not finish loading the page in 90 s")
	}
	if err != nil {
		t.Fatalf("chromium: %v\n%s", err, dom)
	}
	return string(dom), netLog
}

// TestChromiumWebSocketOverHTTP2: Chromium opens a WebSocket from a page
// served over HTTP/2 by frontdoor (the reverse-proxy quick mode, local
// CA) to a real WebSocket application (Python's websockets): it uses the
// extended CONNECT frontdoor offers (RFC 8441) on the page's own
// connection, gets 200, and the application's echo comes back.
func TestChromiumWebSocketOverHTTP2(t *testing.T) {
	chromium := testkit.FindTool("chromium")
	if chromium == "" {
		t.Skip("chromium not installed (apt-get install chromium; scripts/ensure-deps test installs it)")
	}
	if err := exec.Command(systemPython, "-c", "import websockets").Run(); err != nil {
		t.Skip("python3-websockets not installed (scripts/ensure-deps test installs it)")
	}
	dir := t.TempDir()
	www := filepath.Join(dir, "www")
	os.MkdirAll(www, 0o755)
	os.WriteFile(filepath.Join(www, "index.html"), []byte(`<html><body><div id="out">waiting</div><script>
var ws = new WebSocket("wss://" + location.host + "/ws");
ws.onopen = function() { ws.send("hello"); };
ws.onmessage = function(e) { document.getElementById("out").textContent = "got " + e.data; };
ws.onerror = function() { document.getElementById("out").textContent = "error"; };
</script><iframe src="/hold"></iframe></body></html>`), 0o644)
	appAddr := freePort(t)
	host, port, _ := net.SplitHostPort(appAddr)
	app := exec.Command(systemPython, "-c", `
import asyncio, sys, websockets
echoed = None
async def echo(ws, path=None):
    async for m in ws:
        await ws.send("echo:" + m)
        echoed.set()
async def hold(path, headers):
    # The page's iframe: answered half a second after the echo went out
    # (or after 20 s), so the page's load, which Chromium's dump waits
    # for, comes after the echo reached the page. A WebSocket alone does
    # not hold Chromium's virtual time, so without it the page was dumped
    # before the echo, now and then.
    if path != "/hold":
        return None
    try:
        await asyncio.wait_for(echoed.wait(), 20)
        await asyncio.sleep(0.5)
    except asyncio.TimeoutError:
        pass
    return (200, [("Content-Type", "text/plain")], b"held")
async def main():
    global echoed
    echoed = asyncio.Event()
    async with websockets.serve(echo, sys.argv[1], int(sys.argv[2]), process_request=hold):
        await asyncio.Future()
asyncio.run(main())
`, host, port)
	if err := app.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Process.Kill(); app.Wait() })
	addr := freePort(t)
	startFrontdoor(t, "reverse-proxy", "--listen", addr, "--to", appAddr, "--static", "/static/="+www,
		"--tls", "local", "--state", filepath.Join(dir, "quick.db"))
	await(t, 30*time.Second, "frontdoor and the application to answer", func() bool {
		c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"})
		if err != nil {
			return false
		}
		c.Close()
		a, err := net.Dial("tcp", appAddr)
		if err != nil {
			return false
		}
		a.Close()
		return true
	})
	origin := "https://localhost:" + strings.Split(addr, ":")[1]
	dom, netLog := runChromium(t, chromium, origin+"/static/index.html")
	if !strings.Contains(dom, "got echo:hello") {
		t.Fatalf("the page's WebSocket did not get its echo:\n%s", dom)
	}
	connects, err := h2Connects(netLog)
	if err != nil {
		t.Fatal(err)
	}
	if len(connects) != 1 || connects[0] != "/ws 200" {
		t.Fatalf("extended CONNECT streams in the net-log: %q, want one for /ws answered 200", connects)
	}
}

// h2Connects lists the extended CONNECT streams of a Chromium net-log, as
// "PATH STATUS".
func h2Connects(file string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var nl netLogFile
	if err := json.Unmarshal(data, &nl); err != nil {
		return nil, fmt.Errorf("net-log %s: %w", file, err)
	}
	types := nl.Constants.LogEventTypes
	type key struct{ session, stream int }
	paths := map[key]string{}
	var order []key
	statuses := map[key]string{}
	for _, e := range nl.Events {
		var p netLogParams
		json.Unmarshal(e.Params, &p)
		k := key{e.Source.ID, p.StreamID}
		switch e.Type {
		case types["HTTP2_SESSION_SEND_HEADERS"]:
			if netLogHeader(p.Headers, ":protocol") == "websocket" {
				paths[k] = netLogHeader(p.Headers, ":path")
				order = append(order, k)
			}
		case types["HTTP2_SESSION_RECV_HEADERS"]:
			if statuses[k] == "" {
				statuses[k] = netLogHeader(p.Headers, ":status")
			}
		}
	}
	var out []string
	for _, k := range order {
		out = append(out, paths[k]+" "+statuses[k])
	}
	return out, nil
}

// sqliteStartproject is `django-admin startproject` as it comes (the
// admin, SQLite), owned by the application's user.
func sqliteStartproject(t *testing.T) string {
	t.Helper()
	parent := t.TempDir()
	cmd := exec.Command(systemPython, "-m", "django", "startproject", "mysite")
	cmd.Dir = parent
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("startproject: %v\n%s", err, out)
	}
	project := filepath.Join(parent, "mysite")
	testkit.GiveToAppUser(t, project)
	return project
}

// load is one resource a browser fetched: its path, how, and the answer.
type load struct{ path, proto, status string }

// h2Loads reads a Chromium net-log and returns, in order, every request
// the page made to origin (the favicon aside), with the protocol it went
// over ("h2" when it was an HTTP/2 stream) and its status.
func h2Loads(file, origin string) ([]load, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	var nl netLogFile
	if err := json.Unmarshal(data, &nl); err != nil {
		return nil, fmt.Errorf("net-log %s: %w", file, err)
	}
	types := nl.Constants.LogEventTypes
	type key struct{ session, stream int }
	paths, statuses := map[key]string{}, map[key]string{}
	var urls []string
	header := netLogHeader
	for _, e := range nl.Events {
		var p netLogParams
		json.Unmarshal(e.Params, &p)
		k := key{e.Source.ID, p.StreamID}
		switch e.Type {
		case types["URL_REQUEST_START_JOB"]:
			if strings.HasPrefix(p.URL, origin+"/") && !strings.HasSuffix(p.URL, "/favicon.ico") {
				urls = append(urls, p.URL)
			}
		case types["HTTP2_SESSION_SEND_HEADERS"]:
			paths[k] = header(p.Headers, ":path")
		case types["HTTP2_SESSION_RECV_HEADERS"]:
			if s := header(p.Headers, ":status"); s != "" && s[0] != '1' && statuses[k] == "" {
				statuses[k] = s
			}
		}
	}
	var loads []load
	for _, u := range urls {
		parsed, err := url.Parse(u)
		if err != nil {
			return nil, err
		}
		path := parsed.RequestURI()
		l := load{path: path, proto: "not HTTP/2", status: "none"}
		for k, p := range paths {
			if p == path {
				l.proto, l.status = "h2", statuses[k]
				break
			}
		}
		loads = append(loads, l)
	}
	return loads, nil
}

// netLogFile is what the tests read of a Chromium net-log.
type netLogFile struct {
	Constants struct {
		LogEventTypes map[string]int `json:"logEventTypes"`
	} `json:"constants"`
	Events []struct {
		Type   int `json:"type"`
		Source struct {
			ID int `json:"id"`
		} `json:"source"`
		Params json.RawMessage `json:"params"`
	} `json:"events"`
}

// netLogParams is what the tests read of an event's parameters.
type netLogParams struct {
	URL      string   `json:"url"`
	Headers  []string `json:"headers"`
	StreamID int      `json:"stream_id"`
}

// netLogHeader returns a header's value from a net-log header list.
func netLogHeader(headers []string, name string) string {
	for _, h := range headers {
		if v, ok := strings.CutPrefix(h, name+": "); ok {
			return v
		}
	}
	return ""
}
