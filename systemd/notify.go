package systemd

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

// Notifier sends sd_notify(3) state messages to the service manager.
//
// A Notifier whose socket is empty (not started by systemd with
// Type=notify) sends nothing and every method returns nil, so callers never
// branch on whether systemd is there. All methods are safe for concurrent
// use; each sends one datagram and blocks only for that local send.
type Notifier struct {
	socket   string        // NOTIFY_SOCKET; "" when disabled
	watchdog time.Duration // WATCHDOG_USEC; 0 when disabled
	logger   *slog.Logger
}

// NewNotifier reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID from the
// environment and then unsets them, so that the children frontdoor starts
// (gunicorn speaks sd_notify too) neither talk to systemd on frontdoor's
// behalf nor get their messages rejected under NotifyAccess=main. Call it
// once, early in main, before any child is started.
//
// The watchdog is enabled only when WATCHDOG_PID is unset or names this
// process. A malformed WATCHDOG_USEC is an error; the Notifier returned with
// it still sends the other messages.
func NewNotifier(logger *slog.Logger) (*Notifier, error) {
	socket := os.Getenv("NOTIFY_SOCKET")
	os.Unsetenv("NOTIFY_SOCKET")
	watchdog, err := daemon.SdWatchdogEnabled(true)
	n := NewNotifierFor(socket, watchdog, logger)
	if err != nil {
		return n, fmt.Errorf("systemd watchdog: %w", err)
	}
	return n, nil
}

// NewNotifierFor returns a Notifier that sends to the unix datagram socket
// at socket (a path, or "@name" for an abstract socket) and whose watchdog
// timeout is watchdog (0: no watchdog). It does not look at the
// environment; tests and unusual setups use it. A nil logger discards.
func NewNotifierFor(socket string, watchdog time.Duration, logger *slog.Logger) *Notifier {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Notifier{socket: socket, watchdog: watchdog, logger: logger}
}

// Enabled reports whether messages go anywhere.
func (n *Notifier) Enabled() bool { return n.socket != "" }

// WatchdogTimeout returns the service's WatchdogSec= (0 when the watchdog is
// off). [Notifier.RunWatchdog] pings at half of it.
func (n *Notifier) WatchdogTimeout() time.Duration {
	if !n.Enabled() {
		return 0
	}
	return n.watchdog
}

// Ready tells systemd that startup or a reload has finished and the edge
// serves (READY=1), with status as the new one-line STATUS= ("" keeps the
// old one). Under Type=notify, `systemctl start` returns only after it.
func (n *Notifier) Ready(status string) error {
	return n.send(withStatus(status, daemon.SdNotifyReady)...)
}

// Reloading tells systemd that a configuration reload has begun
// (RELOADING=1 with MONOTONIC_USEC, which systemd 253 and later want and 252
// ignores). Call [Notifier.Ready] when the reload is done, also when it
// failed and the old configuration stays in force.
func (n *Notifier) Reloading(status string) error {
	fields := []string{daemon.SdNotifyReloading}
	if mono := strings.TrimSuffix(daemon.SdNotifyMonotonicUsec(), "\n"); mono != "" {
		fields = append(fields, mono)
	}
	return n.send(withStatus(status, fields...)...)
}

// Stopping tells systemd that shutdown has begun (STOPPING=1), so that it
// stops expecting watchdog pings and shows the unit as deactivating.
func (n *Notifier) Stopping(status string) error {
	return n.send(withStatus(status, daemon.SdNotifyStopping)...)
}

// Status replaces the one-line status `systemctl status frontdoor` shows
// (children, Postgres, certificates). Newlines in status become spaces.
func (n *Notifier) Status(status string) error {
	return n.send("STATUS=" + oneLine(status))
}

// ExtendTimeout asks systemd for d more time before it gives up on the
// current start, reload or stop (EXTEND_TIMEOUT_USEC), for release steps
// such as a long `migrate` that run before READY=1. Repeat it before d runs
// out to extend again.
func (n *Notifier) ExtendTimeout(d time.Duration) error {
	return n.send("EXTEND_TIMEOUT_USEC=" + strconv.FormatInt(d.Microseconds(), 10))
}

// Watchdog sends one watchdog ping (WATCHDOG=1). Most callers want
// [Notifier.RunWatchdog] instead.
func (n *Notifier) Watchdog() error {
	return n.send(daemon.SdNotifyWatchdog)
}

// send writes fields as one newline-separated datagram. A fresh socket per
// message, as libsystemd does: the manager may have re-executed and bound a
// new socket at the same address since the last message.
func (n *Notifier) send(fields ...string) error {
	if !n.Enabled() {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.socket, err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(fields, "\n"))); err != nil {
		return fmt.Errorf("sd_notify %s: %w", n.socket, err)
	}
	return nil
}

// withStatus appends a STATUS= field to fields unless status is empty.
func withStatus(status string, fields ...string) []string {
	if status == "" {
		return fields
	}
	return append(fields, "STATUS="+oneLine(status))
}

// oneLine keeps a status on one line: the protocol separates fields by
// newlines, so an embedded one would start a bogus field.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
