package systemd

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// notifySocket listens like systemd's notification socket and collects
// every datagram it receives.
type notifySocket struct {
	path string
	mu   sync.Mutex
	msgs []string
}

func newNotifySocket(t *testing.T) *notifySocket {
	t.Helper()
	ns := &notifySocket{path: filepath.Join(t.TempDir(), "notify")}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: ns.path, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen on notify socket: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				return
			}
			ns.mu.Lock()
			ns.msgs = append(ns.msgs, string(buf[:n]))
			ns.mu.Unlock()
		}
	}()
	return ns
}

// messages returns a copy of everything received so far.
func (ns *notifySocket) messages() []string {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return append([]string(nil), ns.msgs...)
}

// count returns how many received messages equal msg.
func (ns *notifySocket) count(msg string) int {
	n := 0
	for _, m := range ns.messages() {
		if m == msg {
			n++
		}
	}
	return n
}

// waitFor polls until a message equal to msg has arrived count times.
func (ns *notifySocket) waitFor(t *testing.T, msg string, count int) {
	t.Helper()
	pollUntil(t, 10*time.Second, fmt.Sprintf("%d× %q on the notify socket", count, msg), func() bool {
		return ns.count(msg) >= count
	})
}

func TestNotifierMessages(t *testing.T) {
	ns := newNotifySocket(t)
	n := NewNotifierFor(ns.path, 0, nil)
	tests := []struct {
		name string
		send func() error
		want string // a regexp matching the whole datagram
	}{
		{"ready with status", func() error { return n.Ready("serving 2 children") }, `READY=1\nSTATUS=serving 2 children`},
		{"ready keeps status", func() error { return n.Ready("") }, `READY=1`},
		{"reloading", func() error { return n.Reloading("reloading config") }, `RELOADING=1\nMONOTONIC_USEC=[0-9]+\nSTATUS=reloading config`},
		{"stopping", func() error { return n.Stopping("") }, `STOPPING=1`},
		{"status on one line", func() error { return n.Status("web: up\nPostgres: down\r") }, `STATUS=web: up Postgres: down `},
		{"extend timeout", func() error { return n.ExtendTimeout(90 * time.Second) }, `EXTEND_TIMEOUT_USEC=90000000`},
		{"watchdog", n.Watchdog, `WATCHDOG=1`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.send(); err != nil {
				t.Fatal(err)
			}
			pollUntil(t, 5*time.Second, "the datagram", func() bool { return len(ns.messages()) > i })
			got := ns.messages()[i]
			if !regexp.MustCompile(`\A` + tt.want + `\z`).MatchString(got) {
				t.Errorf("sent %q, want /%s/", got, tt.want)
			}
		})
	}
}

func TestNotifierDisabled(t *testing.T) {
	n := NewNotifierFor("", time.Second, nil)
	if n.Enabled() || n.WatchdogTimeout() != 0 {
		t.Errorf("Enabled %v, WatchdogTimeout %v; want false, 0", n.Enabled(), n.WatchdogTimeout())
	}
	for _, err := range []error{n.Ready("x"), n.Reloading("x"), n.Stopping("x"), n.Status("x"), n.Watchdog(), n.ExtendTimeout(time.Second)} {
		if err != nil {
			t.Errorf("disabled notifier returned %v", err)
		}
	}
	done := make(chan struct{})
	go func() {
		n.RunWatchdog(context.Background(), func() bool { return true })
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunWatchdog without a watchdog did not return")
	}
}

func TestNotifierSendError(t *testing.T) {
	n := NewNotifierFor(filepath.Join(t.TempDir(), "absent"), 0, nil)
	if err := n.Ready(""); err == nil || !strings.Contains(err.Error(), "sd_notify") {
		t.Errorf("Ready to a missing socket: %v, want an sd_notify error", err)
	}
}

func TestNewNotifierFromEnvironment(t *testing.T) {
	tests := []struct {
		name         string
		env          map[string]string
		wantEnabled  bool
		wantWatchdog time.Duration
		wantErr      bool
	}{
		{"not under systemd", nil, false, 0, false},
		{"notify only", map[string]string{"NOTIFY_SOCKET": "/run/systemd/notify"}, true, 0, false},
		{"watchdog for us", map[string]string{"NOTIFY_SOCKET": "@sock", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": fmt.Sprint(os.Getpid())}, true, 30 * time.Second, false},
		{"watchdog without pid", map[string]string{"NOTIFY_SOCKET": "@sock", "WATCHDOG_USEC": "500000"}, true, 500 * time.Millisecond, false},
		{"watchdog for another pid", map[string]string{"NOTIFY_SOCKET": "@sock", "WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "1"}, true, 0, false},
		{"malformed watchdog", map[string]string{"NOTIFY_SOCKET": "@sock", "WATCHDOG_USEC": "soon"}, true, 0, true},
	}
	vars := []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, k := range vars {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			n, err := NewNotifier(nil)
			if (err != nil) != tt.wantErr {
				t.Fatalf("NewNotifier error = %v, want error %v", err, tt.wantErr)
			}
			if n.Enabled() != tt.wantEnabled || n.WatchdogTimeout() != tt.wantWatchdog {
				t.Errorf("Enabled %v, WatchdogTimeout %v; want %v, %v", n.Enabled(), n.WatchdogTimeout(), tt.wantEnabled, tt.wantWatchdog)
			}
			for _, k := range vars {
				if v, ok := os.LookupEnv(k); ok {
					t.Errorf("%s=%q left for children", k, v)
				}
			}
		})
	}
}

// livenessProbe is an alive function for RunWatchdog that also drops a
// marker datagram (X-ALIVE=0 or 1) into the notify socket on every call.
// Datagrams keep their order, so the messages received show exactly which
// pings followed which answer.
func livenessProbe(n *Notifier, alive *atomic.Bool) func() bool {
	return func() bool {
		a := alive.Load()
		marker := "X-ALIVE=0"
		if a {
			marker = "X-ALIVE=1"
		}
		n.send(marker)
		return a
	}
}

// checkPingsFollowLiveness asserts that every WATCHDOG=1 directly follows
// an X-ALIVE=1 marker, and never an X-ALIVE=0.
func checkPingsFollowLiveness(t *testing.T, msgs []string) {
	t.Helper()
	last := "X-ALIVE=1" // the sequence starts alive
	for i, m := range msgs {
		switch {
		case strings.HasPrefix(m, "X-ALIVE="):
			last = m
		case m == "WATCHDOG=1" && last != "X-ALIVE=1":
			t.Errorf("message %d: WATCHDOG=1 sent after %s; sequence %q", i, last, msgs)
			return
		}
	}
}

// TestRunWatchdogFollowsLiveness turns liveness off and on again: the pings
// must stop at once and resume, and each change is logged once.
func TestRunWatchdogFollowsLiveness(t *testing.T) {
	ns := newNotifySocket(t)
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	n := NewNotifierFor(ns.path, 100*time.Millisecond, logger)
	var alive atomic.Bool
	alive.Store(true)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		n.RunWatchdog(ctx, livenessProbe(n, &alive))
		close(done)
	}()

	ns.waitFor(t, "WATCHDOG=1", 3)
	alive.Store(false) // a worker is stuck
	ns.waitFor(t, "X-ALIVE=0", 4)
	stuckPings := ns.count("WATCHDOG=1")
	alive.Store(true)
	ns.waitFor(t, "WATCHDOG=1", stuckPings+2)
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunWatchdog did not return after cancel")
	}

	checkPingsFollowLiveness(t, ns.messages())
	logMu.Lock()
	out := logs.String()
	logMu.Unlock()
	if c := strings.Count(out, "watchdog pings stopped"); c != 1 {
		t.Errorf("logged the stop %d times, want once:\n%s", c, out)
	}
	if c := strings.Count(out, "watchdog pings resumed"); c != 1 {
		t.Errorf("logged the resumption %d times, want once:\n%s", c, out)
	}
}

// lockedWriter serialises writes to a shared buffer.
type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// notifyChild plays a frontdoor under systemd: notifier from the
// environment, READY and STATUS, a watchdog that stays alive while the file
// named by FRONTDOOR_SYSTEMD_TEST_ALIVE exists, STOPPING on SIGTERM.
func notifyChild() int {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM)
	n, err := NewNotifier(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	aliveFile := os.Getenv("FRONTDOOR_SYSTEMD_TEST_ALIVE")
	var left []string
	for _, k := range []string{"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"} {
		if _, ok := os.LookupEnv(k); ok {
			left = append(left, k)
		}
	}
	n.send("X-ENV-LEFT=" + strings.Join(left, ","))
	n.send(fmt.Sprintf("X-WATCHDOG=%v", n.WatchdogTimeout()))
	n.Ready("child ready")
	n.Status("child busy")
	ctx, cancel := context.WithCancel(context.Background())
	go n.RunWatchdog(ctx, func() bool {
		_, err := os.Stat(aliveFile)
		if err != nil {
			n.send("X-ALIVE=0")
			return false
		}
		n.send("X-ALIVE=1")
		return true
	})
	<-stop
	cancel()
	if err := n.Stopping("child stopping"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// TestNotifyFromChildProcess runs a process with the environment systemd
// gives a Type=notify service with WatchdogSec= and watches its messages.
func TestNotifyFromChildProcess(t *testing.T) {
	ns := newNotifySocket(t)
	aliveFile := filepath.Join(t.TempDir(), "alive")
	if err := os.WriteFile(aliveFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := activationCommand(t, "notify")
	// WATCHDOG_PID must name the child itself, as LISTEN_PID does.
	cmd.Args[2] = `WATCHDOG_PID=$$; export WATCHDOG_PID; exec "$0" -test.run='^$'`
	cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+ns.path, "WATCHDOG_USEC=200000",
		"FRONTDOOR_SYSTEMD_TEST_ALIVE="+aliveFile)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	ns.waitFor(t, "READY=1\nSTATUS=child ready", 1)
	ns.waitFor(t, "STATUS=child busy", 1)
	ns.waitFor(t, "WATCHDOG=1", 2)
	if ns.count("X-ENV-LEFT=") != 1 {
		t.Errorf("NOTIFY_SOCKET/WATCHDOG_* left for the child's children: %q", ns.messages())
	}
	if ns.count("X-WATCHDOG=200ms") != 1 {
		t.Errorf("child did not see a 200ms watchdog: %q", ns.messages())
	}

	os.Remove(aliveFile) // a worker hangs
	ns.waitFor(t, "X-ALIVE=0", 3)
	checkPingsFollowLiveness(t, ns.messages())

	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		exited <- err
		if err != nil {
			t.Errorf("child exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("child did not exit on SIGTERM")
	}
	ns.waitFor(t, "STOPPING=1\nSTATUS=child stopping", 1)
}
