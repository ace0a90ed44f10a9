package packaging

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// This file runs the program the package ships the way systemd runs it —
// listening sockets passed by name, NOTIFY_SOCKET and WATCHDOG_USEC set —
// with the test holding the sockets, as the socket units do: the
// repository's main package (`frontdoor run` with the shipped
// etc/frontdoor.toml, its state and runtime directory moved to the test's
// temporary directory) and e2e/standin, which also plays a hung worker.
// The real program must also answer HTTPS on the https socket with a
// certificate from its local CA, and reload as the unit's ExecReload=
// does it.

// activationBinary builds the program in dir and returns it with a
// configuration: the shipped file, plus a state file and a runtime
// directory under a temporary directory (never the host's
// /var/lib/frontdoor or /run/frontdoor).
func activationBinary(t *testing.T, dir string) (bin, config string) {
	t.Helper()
	tmp := t.TempDir()
	bin = filepath.Join(tmp, "frontdoor")
	cmd := exec.Command("go", "build", "-o", bin, dir)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", dir, err, out)
	}
	shipped, err := os.ReadFile("etc/frontdoor.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(strings.TrimSpace(stripComments(string(shipped))), "[server]") {
		t.Fatalf("etc/frontdoor.toml no longer ends with its [server] table; the test appends keys to it:\n%s", shipped)
	}
	config = filepath.Join(tmp, "frontdoor.toml")
	text := fmt.Sprintf("%sstate = %q\nruntime_dir = %q\n", shipped, filepath.Join(tmp, "state.db"), filepath.Join(tmp, "run"))
	if err := os.WriteFile(config, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return bin, config
}

// stripComments drops the comment lines of a TOML text.
func stripComments(text string) string {
	var keep []string
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

// notifyLog collects the datagrams sent to a NOTIFY_SOCKET.
type notifyLog struct {
	path string
	mu   sync.Mutex
	msgs []string
}

func listenNotify(t *testing.T) *notifyLog {
	t.Helper()
	n := &notifyLog{path: filepath.Join(t.TempDir(), "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: n.path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			n.mu.Lock()
			n.msgs = append(n.msgs, string(buf[:k]))
			n.mu.Unlock()
		}
	}()
	return n
}

func (n *notifyLog) snapshot() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.msgs...)
}

// count returns how many messages so far contain field as a line.
func (n *notifyLog) count(field string) int {
	c := 0
	for _, m := range n.snapshot() {
		for _, line := range strings.Split(m, "\n") {
			if line == field {
				c++
			}
		}
	}
	return c
}

func (n *notifyLog) waitCount(t *testing.T, field string, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for n.count(field) < want {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %d× %s; got %q", timeout, want, field, n.snapshot())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// activated is one run of the program with the test's sockets.
type activated struct {
	cmd    *exec.Cmd
	exited chan error
}

// startActivated starts bin run --config config with the two sockets (in
// the order https, http, to show the names matter, not the order) and
// waits for READY=1.
func startActivated(t *testing.T, bin, config string, notify *notifyLog, https, http *os.File) *activated {
	t.Helper()
	ready := notify.count("READY=1")
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" run --config "$1"`, bin, config)
	cmd.ExtraFiles = []*os.File{https, http}
	cmd.Env = append(os.Environ(), "LISTEN_FDS=2", "LISTEN_FDNAMES=https:http",
		"NOTIFY_SOCKET="+notify.path, "WATCHDOG_USEC=400000")
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &activated{cmd: cmd, exited: make(chan error, 1)}
	go func() { a.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-a.exited
		// The program logs its admin socket and state file: never the
		// host's own directories.
		for _, host := range []string{"path=/run/frontdoor/", "state=/var/lib/frontdoor/"} {
			if strings.Contains(stderr.String(), host) {
				t.Errorf("the program used the host's %s", host)
			}
		}
		if t.Failed() {
			t.Logf("program stderr:\n%s", stderr.String())
		}
		a.exited <- nil
	})
	notify.waitCount(t, "READY=1", ready+1, 30*time.Second)
	return a
}

// stop sends SIGTERM and waits for a clean exit.
func (a *activated) stop(t *testing.T) {
	t.Helper()
	a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-a.exited:
		a.exited <- err
		if err != nil {
			t.Errorf("program exited with %v after SIGTERM", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("program did not exit within 30 s of SIGTERM")
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func listenerFile(t *testing.T) (*os.File, string) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, ln.Addr().String()
}

// TestRunUnderSocketActivation: the program serves on the passed sockets,
// speaks sd_notify, survives restarts under wrk load without a refused
// connection (they wait in the backlog of the sockets the test holds), and
// stops its watchdog pings when a worker hangs.
func TestRunUnderSocketActivation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two programs and restarts them under load; skipped with -short")
	}
	t.Run("standin", func(t *testing.T) { testRunUnderSocketActivation(t, "./e2e/standin", true) })
	t.Run("frontdoor", func(t *testing.T) { testRunUnderSocketActivation(t, "..", false) })
}

func testRunUnderSocketActivation(t *testing.T, dir string, standin bool) {
	bin, config := activationBinary(t, dir)
	notify := listenNotify(t)
	httpsFile, httpsAddr := listenerFile(t)
	httpFile, httpAddr := listenerFile(t)

	first := startActivated(t, bin, config, notify, httpsFile, httpFile)
	if !regexp.MustCompile(`(?m)^STATUS=.+`).MatchString(strings.Join(notify.snapshot(), "\n")) {
		t.Errorf("no STATUS= among %q", notify.snapshot())
	}
	notify.waitCount(t, "WATCHDOG=1", 2, 10*time.Second)

	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + httpAddr + "/")
	if err != nil {
		t.Fatalf("GET on the http socket: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if standin {
		// The stand-in speaks plain HTTP on both sockets.
		if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "frontdoor standin") {
			t.Errorf("http socket: %s %q", resp.Status, body)
		}
		if resp, err := client.Get("http://" + httpsAddr + "/"); err != nil {
			t.Errorf("GET on the https socket: %v", err)
		} else if resp.Body.Close(); resp.StatusCode != 200 {
			t.Errorf("https socket (plain HTTP in the stand-in): %s", resp.Status)
		}
	} else {
		checkPlaceholder(t, "http socket", resp, body)
		checkHTTPS(t, httpsAddr, config)
		checkExecReload(t, bin, config, notify)
	}

	// Restarts under load.
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		t.Log("wrk not installed (Debian package wrk): restarting without load")
	}
	var load *exec.Cmd
	var loadOut bytes.Buffer
	if wrk != "" {
		load = exec.Command(wrk, "-t1", "-c16", "-d4s", "http://"+httpAddr+"/")
		load.Stdout = &loadOut
		if err := load.Start(); err != nil {
			t.Fatal(err)
		}
	}
	current := first
	for range 2 {
		time.Sleep(500 * time.Millisecond) // let load build up between restarts
		current.stop(t)
		current = startActivated(t, bin, config, notify, httpsFile, httpFile)
	}
	if load != nil {
		if err := load.Wait(); err != nil {
			t.Fatalf("wrk: %v\n%s", err, loadOut.String())
		}
		out := loadOut.String()
		t.Logf("wrk across 2 restarts:\n%s", out)
		requests := regexp.MustCompile(`(\d+) requests in`).FindStringSubmatch(out)
		if requests == nil || requests[1] == "0" {
			t.Errorf("wrk made no requests")
		}
		if m := regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`).FindStringSubmatch(out); m != nil {
			connect, _ := strconv.Atoi(m[1])
			timeout, _ := strconv.Atoi(m[4])
			if connect > 0 || timeout > 0 {
				t.Errorf("restarts refused %d connections and timed out %d", connect, timeout)
			}
		}
	}

	// A hung worker stops the pings: the stand-in hangs on SIGUSR1. The
	// real program has no such hook; its parts are tested where they are:
	// systemd's RunWatchdog (systemd/notify_test.go) stops pinging when its
	// check fails, and the check, proxy's Engine.Alive, fails when a
	// worker's loop stops (proxy/alive_test.go).
	if !standin {
		current.stop(t)
		return
	}
	notify.waitCount(t, "WATCHDOG=1", notify.count("WATCHDOG=1")+2, 10*time.Second)
	current.cmd.Process.Signal(syscall.SIGUSR1)
	notify.waitCount(t, "STATUS=a worker hangs (SIGUSR1)", 1, 10*time.Second)
	after := notify.count("WATCHDOG=1")
	// An absence can only be observed over time: 5 ping periods (200 ms
	// each); one ping may have been on its way when the signal arrived.
	time.Sleep(time.Second)
	if extra := notify.count("WATCHDOG=1") - after; extra > 1 {
		t.Errorf("%d watchdog pings after the worker hung", extra)
	}
	current.stop(t)
	if notify.count("STOPPING=1") < 3 {
		t.Errorf("STOPPING=1 sent %d times for 3 stops", notify.count("STOPPING=1"))
	}
}
