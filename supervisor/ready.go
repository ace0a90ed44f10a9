package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// readyPollInterval is the pause between two readiness attempts.
const readyPollInterval = 100 * time.Millisecond

// probeAttemptTimeout bounds one readiness request: gunicorn's master
// accepts connections into the backlog before a worker is up, so an
// attempt may legitimately wait for the app to finish importing.
const probeAttemptTimeout = 5 * time.Second

// probeHTTP sends one GET to the unix socket sock and returns nil as soon
// as an HTTP status line comes back, whatever the status.
func probeHTTP(ctx context.Context, sock, host, path string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return err
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: frontdoor-readiness\r\nConnection: close\r\n\r\n", path, host)
	if _, err := conn.Write([]byte(req)); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("no HTTP response: %w", err)
	}
	if !strings.HasPrefix(line, "HTTP/1.") {
		return fmt.Errorf("not an HTTP response: %q", strings.TrimSpace(line))
	}
	return nil
}

// errExitedBeforeReady is wrapped when a child ended while we waited.
var errExitedBeforeReady = errors.New("exited before it was ready")

// waitReady polls c's socket until it answers HTTP. It returns an error
// wrapping errExitedBeforeReady if c exits first, the last probe error once
// timeout has passed, or ctx's error when ctx is done first.
func waitReady(ctx context.Context, c *child, sock, host, path string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	probeCtx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	// Abandon a probe in progress the moment the process dies.
	go func() {
		select {
		case <-c.done:
			cancel()
		case <-probeCtx.Done():
		}
	}()

	for {
		attempt, cancelAttempt := context.WithTimeout(probeCtx, probeAttemptTimeout)
		err := probeHTTP(attempt, sock, host, path)
		cancelAttempt()
		switch {
		case c.exited():
			return fmt.Errorf("%w (%s)", errExitedBeforeReady, c.exit)
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case !time.Now().Before(deadline):
			return fmt.Errorf("not ready after %s: %w", timeout, err)
		}
		select {
		case <-c.done:
		case <-probeCtx.Done():
		case <-time.After(readyPollInterval):
		}
	}
}
