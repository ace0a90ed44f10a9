package systemd

import (
	"context"
	"time"
)

// RunWatchdog pings systemd's watchdog (WATCHDOG=1) every half
// [Notifier.WatchdogTimeout], but only when alive returns true, until ctx is
// done. It returns at once when the watchdog is off.
//
// alive is called once per period from RunWatchdog's goroutine and must not
// block; the engine passes a check that every worker's loop has turned
// recently. A stuck worker thus stops the pings and systemd, after
// WatchdogSec, kills and restarts frontdoor (Restart=on-failure). The first
// period starts with a ping, so a fresh process is not left unguarded.
// Transitions between alive and not alive are logged (error, then info).
func (n *Notifier) RunWatchdog(ctx context.Context, alive func() bool) {
	timeout := n.WatchdogTimeout()
	if timeout <= 0 {
		return
	}
	period := timeout / 2
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	wasAlive := true
	for {
		isAlive := alive()
		switch {
		case isAlive:
			if err := n.Watchdog(); err != nil {
				n.logger.Warn("watchdog ping failed", "err", err)
			}
			if !wasAlive {
				n.logger.Info("watchdog pings resumed: liveness check passes again")
			}
		case wasAlive:
			n.logger.Error("watchdog pings stopped: liveness check fails; systemd restarts frontdoor if it keeps failing",
				"watchdog_timeout", timeout)
		}
		wasAlive = isAlive
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
