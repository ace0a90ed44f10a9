package appliance

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"io/fs"
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

// The security of the appliance itself. (The admin socket's refusal of
// users outside its group is TestAdminSocket, admin_test.go.)

// TestRunsUnprivileged runs frontdoor as nobody with no capability, on
// sockets passed to it the way systemd passes them (so it needs no
// privilege to listen, whatever the port): it serves HTTP and HTTPS (a
// certificate from the local CA, made and stored by nobody), its
// capability sets are empty, and what it wrote holds key material only in
// the state file, which nobody else can read (0600 in a 0700 directory).
func TestRunsUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run frontdoor as nobody")
	}
	t.Parallel()
	const nobody = 65534
	// Not t.TempDir: nobody must reach the binary and its directories.
	dir, err := os.MkdirTemp("", "fd-unpriv-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	bin := binPath // reachable by nobody (TestMain)
	www := filepath.Join(dir, "www")
	os.Mkdir(www, 0o755)
	os.WriteFile(filepath.Join(www, "index.html"), []byte("hello\n"), 0o644)
	// Where frontdoor may write: a directory of nobody's, in which it makes
	// its own state and runtime directories.
	varDir := filepath.Join(dir, "var")
	os.Mkdir(varDir, 0o755)
	os.Chown(varDir, nobody, nobody)
	statePath := filepath.Join(varDir, "lib", "state.db")
	cfg := filepath.Join(dir, "frontdoor.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`[server]
state = %q
runtime_dir = %q
access_log = "off"
workers = 2

[tls]
acme = false

[[site]]
https_redirect = false
  [[site.route]]
  path = "/"
  static = %q
`, statePath, filepath.Join(varDir, "run"), www)), 0o644)

	httpFile, httpAddr := listenFile(t)
	httpsFile, httpsAddr := listenFile(t)
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" run --config "$1"`, bin, cfg)
	cmd.ExtraFiles = []*os.File{httpFile, httpsFile}
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LISTEN_FDS=2", "LISTEN_FDNAMES=http:https"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
		if t.Failed() {
			t.Logf("frontdoor's log:\n%s", lastLogLines(logs.String(), 30))
		}
	})
	await(t, 10*time.Second, "HTTP on the passed socket", func() bool {
		r, err := rawGet(httpAddr, "/", "localhost")
		return err == nil && r.status == 200 && r.body == "hello\n"
	})
	var served *tls.ConnectionState
	await(t, 10*time.Second, "HTTPS on the passed socket", func() bool {
		st, err := tlsGetState(httpsAddr, "localhost")
		served = st
		return err == nil
	})
	if served == nil || len(served.PeerCertificates) == 0 || served.PeerCertificates[0].Subject.CommonName == "" && len(served.PeerCertificates[0].DNSNames) == 0 {
		t.Errorf("no certificate served over HTTPS")
	}

	pid := cmd.Process.Pid
	for field, want := range map[string]string{
		"Uid":    "65534\t65534\t65534\t65534",
		"Gid":    "65534\t65534\t65534\t65534",
		"CapInh": "0000000000000000",
		"CapPrm": "0000000000000000",
		"CapEff": "0000000000000000",
		"CapAmb": "0000000000000000",
	} {
		if got := procStatusField(pid, field); got != want {
			t.Errorf("/proc/%d/status %s = %q, want %q", pid, field, got, want)
		}
	}

	// The certificate is made and stored: only the state file holds keys.
	st, err := os.Stat(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("state file mode %v, want 0600", st.Mode().Perm())
	}
	if st, err := os.Stat(filepath.Dir(statePath)); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("state directory: %v %v, want 0700", st.Mode().Perm(), err)
	}
	filepath.WalkDir(varDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || p == statePath {
			return nil
		}
		info, _ := d.Info()
		if data, err := os.ReadFile(p); err == nil && strings.Contains(string(data), "PRIVATE KEY") {
			t.Errorf("%s (mode %v) holds a private key", p, info.Mode())
		}
		if info.Mode().Perm()&0o007 != 0 && info.Mode()&fs.ModeSocket == 0 {
			t.Errorf("%s is open to others: %v", p, info.Mode())
		}
		return nil
	})
	t.Logf("as nobody: Cap{Prm,Eff} %s/%s; state %s 0600 in a 0700 directory; HTTP and HTTPS served on passed sockets",
		procStatusField(pid, "CapPrm"), procStatusField(pid, "CapEff"), statePath)
}

// listenFile is a listening socket for a child, as systemd would pass it.
func listenFile(t *testing.T) (*os.File, string) {
	t.Helper()
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, l.Addr().String()
}

// tlsGetState makes a GET over TLS and returns the connection's state.
func tlsGetState(addr, name string) (*tls.ConnectionState, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{ServerName: name, InsecureSkipVerify: true}) // the local CA is not trusted here
	if err != nil {
		return nil, err
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", name)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	st := c.ConnectionState()
	return &st, nil
}

// TestNoSecretInLogs sends requests carrying secrets — an Authorization
// header, a session cookie, tokens and passwords in the query string and
// in a Referer, a parameter of the site's own added to access_log_redact —
// through frontdoor to Django (whose own log lines pass through
// frontdoor's journal output), to the edge's 404 and to a crashing view,
// and looks for each secret in frontdoor's stderr (the journal) and its
// access log file: none may be there, while the requests are.
func TestNoSecretInLogs(t *testing.T) {
	t.Parallel()
	accessLog := filepath.Join(t.TempDir(), "access.log")
	// access_log goes in [server], which startMysite writes: replace it.
	d := startMysiteWith(t, "", func(server string) string {
		return strings.Replace(server, `access_log = "off"`,
			fmt.Sprintf("access_log = %q\naccess_log_redact = [\"token\", \"password\", \"api_key\", \"magic\"]", accessLog), 1)
	})
	secrets := map[string]string{
		"authorization": "Bearer-s3cr3t-authz-9d2f",
		"cookie":        "s3cr3t-session-77ab",
		"token":         "s3cr3t-token-1c4e",
		"password":      "s3cr3t-password-5e6f",
		"api_key":       "s3cr3t-apikey-aa01",
		"magic":         "s3cr3t-magic-b00b",
		"referer":       "s3cr3t-in-referer-3141",
	}
	query := fmt.Sprintf("token=%s&password=%s&api_key=%s&magic=%s&page=2",
		secrets["token"], secrets["password"], secrets["api_key"], secrets["magic"])
	for _, path := range []string{"/echo/", "/healthz/", "/static/missing.css", "/crash/", "/no-such-page/"} {
		c, err := net.Dial("tcp", d.addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET %s?%s HTTP/1.1\r\nHost: localhost\r\nAuthorization: %s\r\nCookie: sessionid=%s\r\n"+
			"Referer: https://localhost/reset/?token=%s\r\nUser-Agent: secrets-test\r\nConnection: close\r\n\r\n",
			path, query, secrets["authorization"], secrets["cookie"], secrets["referer"])
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		io.Copy(io.Discard, c)
		c.Close()
	}
	// The access log is written in batches: wait for the five lines.
	var logText string
	await(t, 10*time.Second, "the access log lines", func() bool {
		data, _ := os.ReadFile(accessLog)
		logText = string(data)
		return strings.Count(logText, "secrets-test") >= 5
	})
	journal := d.stderr.String()
	if !strings.Contains(journal, "Internal Server Error: /crash/") {
		t.Errorf("the crash did not reach the journal (the test would prove nothing about the app's lines):\n%s", lastLogLines(journal, 20))
	}
	for what, secret := range secrets {
		if strings.Contains(journal, secret) {
			t.Errorf("the %s secret is in frontdoor's journal output:\n%s", what, lineWith(journal, secret))
		}
		if strings.Contains(logText, secret) {
			t.Errorf("the %s secret is in the access log:\n%s", what, lineWith(logText, secret))
		}
	}
	if !strings.Contains(logText, "token=REDACTED") || !strings.Contains(logText, "page=2") {
		t.Errorf("the access log does not show the redacted query:\n%s", logText)
	}
}

func lineWith(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
