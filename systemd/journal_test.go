package systemd

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestJournalHandlerLines(t *testing.T) {
	tests := []struct {
		name string
		log  func(l *slog.Logger)
		want string
	}{
		{"debug", func(l *slog.Logger) { l.Debug("probe") }, "<7>probe\n"},
		{"info with attrs", func(l *slog.Logger) { l.Info("child started", "name", "web", "pid", 42) }, "<6>child started name=web pid=42\n"},
		{"warn quotes values", func(l *slog.Logger) { l.Warn("slow upstream", "path", "/a b") }, "<4>slow upstream path=\"/a b\"\n"},
		{"error", func(l *slog.Logger) { l.Error("bind failed", "err", fmt.Errorf("in use")) }, "<3>bind failed err=\"in use\"\n"},
		{"level above error", func(l *slog.Logger) { l.Log(context.Background(), slog.LevelError+4, "fatal") }, "<3>fatal\n"},
		{"notice-ish level", func(l *slog.Logger) { l.Log(context.Background(), slog.LevelInfo+2, "between") }, "<6>between\n"},
		{"newline in message stays one entry", func(l *slog.Logger) { l.Info("line one\nline two") }, "<6>line one\\nline two\n"},
		{"with attrs and group", func(l *slog.Logger) {
			l.With("component", "acme").WithGroup("cert").Info("renewed", "name", "example.com")
		}, "<6>renewed component=acme cert.name=example.com\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.log(slog.New(NewLogHandler(&buf, LogOptions{Format: LogJournal, Level: slog.LevelDebug, JournalSocket: "-"})))
			if got := buf.String(); got != tt.want {
				t.Errorf("wrote %q, want %q", got, tt.want)
			}
		})
	}
}

func TestJournalHandlerLevelFilter(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(NewLogHandler(&buf, LogOptions{Format: LogJournal}))
	l.Debug("hidden")
	l.Info("shown")
	if got := buf.String(); got != "<6>shown\n" {
		t.Errorf("wrote %q, want only the info line", got)
	}
}

// TestJournalHandlerConcurrent checks that the prefix of one record never
// meets the attributes of another.
func TestJournalHandlerConcurrent(t *testing.T) {
	var buf bytes.Buffer
	var mu sync.Mutex
	base := slog.New(NewLogHandler(&lockedWriter{w: &buf, mu: &mu}, LogOptions{Format: LogJournal}))
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := base.With("g", g)
			for i := range 200 {
				if i%2 == 0 {
					l.Info(fmt.Sprintf("m%d-%d", g, i), "i", i)
				} else {
					l.Warn(fmt.Sprintf("m%d-%d", g, i), "i", i)
				}
			}
		}()
	}
	wg.Wait()
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 8*200 {
		t.Fatalf("%d lines, want %d", len(lines), 8*200)
	}
	for _, line := range lines {
		var prio, g, i, g2, i2 int
		if _, err := fmt.Sscanf(line, "<%d>m%d-%d g=%d i=%d", &prio, &g, &i, &g2, &i2); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		wantPrio := 6
		if i%2 == 1 {
			wantPrio = 4
		}
		if g != g2 || i != i2 || prio != wantPrio {
			t.Fatalf("line %q mixes records", line)
		}
	}
}

func TestLogHandlerFormats(t *testing.T) {
	var text, js bytes.Buffer
	slog.New(NewLogHandler(&text, LogOptions{})).Info("hello", "k", "v")
	if got := text.String(); !strings.HasPrefix(got, "time=") || !strings.Contains(got, `level=INFO msg=hello k=v`) {
		t.Errorf("auto format on a buffer wrote %q, want slog text", got)
	}
	slog.New(NewLogHandler(&js, LogOptions{Format: LogJSON})).Warn("hello", "k", "v")
	var rec map[string]any
	if err := json.Unmarshal(js.Bytes(), &rec); err != nil {
		t.Fatalf("JSON line %q: %v", js.String(), err)
	}
	if rec["level"] != "WARN" || rec["msg"] != "hello" || rec["k"] != "v" || rec["time"] == nil {
		t.Errorf("JSON record %v", rec)
	}
}

func TestParseLogFormat(t *testing.T) {
	for in, want := range map[string]LogFormat{"": LogAuto, "auto": LogAuto, "Journal": LogJournal, "text": LogText, "json": LogJSON} {
		if got, err := ParseLogFormat(in); err != nil || got != want {
			t.Errorf("ParseLogFormat(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseLogFormat("syslog"); err == nil {
		t.Error("ParseLogFormat(syslog) succeeded")
	}
}

// TestIsJournal fakes the journal's stream with a socket pair: what counts
// is that JOURNAL_STREAM names the device and inode of the given file.
func TestIsJournal(t *testing.T) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	stream := os.NewFile(uintptr(fds[0]), "journal-stream")
	other := os.NewFile(uintptr(fds[1]), "other")
	defer stream.Close()
	defer other.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fds[0], &st); err != nil {
		t.Fatal(err)
	}
	devIno := fmt.Sprintf("%d:%d", st.Dev, st.Ino)

	tests := []struct {
		name string
		env  string
		file *os.File
		want bool
	}{
		{"matching stream", devIno, stream, true},
		{"stderr redirected elsewhere", devIno, other, false},
		{"no JOURNAL_STREAM", "", stream, false},
		{"garbage", "x:y", stream, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("JOURNAL_STREAM", tt.env)
			if got := IsJournal(tt.file); got != tt.want {
				t.Errorf("IsJournal = %v, want %v", got, tt.want)
			}
		})
	}

	// LogAuto picks the journal format for the journal's stream.
	t.Setenv("JOURNAL_STREAM", devIno)
	slog.New(NewLogHandler(stream, LogOptions{})).Warn("disk almost full", "free", "3%")
	buf := make([]byte, 256)
	n, err := other.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(buf[:n]), "<4>disk almost full free=3%\n"; got != want {
		t.Errorf("auto format on the journal stream wrote %q, want %q", got, want)
	}
}

// TestJournalMultiLineRecordIsOneEntry: a record whose message spans lines
// (a Python traceback) goes to journald's native socket as one entry, its
// MESSAGE in the protocol's length-prefixed form with the attributes after
// the first line; one-line records stay on the stream; without a journal
// socket the record goes to the stream, escaped.
func TestJournalMultiLineRecordIsOneEntry(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "journal.sock")
	journal, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer journal.Close()
	var stream bytes.Buffer
	log := slog.New(NewLogHandler(&stream, LogOptions{Format: LogJournal, JournalSocket: sock}))
	traceback := "Traceback (most recent call last):\n  File \"/srv/site/views.py\", line 3, in index\n    1 / 0\nZeroDivisionError: division by zero"
	log.Error(traceback, "proc", "web", "pid", 42)
	log.Info("web ready", "gen", 1)

	buf := make([]byte, 64<<10)
	journal.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := journal.Read(buf)
	if err != nil {
		t.Fatalf("no datagram on the journal socket: %v (stream: %q)", err, stream.String())
	}
	fields := parseNative(t, buf[:n])
	want := "Traceback (most recent call last): proc=web pid=42\n  File \"/srv/site/views.py\", line 3, in index\n    1 / 0\nZeroDivisionError: division by zero"
	if fields["MESSAGE"] != want || fields["PRIORITY"] != "3" || fields["SYSLOG_IDENTIFIER"] != "frontdoor" {
		t.Errorf("entry = %q", fields)
	}
	if got := stream.String(); got != "<6>web ready gen=1\n" {
		t.Errorf("stream = %q, want only the one-line record", got)
	}

	stream.Reset()
	noJournal := slog.New(NewLogHandler(&stream, LogOptions{Format: LogJournal, JournalSocket: filepath.Join(t.TempDir(), "none")}))
	noJournal.Error("line one\nline two")
	if got := stream.String(); got != "<3>line one\\nline two\n" {
		t.Errorf("without a journal socket: %q", got)
	}
}

// parseNative decodes a datagram of journald's native protocol.
func parseNative(t *testing.T, b []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			t.Fatalf("field without newline: %q", b)
		}
		line := b[:i]
		b = b[i+1:]
		if k, v, ok := bytes.Cut(line, []byte("=")); ok {
			out[string(k)] = string(v)
			continue
		}
		if len(b) < 8 {
			t.Fatalf("binary field %s without length", line)
		}
		n := binary.LittleEndian.Uint64(b[:8])
		out[string(line)] = string(b[8 : 8+n])
		b = b[8+n+1:]
	}
	return out
}
