package supervisor

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// maxLogLine caps one logged line; longer lines are split.
const maxLogLine = 16 * 1024

// lineTail keeps the last lines written to it, for crash reports.
type lineTail struct {
	mu    sync.Mutex
	lines []string // ring of len ≤ cap
	next  int      // where the next line goes once the ring is full
	max   int
}

func newLineTail(max int) *lineTail { return &lineTail{max: max} }

func (t *lineTail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.lines) < t.max {
		t.lines = append(t.lines, line)
		return
	}
	t.lines[t.next] = line
	t.next = (t.next + 1) % t.max
}

// snapshot returns the kept lines, oldest first.
func (t *lineTail) snapshot() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]string, 0, len(t.lines))
	out = append(out, t.lines[t.next:]...)
	return append(out, t.lines[:t.next]...)
}

// pumpLines turns what r delivers into log records on log (tagged with
// the stream name) until EOF, and keeps each line in tail when tail is not
// nil. A Python traceback — from "Traceback (most recent call last):" to
// the exception line, chained exceptions included — is one record with a
// multi-line message, logged as an error: one journal entry a human reads,
// not forty INFO lines. Every other line is a record of its own. It owns r
// and closes it.
func pumpLines(r io.ReadCloser, log *slog.Logger, stream string, tail *lineTail) {
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		defer r.Close()
		br := bufio.NewReaderSize(r, maxLogLine)
		for {
			line, err := br.ReadSlice('\n')
			if len(line) > 0 {
				lines <- string(trimEOL(line))
			}
			if err != nil && err != bufio.ErrBufferFull {
				return
			}
		}
	}()
	emit := func(level slog.Level, text string) {
		log.LogAttrs(context.Background(), level, text, slog.String("stream", stream))
	}
	var tb tracebackGroup
	idle := time.NewTimer(time.Hour)
	idle.Stop()
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				if block := tb.flush(); block != "" {
					emit(slog.LevelError, block)
				}
				return
			}
			if tail != nil {
				tail.add(line)
			}
			block, single := tb.add(line)
			if block != "" {
				emit(slog.LevelError, block)
			}
			if single != nil {
				emit(slog.LevelInfo, *single)
			}
			idle.Stop()
			if tb.pending() {
				idle.Reset(tracebackQuiet)
			}
		case <-idle.C:
			// Nothing more came: the traceback is complete.
			if block := tb.flush(); block != "" {
				emit(slog.LevelError, block)
			}
		}
	}
}

// tracebackQuiet is how long a traceback waits for more lines after what
// may be its end (a chained exception follows at once, or never).
const tracebackQuiet = 150 * time.Millisecond

// maxTracebackLines bounds one traceback record; longer ones are split.
const maxTracebackLines = 400

// tracebackGroup collects the lines of a Python traceback.
type tracebackGroup struct {
	lines []string
	// ended: the exception line was seen; blank lines and the chaining
	// sentences may still continue the traceback.
	ended bool
}

const tracebackStart = "Traceback (most recent call last):"

// pending reports a traceback being collected.
func (g *tracebackGroup) pending() bool { return len(g.lines) > 0 }

// add takes one line. It returns a finished traceback (block, or "") and
// the line itself when it belongs to no traceback (single, or nil).
func (g *tracebackGroup) add(line string) (block string, single *string) {
	if !g.pending() {
		if strings.HasPrefix(line, tracebackStart) {
			g.lines = append(g.lines, line)
			return "", nil
		}
		return "", &line
	}
	switch {
	case len(g.lines) >= maxTracebackLines:
		block = g.flush()
		return g.addAfter(block, line)
	case strings.HasPrefix(line, tracebackStart),
		strings.HasPrefix(line, "During handling of the above exception"),
		strings.HasPrefix(line, "The above exception was the direct cause"):
		g.lines = append(g.lines, line)
		g.ended = false
	case line == "" && g.ended:
		g.lines = append(g.lines, line)
	case strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t"):
		if g.ended && g.lines[len(g.lines)-1] == "" {
			// Indented text after a blank line: not the traceback's.
			return g.addAfter(g.flush(), line)
		}
		g.lines = append(g.lines, line)
	case !g.ended:
		g.lines = append(g.lines, line) // the exception line ("ValueError: ...")
		g.ended = true
	default:
		return g.addAfter(g.flush(), line)
	}
	return "", nil
}

// addAfter returns block and then processes line as a new one.
func (g *tracebackGroup) addAfter(block, line string) (string, *string) {
	next, single := g.add(line)
	if next != "" {
		block += "\n" + next // cannot happen: a new traceback is pending, not finished
	}
	return block, single
}

// flush returns the collected traceback (without trailing blank lines)
// and starts over.
func (g *tracebackGroup) flush() string {
	lines := g.lines
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	g.lines, g.ended = g.lines[:0], false
	return strings.Join(lines, "\n")
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

// teeReader returns r, copying what is read from it into copyTo when that is
// not nil.
func teeReader(r io.ReadCloser, copyTo *lockedBuffer) io.ReadCloser {
	if copyTo == nil {
		return r
	}
	return struct {
		io.Reader
		io.Closer
	}{io.TeeReader(r, copyTo), r}
}
