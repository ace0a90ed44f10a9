package systemd

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// childEnv names the role a re-executed test binary plays (see TestMain).
const childEnv = "FRONTDOOR_SYSTEMD_TEST_CHILD"

// TestMain lets the test binary double as the socket-activated or notifying
// program that the tests start under systemd-socket-activate or the pure-Go
// activation harness.
func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "activation":
		os.Exit(activationChild())
	case "notify":
		os.Exit(notifyChild())
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", childEnv, os.Getenv(childEnv))
		os.Exit(2)
	}
}

// testBinary returns the path of the running test binary.
func testBinary(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatalf("find test binary: %v", err)
	}
	return exe
}

// activationCommand returns a command that runs the test binary as child
// role with LISTEN_PID set to its own pid, as systemd does: the shell
// exports its pid and execs, so the pid stays the same.
func activationCommand(t *testing.T, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `LISTEN_PID=$$; export LISTEN_PID; exec "$0" -test.run='^$'`, testBinary(t))
	cmd.Env = append(os.Environ(), childEnv+"="+role)
	cmd.Env = append(cmd.Env, env...)
	cmd.Stderr = &testWriter{t: t, prefix: role + " child: "}
	return cmd
}

// testWriter forwards a child's stderr to the test log.
type testWriter struct {
	t      *testing.T
	prefix string
	mu     sync.Mutex
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Log(w.prefix + line)
	}
	return len(p), nil
}

// tcpListenerFile opens a loopback listener and returns its descriptor as a
// file to pass to a child, and its address.
func tcpListenerFile(t *testing.T, network, address string) (*os.File, string) {
	t.Helper()
	ln, err := net.Listen(network, address)
	if err != nil {
		t.Fatalf("listen %s %s: %v", network, address, err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatalf("listener file: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f, ln.Addr().String()
}

// decodeJSONLine decodes the first line a child printed.
func decodeJSONLine(t *testing.T, out []byte, v any) {
	t.Helper()
	line, _, _ := strings.Cut(string(out), "\n")
	if err := json.Unmarshal([]byte(line), v); err != nil {
		t.Fatalf("decode child report %q: %v", out, err)
	}
}

// pollUntil calls cond until it returns true or the deadline passes.
func pollUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
