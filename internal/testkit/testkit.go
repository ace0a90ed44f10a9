// Package testkit holds the few helpers that tests in several packages
// share: a loopback port reserved for the code under test, polling for a
// condition, a log sink that goroutines may write to at once, and finding
// an installed tool.
package testkit

import (
	"bytes"
	"go/build"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// FreePort returns a TCP port on 127.0.0.1 for the code under test to
// listen on, reserved until t ends.
//
// Closing a listener to hand its port on is a race when tests run in
// parallel (here, and in other processes on the machine): until the code
// under test binds the port, any socket asking the kernel for a port may
// be given it. Instead the port stays bound to a socket that never
// listens, with SO_REUSEADDR. Linux then gives the port to no one asking
// for any port (listen on :0, or the local end of a connect), yet lets a
// socket that also sets SO_REUSEADDR — Go's net.Listen, frontdoor's
// proxy.Listen, systemd-socket-activate, PostgreSQL — bind and listen on
// it, and bind it again after a restart. Connections to it are refused
// until then, so it also serves as "a port nobody listens on".
func FreePort(t testing.TB) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("reserve a port: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		t.Fatalf("reserve a port: SO_REUSEADDR: %v", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("reserve a port: bind: %v", err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatalf("reserve a port: %v", err)
	}
	return sa.(*unix.SockaddrInet4).Port
}

// FreeAddr is FreePort as "127.0.0.1:port".
func FreeAddr(t testing.TB) string {
	t.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(t)))
}

// WaitFor polls cond every 20 ms until it holds, and fails the test naming
// what it waited for once timeout passes.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers, for a child
// process's output or a logger read while the test runs.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// FindTool returns a program's path from PATH, or from where `go install`
// puts it (GOBIN, GOPATH/bin); "" when it is not installed.
func FindTool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	dirs := []string{os.Getenv("GOBIN")}
	for _, gp := range filepath.SplitList(build.Default.GOPATH) {
		dirs = append(dirs, filepath.Join(gp, "bin"))
	}
	for _, d := range dirs {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}
