package appliance

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"frontdoor/state"
	"frontdoor/systemd"
)

// Each app's log — its processes' output, its release steps', what
// frontdoor says about it — goes to frontdoor's log with app=NAME (under
// systemd, the journal: `frontdoor logs NAME` reads it there with
// journalctl). The daemon also keeps each app's last lines in memory, for
// `frontdoor logs NAME` when frontdoor runs by hand (GET /logs).

// appLogLines is how many lines the daemon keeps per app.
const appLogLines = 2000

// appLog is one app's recent log lines and the readers following it.
type appLog struct {
	mu        sync.Mutex
	lines     []string // ring, oldest at next once full
	next      int
	followers map[chan string]struct{}
}

func newAppLog() *appLog { return &appLog{followers: map[chan string]struct{}{}} }

// Write takes one formatted record (slog's TextHandler writes a record
// per call).
func (l *appLog) Write(p []byte) (int, error) {
	line := string(bytes.TrimSuffix(p, []byte("\n")))
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) < appLogLines {
		l.lines = append(l.lines, line)
	} else {
		l.lines[l.next] = line
		l.next = (l.next + 1) % appLogLines
	}
	for ch := range l.followers {
		select {
		case ch <- line:
		default: // a reader that cannot keep up misses lines, never stalls the app
		}
	}
	return len(p), nil
}

// tail returns the last n lines (all with n <= 0) and, when follow, a
// channel of the lines that come after them and a function that stops it.
func (l *appLog) tail(n int, follow bool) ([]string, <-chan string, func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	all := append(append([]string(nil), l.lines[l.next:]...), l.lines[:l.next]...)
	if n > 0 && len(all) > n {
		all = all[len(all)-n:]
	}
	if !follow {
		return all, nil, func() {}
	}
	ch := make(chan string, 256)
	l.followers[ch] = struct{}{}
	return all, ch, func() {
		l.mu.Lock()
		delete(l.followers, ch)
		l.mu.Unlock()
	}
}

// teeHandler sends each record to frontdoor's log and to the app's lines.
type teeHandler struct {
	main, lines slog.Handler
}

func newTeeHandler(main slog.Handler, l *appLog) slog.Handler {
	return teeHandler{main: main, lines: slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug})}
}

func (h teeHandler) Enabled(ctx context.Context, lvl slog.Level) bool {
	return h.main.Enabled(ctx, lvl) || lvl >= slog.LevelInfo
}

func (h teeHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelInfo {
		_ = h.lines.Handle(ctx, r.Clone())
	}
	if h.main.Enabled(ctx, r.Level) {
		return h.main.Handle(ctx, r)
	}
	return nil
}

func (h teeHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return teeHandler{main: h.main.WithAttrs(attrs), lines: h.lines.WithAttrs(attrs)}
}

func (h teeHandler) WithGroup(name string) slog.Handler {
	return teeHandler{main: h.main.WithGroup(name), lines: h.lines.WithGroup(name)}
}

// journalUnit is the systemd unit whose journal holds frontdoor's log:
// its service, when frontdoor's standard error is the journal; "" when it
// is not (run by hand, or the log goes elsewhere).
func journalUnit() string {
	if !systemd.IsJournal(os.Stderr) {
		return ""
	}
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		parts := strings.Split(line[strings.LastIndexByte(line, ':')+1:], "/")
		for i := len(parts) - 1; i >= 0; i-- {
			if strings.HasSuffix(parts[i], ".service") {
				return parts[i]
			}
		}
	}
	return ""
}

// handleLogs answers GET /logs?app=NAME[&n=N][&follow=1] in plain text:
// the app's events kept in the state file (its release steps' output, its
// processes' exits), then its last n log lines (200 by default), then,
// with follow, every new line until the client goes away.
func (a *Appliance) handleLogs(w http.ResponseWriter, r *http.Request) {
	runner, err := a.apps.runner(r.URL.Query().Get("app"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	n := 200
	if v := r.URL.Query().Get("n"); v != "" {
		if n, err = strconv.Atoi(v); err != nil {
			http.Error(w, fmt.Sprintf("n %q is not a number", v), http.StatusBadRequest)
			return
		}
	}
	follow := r.URL.Query().Get("follow") == "1"
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	bw := bufio.NewWriter(w)
	if a.state != nil {
		if evs, err := a.state.Events(0); err == nil {
			var mine []state.Event
			for _, ev := range evs {
				if ev.Attrs["app"] == runner.name || (ev.Attrs["app"] == "" && runner.name == defaultAppName && ev.Source == "supervisor") {
					mine = append(mine, ev)
				}
			}
			if n > 0 && len(mine) > n {
				mine = mine[:n]
			}
			fmt.Fprintf(bw, "# %s: its events kept in the state file, oldest first\n", runner.name)
			for i := len(mine) - 1; i >= 0; i-- {
				ev := mine[i]
				fmt.Fprintf(bw, "%s %s %s: %s\n", ev.Time.Local().Format(time.DateTime), ev.Attrs["process"], ev.Kind, ev.Message)
				for _, line := range strings.Split(ev.Attrs["output"], "\n") {
					if line != "" {
						fmt.Fprintf(bw, "    | %s\n", line)
					}
				}
			}
		}
	}
	lines, more, stop := runner.logs.tail(n, follow)
	defer stop()
	fmt.Fprintf(bw, "# %s: its last log lines since frontdoor started\n", runner.name)
	for _, l := range lines {
		bw.WriteString(l)
		bw.WriteByte('\n')
	}
	bw.Flush()
	flusher, _ := w.(http.Flusher)
	if !follow {
		return
	}
	if flusher != nil {
		flusher.Flush()
	}
	for {
		select {
		case l := <-more:
			io.WriteString(w, l+"\n")
			if flusher != nil {
				flusher.Flush()
			}
		case <-r.Context().Done():
			return
		}
	}
}
