package systemd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// LogFormat selects how [NewLogHandler] writes records.
type LogFormat string

// Log formats.
const (
	// LogAuto writes LogJournal when the output is systemd's journal
	// stream (see [IsJournal]) and LogText otherwise.
	LogAuto LogFormat = ""
	// LogJournal writes "<N>message key=value ...": N is the syslog
	// priority the journal files the line under (debug 7, info 6, warn 4,
	// error 3), and there is no timestamp since the journal adds its own.
	LogJournal LogFormat = "journal"
	// LogText writes slog's key=value lines (time=… level=… msg=…).
	LogText LogFormat = "text"
	// LogJSON writes one JSON object per line.
	LogJSON LogFormat = "json"
)

// LogOptions configures [NewLogHandler]. The zero value logs at info level
// in the automatically chosen format.
type LogOptions struct {
	// Format is the line format; LogAuto by default.
	Format LogFormat
	// Level is the minimum level logged; slog.LevelInfo when nil.
	Level slog.Leveler
	// AddSource adds the file:line of the logging call.
	AddSource bool
	// JournalSocket is journald's native socket, where LogJournal sends
	// records whose message spans several lines (one journal entry each,
	// not one per line). Default DefaultJournalSocket; "-" sends every
	// record to the stream.
	JournalSocket string
}

// ParseLogFormat checks a configured format name ("", "auto", "journal",
// "text", "json").
func ParseLogFormat(s string) (LogFormat, error) {
	switch f := LogFormat(strings.ToLower(s)); f {
	case LogAuto, "auto":
		return LogAuto, nil
	case LogJournal, LogText, LogJSON:
		return f, nil
	default:
		return "", fmt.Errorf("log format %q: want auto, journal, text or json", s)
	}
}

// NewLogHandler returns a slog.Handler writing to w in opts.Format. With
// LogAuto, w must be an *os.File (normally os.Stderr) to be recognised as
// the journal; any other writer gets text. Each record is one Write call,
// so lines from concurrent goroutines never interleave.
func NewLogHandler(w io.Writer, opts LogOptions) slog.Handler {
	format := opts.Format
	if format == LogAuto {
		format = LogText
		if f, ok := w.(*os.File); ok && IsJournal(f) {
			format = LogJournal
		}
	}
	handlerOpts := &slog.HandlerOptions{Level: opts.Level, AddSource: opts.AddSource}
	switch format {
	case LogJSON:
		return slog.NewJSONHandler(w, handlerOpts)
	case LogJournal:
		h := newJournalHandler(w, handlerOpts)
		if opts.JournalSocket != "-" {
			h.out.native = &journalNative{path: opts.JournalSocket}
			if h.out.native.path == "" {
				h.out.native.path = DefaultJournalSocket
			}
		}
		return h
	default:
		return slog.NewTextHandler(w, handlerOpts)
	}
}

// IsJournal reports whether f is connected to systemd-journald's stream:
// systemd sets JOURNAL_STREAM to "device:inode" of the stream it connected
// to stdout/stderr, and a process whose stderr was redirected elsewhere (a
// pipe to another program, a file) sees a different pair.
func IsJournal(f *os.File) bool {
	return isJournalStream(f, os.Getenv("JOURNAL_STREAM"))
}

// isJournalStream compares f's device and inode with a JOURNAL_STREAM value.
func isJournalStream(f *os.File, journalStream string) bool {
	if journalStream == "" {
		return false
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false
	}
	return journalStream == fmt.Sprintf("%d:%d", st.Dev, st.Ino)
}

// journalPriority maps a slog level to a syslog priority.
func journalPriority(l slog.Level) byte {
	switch {
	case l >= slog.LevelError:
		return '3' // err
	case l >= slog.LevelWarn:
		return '4' // warning
	case l >= slog.LevelInfo:
		return '6' // info
	default:
		return '7' // debug
	}
}

// journalHandler formats the attributes with slog's TextHandler (quoting,
// groups, WithAttrs all as usual) and writes each record as
// "<N>message attrs\n". The inner handler writes into the shared output,
// which puts the priority and message in front; the output's mutex is held
// across the inner Handle call so that prefix and attributes belong to the
// same record.
type journalHandler struct {
	inner slog.Handler
	out   *journalOutput
}

// journalOutput is shared by a journalHandler and every handler derived
// from it with WithAttrs or WithGroup.
type journalOutput struct {
	mu     sync.Mutex
	w      io.Writer
	prefix []byte // "<N>message" of the record being written
	line   bytes.Buffer
	// msg is the record's message as logged; one with newlines goes to
	// native (when set) as one entry: its first line, the attributes, then
	// the other lines.
	msg    string
	native *journalNative
}

func newJournalHandler(w io.Writer, opts *slog.HandlerOptions) *journalHandler {
	out := &journalOutput{w: w}
	inner := *opts
	inner.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 {
			switch a.Key {
			case slog.TimeKey, slog.LevelKey, slog.MessageKey:
				return slog.Attr{} // in the prefix, or added by the journal
			}
		}
		return a
	}
	return &journalHandler{inner: slog.NewTextHandler(out, &inner), out: out}
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	bare := slog.NewRecord(r.Time, r.Level, "", r.PC)
	r.Attrs(func(a slog.Attr) bool {
		bare.AddAttrs(a)
		return true
	})
	h.out.mu.Lock()
	defer h.out.mu.Unlock()
	h.out.prefix = append(h.out.prefix[:0], '<', journalPriority(r.Level), '>')
	h.out.prefix = appendMessage(h.out.prefix, r.Message)
	h.out.msg = r.Message
	return h.inner.Handle(ctx, bare)
}

func (h *journalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &journalHandler{inner: h.inner.WithAttrs(attrs), out: h.out}
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{inner: h.inner.WithGroup(name), out: h.out}
}

// Write receives the attributes of one record from the inner TextHandler
// (called with mu held by Handle) and writes the whole line at once.
func (o *journalOutput) Write(attrs []byte) (int, error) {
	n := len(attrs)
	attrs = bytes.TrimSuffix(attrs, []byte("\n"))
	if o.native != nil && strings.Contains(o.msg, "\n") {
		first, rest, _ := strings.Cut(o.msg, "\n")
		o.line.Reset()
		o.line.WriteString(first)
		if len(attrs) > 0 {
			o.line.WriteByte(' ')
			o.line.Write(attrs)
		}
		o.line.WriteByte('\n')
		o.line.WriteString(rest)
		if o.native.send(o.prefix[1], o.line.Bytes()) {
			return n, nil
		}
	}
	o.line.Reset()
	o.line.Write(o.prefix)
	if len(attrs) > 0 {
		o.line.WriteByte(' ')
		o.line.Write(attrs)
	}
	o.line.WriteByte('\n')
	if _, err := o.w.Write(o.line.Bytes()); err != nil {
		return 0, err
	}
	return n, nil
}

// appendMessage appends msg with newlines and carriage returns escaped: the
// journal would split the record at a newline and file the rest without
// its priority.
func appendMessage(dst []byte, msg string) []byte {
	for i := 0; i < len(msg); i++ {
		switch c := msg[i]; c {
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
