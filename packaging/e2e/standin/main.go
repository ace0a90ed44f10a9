// Command standin plays frontdoor for the end-to-end packaging test
// (packaging/e2e/run) while the repository has no `frontdoor run` that
// serves: it takes the sockets systemd passes, answers every HTTP request
// with its version and pid, speaks sd_notify (READY, RELOADING on SIGHUP,
// STOPPING, WATCHDOG) and logs through the journal handler, all with the
// frontdoor/systemd package. HTTPS is plain HTTP here. SIGUSR1 plays a
// stuck worker: the liveness check fails from then on, so the watchdog
// pings stop.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"frontdoor/systemd"
)

var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "version" {
		fmt.Println("frontdoor standin", version)
		return
	}
	if len(os.Args) < 2 || os.Args[1] != "run" {
		fmt.Fprintln(os.Stderr, "usage: frontdoor run [--config FILE] | version")
		os.Exit(2)
	}
	flags := flag.NewFlagSet("run", flag.ExitOnError)
	config := flags.String("config", "/etc/frontdoor/frontdoor.toml", "configuration file")
	flags.Parse(os.Args[2:])
	logger := slog.New(systemd.NewLogHandler(os.Stderr, systemd.LogOptions{}))
	if err := run(logger, *config); err != nil {
		logger.Error("standin failed", "err", err)
		os.Exit(1)
	}
}

func run(logger *slog.Logger, config string) error {
	notifier, err := systemd.NewNotifier(logger)
	if err != nil {
		return err
	}
	if _, err := os.ReadFile(config); err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	sockets, err := systemd.ActivatedSockets()
	if err != nil {
		return err
	}
	if len(sockets) == 0 {
		s, err := systemd.Listen(context.Background(), systemd.SocketHTTP, "127.0.0.1:8080")
		if err != nil {
			return err
		}
		sockets = append(sockets, s)
	}
	logger.Warn("this is the packaging test's stand-in, not frontdoor", "version", version)

	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "frontdoor standin %s pid %d\n", version, os.Getpid())
		}),
		ReadHeaderTimeout: 10 * time.Second,
	}
	served := make(chan error, len(sockets))
	for _, s := range sockets {
		ln, err := net.FileListener(s.File)
		if err != nil {
			return fmt.Errorf("socket %s: %w", s.Name, err)
		}
		s.File.Close()
		logger.Info("serving", "socket", s.Name, "addr", s.Addr)
		go func() { served <- srv.Serve(ln) }()
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var hung atomic.Bool
	go notifier.RunWatchdog(ctx, func() bool { return !hung.Load() })
	notifier.Ready(fmt.Sprintf("stand-in serving %d sockets", len(sockets)))

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGHUP, syscall.SIGTERM, syscall.SIGINT, syscall.SIGUSR1)
	for {
		select {
		case err := <-served:
			if !errors.Is(err, http.ErrServerClosed) {
				return err
			}
		case sig := <-signals:
			if sig == syscall.SIGUSR1 {
				hung.Store(true)
				notifier.Status("a worker hangs (SIGUSR1)")
				continue
			}
			if sig == syscall.SIGHUP {
				notifier.Reloading("reloading")
				_, err := os.ReadFile(config)
				logger.Info("reloaded", "config", config, "err", err)
				notifier.Ready("stand-in reloaded")
				continue
			}
			notifier.Stopping("draining")
			logger.Info("stopping", "signal", sig.String())
			shutdown, done := context.WithTimeout(context.Background(), 20*time.Second)
			defer done()
			return srv.Shutdown(shutdown)
		}
	}
}
