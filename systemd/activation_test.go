package systemd

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"frontdoor/internal/testkit"
)

// activationReport is what the activation child prints on its first line.
type activationReport struct {
	Sockets []struct{ Name, Addr string }
	Err     string
	EnvLeft []string // LISTEN_* variables still set after ActivatedSockets
}

// activationChild reports the sockets it was passed, then accepts one
// connection on each and answers it with the socket's name.
func activationChild() int {
	sockets, err := ActivatedSockets()
	var report activationReport
	if err != nil {
		report.Err = err.Error()
	}
	for _, s := range sockets {
		report.Sockets = append(report.Sockets, struct{ Name, Addr string }{s.Name, s.Addr.String()})
	}
	for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
		if _, ok := os.LookupEnv(k); ok {
			report.EnvLeft = append(report.EnvLeft, k)
		}
	}
	line, _ := json.Marshal(report)
	fmt.Printf("%s\n", line)

	var wg sync.WaitGroup
	for _, s := range sockets {
		ln, err := net.FileListener(s.File)
		if err != nil {
			fmt.Fprintf(os.Stderr, "socket %s: %v\n", s.Name, err)
			return 1
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
			conn, err := ln.Accept()
			if err != nil {
				fmt.Fprintf(os.Stderr, "accept on %s: %v\n", s.Name, err)
				return
			}
			io.WriteString(conn, s.Name)
			conn.Close()
		}()
	}
	wg.Wait()
	return 0
}

// runActivationChild starts cmd, returns its report, and leaves it serving.
func runActivationChild(t *testing.T, cmd *exec.Cmd, trigger func()) activationReport {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v: %v", cmd.Args, err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	if trigger != nil {
		trigger()
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("read child report: %v", err)
	}
	var report activationReport
	decodeJSONLine(t, []byte(line), &report)
	return report
}

// askName connects to addr and returns what the child answers: the name
// of the socket that accepted the connection.
func askName(t *testing.T, conn net.Conn) string {
	t.Helper()
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	name, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("read from %s: %v", conn.RemoteAddr(), err)
	}
	return string(name)
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	return conn
}

// TestActivatedSocketsByName passes sockets in an order that differs from
// their names' and checks that every name leads to the right port, with the
// pure-Go harness (listener files in ExtraFiles, LISTEN_* set like systemd).
func TestActivatedSocketsByName(t *testing.T) {
	httpsFile, httpsAddr := tcpListenerFile(t, "tcp4", "127.0.0.1:0")
	httpFile, httpAddr := tcpListenerFile(t, "tcp4", "127.0.0.1:0")
	passed := []struct {
		name, addr string
		file       *os.File
	}{{"https", httpsAddr, httpsFile}, {"http", httpAddr, httpFile}}
	// The IPv6 twin of the http socket, as from a second ListenStream= line.
	if ln, err := net.Listen("tcp6", "[::1]:0"); err == nil {
		ln.Close()
		f, addr := tcpListenerFile(t, "tcp6", "[::1]:0")
		passed = append(passed, struct {
			name, addr string
			file       *os.File
		}{"http", addr, f})
	} else {
		t.Logf("no IPv6 loopback (%v): testing IPv4 only", err)
	}

	var names []string
	cmd := activationCommand(t, "activation")
	for _, p := range passed {
		names = append(names, p.name)
		cmd.ExtraFiles = append(cmd.ExtraFiles, p.file)
	}
	cmd.Env = append(cmd.Env,
		fmt.Sprintf("LISTEN_FDS=%d", len(passed)),
		"LISTEN_FDNAMES="+strings.Join(names, ":"))
	report := runActivationChild(t, cmd, nil)

	if report.Err != "" {
		t.Fatalf("ActivatedSockets: %s", report.Err)
	}
	if len(report.EnvLeft) > 0 {
		t.Errorf("LISTEN_* left in the environment for children: %v", report.EnvLeft)
	}
	if len(report.Sockets) != len(passed) {
		t.Fatalf("got %d sockets %v, want %d", len(report.Sockets), report.Sockets, len(passed))
	}
	for i, p := range passed {
		got := report.Sockets[i]
		if got.Name != p.name || got.Addr != p.addr {
			t.Errorf("socket %d = %s on %s, want %s on %s", i, got.Name, got.Addr, p.name, p.addr)
		}
	}
	for _, p := range passed {
		if got := askName(t, dial(t, p.addr)); got != p.name {
			t.Errorf("connection to %s answered by socket %q, want %q", p.addr, got, p.name)
		}
	}
}

// freePort returns a loopback address nobody listens on, reserved for
// systemd-socket-activate until the test ends (testkit.FreePort tells
// how).
func freePort(t *testing.T) string {
	t.Helper()
	return testkit.FreeAddr(t)
}

// TestActivatedSocketsUnderSystemdSocketActivate runs the child under
// systemd's own activation tool with two named sockets, as
// frontdoor-http.socket and frontdoor-https.socket would pass them.
func TestActivatedSocketsUnderSystemdSocketActivate(t *testing.T) {
	tool, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not installed (Debian package systemd)")
	}
	httpAddr, httpsAddr := freePort(t), freePort(t)
	cmd := exec.Command(tool, "-l", httpAddr, "-l", httpsAddr, "--fdname=http:https",
		"-E", childEnv+"=activation", testBinary(t), "-test.run=^$")
	cmd.Stderr = &testWriter{t: t, prefix: "systemd-socket-activate: "}

	// It launches the program on the first connection: make one.
	var first net.Conn
	report := runActivationChild(t, cmd, func() {
		pollUntil(t, 10*time.Second, "systemd-socket-activate to listen", func() bool {
			c, err := net.Dial("tcp", httpAddr)
			if err == nil {
				first = c
			}
			return err == nil
		})
	})
	if report.Err != "" {
		t.Fatalf("ActivatedSockets: %s", report.Err)
	}
	got := map[string]string{}
	for _, s := range report.Sockets {
		got[s.Name] = s.Addr
	}
	want := map[string]string{"http": httpAddr, "https": httpsAddr}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("sockets by name = %v, want %v", got, want)
	}
	if name := askName(t, first); name != "http" {
		t.Errorf("first connection to %s answered by %q, want http", httpAddr, name)
	}
	if name := askName(t, dial(t, httpsAddr)); name != "https" {
		t.Errorf("connection to %s answered by %q, want https", httpsAddr, name)
	}
}

// TestActivatedSocketsRejectsNonListening passes a connected socket where a
// listening one belongs.
func TestActivatedSocketsRejectsNonListening(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn := dial(t, ln.Addr().String())
	defer conn.Close()
	f, err := conn.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	cmd := activationCommand(t, "activation", "LISTEN_FDS=1", "LISTEN_FDNAMES=http")
	cmd.ExtraFiles = []*os.File{f}
	report := runActivationChild(t, cmd, nil)
	if !strings.Contains(report.Err, "not a listening stream socket") {
		t.Fatalf("error = %q, want one about a non-listening socket", report.Err)
	}
	if len(report.Sockets) != 0 {
		t.Errorf("sockets = %v, want none", report.Sockets)
	}
}

// TestActivatedSocketsWithoutActivation covers a process started by hand
// and one that inherited another process's LISTEN_* variables.
func TestActivatedSocketsWithoutActivation(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"no variables", nil},
		{"variables for another pid", map[string]string{"LISTEN_PID": "1", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "http:https"}},
		{"no descriptors", map[string]string{"LISTEN_PID": fmt.Sprint(os.Getpid()), "LISTEN_FDS": "0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range []string{"LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"} {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			sockets, err := ActivatedSockets()
			if err != nil || sockets != nil {
				t.Fatalf("ActivatedSockets() = %v, %v; want nil, nil", sockets, err)
			}
			for k := range tt.env {
				if _, ok := os.LookupEnv(k); ok {
					t.Errorf("%s still set", k)
				}
			}
		})
	}
}

// TestListen checks the fallback path hands over a usable listening socket.
func TestListen(t *testing.T) {
	s, err := Listen(context.Background(), SocketHTTP, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.File.Close()
	if s.Name != SocketHTTP {
		t.Errorf("name = %q", s.Name)
	}
	addr, err := checkListening(s.File)
	if err != nil {
		t.Fatalf("checkListening: %v", err)
	}
	if addr.String() != s.Addr.String() {
		t.Errorf("getsockname %v, Addr %v", addr, s.Addr)
	}
	ln, err := net.FileListener(s.File)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conn := dial(t, s.Addr.String())
	defer conn.Close()
	accepted, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept on the returned socket: %v", err)
	}
	accepted.Close()

	if _, err := Listen(context.Background(), SocketHTTP, s.Addr.String()); err == nil {
		t.Error("second Listen on a busy address succeeded")
	}
}
