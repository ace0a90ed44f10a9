package supervisor_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"frontdoor/supervisor"
)

// edge stands for the proxy engine's adapter.
type edge struct{}

func (edge) SetAppUpstream(addr string)      { fmt.Println("route the app to", addr) }
func (edge) InFlight(addr string) (int, int) { return 0, 0 }

// The appliance wires the supervisor like this: a Config from the TOML
// file and Inspect's facts, the edge and the state adapters, Run for the
// daemon's lifetime, Deploy on `frontdoor deploy` or SIGHUP.
func Example() {
	sup, err := supervisor.New(supervisor.Config{
		ProjectDir: "/srv/mysite",
		RuntimeDir: "/run/frontdoor",
		Processes: []supervisor.ProcessSpec{
			{Name: "celery", Command: []string{"python", "-m", "celery", "-A", "mysite", "worker"}},
		},
		Logger: slog.Default(),
		Edge:   edge{},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	go func() {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		for range hup {
			if rep, err := sup.Deploy(ctx); err != nil {
				slog.Error("deploy failed", "err", err, "steps", rep.Steps)
			}
		}
	}()
	_ = sup.Run(ctx) // returns once every child has stopped
}
