package proxy

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// panicWatch is a logger for an engine under a fuzz target: the loop
// recovers a panic and logs it (worker.Recovered), so the client only sees
// its connection close; the target asks take after each input and fails on
// what was recovered meanwhile.
type panicWatch struct {
	mu     sync.Mutex
	caught []string
}

func (p *panicWatch) logger() *slog.Logger { return slog.New(p) }

func (p *panicWatch) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }

func (p *panicWatch) Handle(_ context.Context, r slog.Record) error {
	if !strings.HasPrefix(r.Message, "panic") {
		return nil
	}
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, "\n%s: %v", a.Key, a.Value)
		return true
	})
	p.mu.Lock()
	p.caught = append(p.caught, b.String())
	p.mu.Unlock()
	return nil
}

func (p *panicWatch) WithAttrs([]slog.Attr) slog.Handler { return p }
func (p *panicWatch) WithGroup(string) slog.Handler      { return p }

// take returns the panics recovered since the last call.
func (p *panicWatch) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := p.caught
	p.caught = nil
	return c
}

// failOnPanic ends a fuzz input's run when the engine recovered a panic
// while serving it.
func (p *panicWatch) failOnPanic(t *testing.T, raw []byte) {
	t.Helper()
	if c := p.take(); len(c) > 0 {
		t.Fatalf("the engine recovered a panic:\n%s\ninput %q", strings.Join(c, "\n"), raw)
	}
}

// TestPanicWatchSeesARecoveredPanic: the fuzz targets' guard sees a panic
// the loop recovered on an HTTP/2 stream, though the client only sees
// its connection end.
func TestPanicWatchSeesARecoveredPanic(t *testing.T) {
	var pw panicWatch
	cfg := proxySite("127.0.0.1:1")
	cfg.Workers = 1
	cfg.Logger = pw.logger()
	he := startH2Engine(t, cfg, "example.test")
	he.panicsProvoked = 1
	hook := func(path []byte) {
		if string(path) == "/boom" {
			panic("handler bug")
		}
	}
	he.e.beforeServe.Store(&hook)
	he.h2cClient().Get("http://" + he.addr + "/boom")
	c := pw.take()
	if len(c) != 1 || !strings.Contains(c[0], "handler bug") {
		t.Fatalf("recovered panics seen: %q; want the one of /boom", c)
	}
}
