package supervisor

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"sync"
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

// pumpLines turns what r delivers into log lines on log (tagged with the
// stream name) until EOF, and keeps them in tail when tail is not nil. It
// owns r and closes it.
func pumpLines(r io.ReadCloser, log *slog.Logger, stream string, tail *lineTail) {
	defer r.Close()
	br := bufio.NewReaderSize(r, maxLogLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 {
			text := string(trimEOL(line))
			log.LogAttrs(context.Background(), slog.LevelInfo, text, slog.String("stream", stream))
			if tail != nil {
				tail.add(text)
			}
		}
		if err != nil && err != bufio.ErrBufferFull {
			return
		}
	}
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
