package appliance

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// negotiated is the ALPN protocol a client offering h2 and http/1.1 gets
// from addr.
func negotiated(addr string) string {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: "localhost", InsecureSkipVerify: true, NextProtos: []string{"h2", "http/1.1"}})
	if err != nil {
		return "dial: " + err.Error()
	}
	defer c.Close()
	return c.ConnectionState().NegotiatedProtocol
}

// getOver fetches https://localhost/ from addr with a client that takes h2
// when offered; it returns the protocol, the status and the body.
func getOver(addr string) string {
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get("https://localhost/")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%s %d %s", resp.Proto, resp.StatusCode, b)
}

// twoHTTPSConfig writes a configuration with a plain listener and the
// HTTPS listeners https, server.http2 set by http2 (a whole line, or "").
func twoHTTPSConfig(t *testing.T, dir, httpAddr string, https []string, http2 string) string {
	t.Helper()
	www := filepath.Join(dir, "www")
	os.MkdirAll(www, 0o755)
	os.WriteFile(filepath.Join(www, "index.html"), []byte("hello\n"), 0o644)
	quoted := make([]string, len(https))
	for i, a := range https {
		quoted[i] = fmt.Sprintf("%q", a)
	}
	text := serverTable(httpAddr, dir) + fmt.Sprintf("https = [%s]\n%s\n[tls]\nacme = false\n\n[[site]]\nhttps_redirect = false\n  [[site.route]]\n  path = \"/\"\n  static = %q\n",
		strings.Join(quoted, ", "), http2, www)
	cfg := filepath.Join(dir, "frontdoor.toml")
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestHTTP2PerHTTPSListener: with two HTTPS listeners and `http2 =
// ["<first>"]`, a client offering h2 and http/1.1 gets h2 on the first and
// http/1.1 on the second, and requests work on both; a reload that
// changes the list says it needs a restart; after restarts, `http2 =
// true` offers h2 on both and `http2 = false` on neither.
func TestHTTP2PerHTTPSListener(t *testing.T) {
	dir := t.TempDir()
	httpAddr, first, second := freePort(t), freePort(t), freePort(t)
	https := []string{first, second}
	cfg := twoHTTPSConfig(t, dir, httpAddr, https, fmt.Sprintf("http2 = [%q]", first))
	restart := func(d *daemon) *daemon {
		if d != nil {
			d.cmd.Process.Signal(syscall.SIGTERM)
			if err := d.cmd.Wait(); err != nil {
				t.Fatalf("after SIGTERM: %v", err)
			}
		}
		d = startDaemon(t, dir, httpAddr)
		await(t, 10*time.Second, "the daemon to serve", func() bool {
			return negotiated(first) != "" && negotiated(second) != "" &&
				!strings.HasPrefix(negotiated(first), "dial") && !strings.HasPrefix(negotiated(second), "dial")
		})
		return d
	}
	expect := func(when, firstProto, secondProto string) {
		t.Helper()
		for _, l := range []struct{ addr, alpn string }{{first, firstProto}, {second, secondProto}} {
			if got := negotiated(l.addr); got != l.alpn {
				t.Errorf("%s: ALPN on %s: %q, want %q", when, l.addr, got, l.alpn)
			}
			want := "HTTP/1.1 200 hello\n"
			if l.alpn == "h2" {
				want = "HTTP/2.0 200 hello\n"
			}
			if got := getOver(l.addr); got != want {
				t.Errorf("%s: GET on %s: %q, want %q", when, l.addr, got, want)
			}
		}
	}

	d := restart(nil)
	expect(`http2 = ["<first>"]`, "h2", "http/1.1")

	twoHTTPSConfig(t, dir, httpAddr, https, fmt.Sprintf("http2 = [%q]", second))
	out, err := cli(t, "reload", "--config", cfg)
	if want := fmt.Sprintf("server.http2 ([%q] → [%q])", first, second); err != nil || !strings.Contains(out, want) {
		t.Errorf("a reload that changes the list must say it needs a restart (%s): %v\n%s", want, err, out)
	}
	expect("after the reload (a restart applies it)", "h2", "http/1.1")

	d = restart(d)
	expect(`http2 = ["<second>"], restarted`, "http/1.1", "h2")

	twoHTTPSConfig(t, dir, httpAddr, https, "http2 = true")
	d = restart(d)
	expect("http2 = true", "h2", "h2")

	twoHTTPSConfig(t, dir, httpAddr, https, "http2 = false")
	restart(d)
	expect("http2 = false", "http/1.1", "http/1.1")
}

// TestHTTP2ListNamesHTTPSAddresses: an address in `http2` that is not one
// of server.https's is refused by `frontdoor check` and `frontdoor run`
// with the file, the line, the key and a fix; so is a value that is
// neither true, false nor a list of addresses.
func TestHTTP2ListNamesHTTPSAddresses(t *testing.T) {
	for _, tc := range []struct {
		name, http2 string
		key, msg    string
	}{
		{"not an HTTPS address", `http2 = ["127.0.0.1:1"]`, "server.http2[0]", `"127.0.0.1:1" is not an HTTPS listen address (server.https)`},
		{"the plain listener's address", `http2 = [HTTP]`, "server.http2[0]", `HTTP is not an HTTPS listen address`},
		{"not an address", `http2 = ["localhost:443"]`, "server.http2[0]", `"localhost:443": host "localhost" is not an IP address`},
		{"a string", `http2 = "yes"`, "server.http2", `expected true, false or a list of addresses in quotes, got "yes"`},
		{"a number in the list", `http2 = [443]`, "server.http2", "expected true, false or a list of addresses in quotes, got a list"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			httpAddr, httpsAddr := freePort(t), freePort(t)
			plain := fmt.Sprintf("%q", httpAddr)
			cfg := twoHTTPSConfig(t, dir, httpAddr, []string{httpsAddr}, strings.ReplaceAll(tc.http2, "HTTP", plain))
			text, _ := os.ReadFile(cfg)
			line := 1 + strings.Count(string(text[:strings.Index(string(text), "http2 =")]), "\n")
			want := fmt.Sprintf("%s:%d: %s: %s", cfg, line, tc.key, strings.ReplaceAll(tc.msg, "HTTP ", plain+" "))
			out, err := cli(t, "check", "--config", cfg)
			if err == nil || !strings.Contains(out, want) || !strings.Contains(out, "fix: ") {
				t.Errorf("frontdoor check: %v\n%s\nwant %q with a fix", err, out, want)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			run, err := exec.CommandContext(ctx, binPath, "run", "--config", cfg).CombinedOutput()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || ctx.Err() != nil || !strings.Contains(string(run), want) {
				t.Errorf("frontdoor run: %v\n%s\nwant a refusal with %q", err, run, want)
			}
		})
	}
}

// TestHTTP2ListAddressForms: an address in the list names the HTTPS
// listener written in another form (":8443" and "*:8443"), and only it.
func TestHTTP2ListAddressForms(t *testing.T) {
	text := "[server]\nhttps = [\":8443\", \"127.0.0.1:9443\"]\nhttp2 = [\"*:8443\"]\n"
	c, err := ParseConfig("f.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Server.HTTP2.offersOn(":8443") || c.Server.HTTP2.offersOn("127.0.0.1:9443") {
		t.Errorf(`http2 = ["*:8443"]: offers on ":8443" %v (want true), on "127.0.0.1:9443" %v (want false)`,
			c.Server.HTTP2.offersOn(":8443"), c.Server.HTTP2.offersOn("127.0.0.1:9443"))
	}
}

// TestHTTP2ListUnderSocketActivation: under systemd-socket-activate with
// two https sockets, `http2 = ["<first>"]` offers h2 on the socket bound
// to the first address only; a listed address that names none of the
// passed sockets stops the start with its line and a fix.
func TestHTTP2ListUnderSocketActivation(t *testing.T) {
	activate := needTool(t, "systemd-socket-activate", "systemd")
	dir := t.TempDir()
	httpAddr, first, second, absent := freePort(t), freePort(t), freePort(t), freePort(t)
	https := []string{first, second, absent}
	cfg := twoHTTPSConfig(t, dir, httpAddr, https, fmt.Sprintf("http2 = [%q]", first))
	start := func() (*exec.Cmd, *syncBuffer) {
		cmd := exec.Command(activate, "-l", httpAddr, "-l", first, "-l", second, "--fdname=http:https:https",
			binPath, "run", "--config", cfg)
		logs := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(syscall.SIGTERM)
			waitExit(cmd, 30*time.Second)
			if t.Failed() {
				t.Logf("log:\n%s", lastLogLines(logs.String(), 40))
			}
		})
		return cmd, logs
	}

	cmd, _ := start()
	// The first connection makes systemd-socket-activate exec frontdoor.
	await(t, 20*time.Second, "the first answer on the http socket", func() bool {
		r, err := rawGet(httpAddr, "/", "localhost")
		return err == nil && r.status == 200
	})
	if got := negotiated(first); got != "h2" {
		t.Errorf("ALPN on the first https socket: %q, want h2", got)
	}
	if got := negotiated(second); got != "http/1.1" {
		t.Errorf("ALPN on the second https socket: %q, want http/1.1", got)
	}
	if got := getOver(first); got != "HTTP/2.0 200 hello\n" {
		t.Errorf("GET on the first https socket: %q", got)
	}
	if got := getOver(second); got != "HTTP/1.1 200 hello\n" {
		t.Errorf("GET on the second https socket: %q", got)
	}
	cmd.Process.Signal(syscall.SIGTERM)
	if err := waitExit(cmd, 30*time.Second); err != nil {
		t.Fatalf("frontdoor did not stop: %v", err)
	}

	twoHTTPSConfig(t, dir, httpAddr, https, fmt.Sprintf("http2 = [%q]", absent))
	cmd, logs := start()
	// A connection starts it (once systemd-socket-activate listens); no
	// answer is expected.
	await(t, 20*time.Second, "systemd-socket-activate to listen", func() bool {
		c, err := net.Dial("tcp", httpAddr)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	if err := waitExit(cmd, 30*time.Second); err == nil {
		t.Errorf("frontdoor started with an http2 address that names no passed socket")
	}
	text, _ := os.ReadFile(cfg)
	line := 1 + strings.Count(string(text[:strings.Index(string(text), "http2 =")]), "\n")
	want := fmt.Sprintf("%s:%d: server.http2[0]: %q names none of the https sockets systemd passed", cfg, line, absent)
	if !strings.Contains(logs.String(), want) || !strings.Contains(logs.String(), "ListenStream=") {
		t.Errorf("the refusal must name the line and say how to fix it (%s):\n%s", want, logs.String())
	}
}

// TestHTTP2ListNamesSockets: under socket activation a listed address
// names a passed socket by its bound address; one without a host names
// the unspecified ones (ListenStream=443 binds [::]:443).
func TestHTTP2ListNamesSockets(t *testing.T) {
	any6 := &net.TCPAddr{IP: net.IPv6unspecified, Port: 443}
	any4 := &net.TCPAddr{IP: net.IPv4zero, Port: 443}
	lo := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}
	for _, tc := range []struct {
		addr  string
		local *net.TCPAddr
		want  bool
	}{
		{":443", any6, true}, {"*:443", any4, true}, {"[::]:443", any6, true},
		{":443", lo, false}, {":8443", lo, false}, {"127.0.0.1:8443", lo, true},
		{"127.0.0.2:8443", lo, false}, {"127.0.0.1:443", any4, false}, {"[::1]:8443", lo, false},
	} {
		if got := namesSocket(tc.addr, tc.local); got != tc.want {
			t.Errorf("%q names the socket bound to %s: %v, want %v", tc.addr, tc.local, got, tc.want)
		}
	}
	h := HTTP2Listeners{Only: []string{"127.0.0.1:8443"}}
	if !h.offersOnSocket(lo) || h.offersOnSocket(any6) || (HTTP2Listeners{}).offersOnSocket(any6) != true || (HTTP2Listeners{Off: true}).offersOnSocket(lo) {
		t.Errorf("offersOnSocket: the list, true and false forms")
	}
}
