package supervisor

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// recordSink keeps the records a logger receives.
type recordSink struct {
	mu      sync.Mutex
	records []slog.Record
}

func (s *recordSink) Enabled(context.Context, slog.Level) bool { return true }
func (s *recordSink) Handle(_ context.Context, r slog.Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.records = append(s.records, r)
	return nil
}
func (s *recordSink) WithAttrs([]slog.Attr) slog.Handler { return s }
func (s *recordSink) WithGroup(string) slog.Handler      { return s }

// TestTracebackIsOneRecord: a child's Python traceback becomes one error
// record with every line, chained exceptions included; the lines around
// it stay records of their own; the crash report's tail keeps every line.
func TestTracebackIsOneRecord(t *testing.T) {
	chained := `Traceback (most recent call last):
  File "/srv/site/shop/views.py", line 12, in checkout
    order = Order.objects.get(pk=pk)
shop.models.Order.DoesNotExist: Order matching query does not exist.

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/django/core/handlers/exception.py", line 47, in inner
    response = get_response(request)
  File "/srv/site/shop/views.py", line 14, in checkout
    raise Http404("no such order")
django.http.response.Http404: no such order`
	syntax := `Traceback (most recent call last):
  File "/srv/site/manage.py", line 3, in <module>
    import shop.settings
  File "/srv/site/shop/settings.py", line 7
    DEBUG = = True
            ^
SyntaxError: invalid syntax`
	cases := []struct {
		name  string
		input string
		want  []string // records, "E:" for errors
	}{
		{"plain lines", "Starting gunicorn 20.1.0\nListening at: unix:/run/web-1.sock\n",
			[]string{"Starting gunicorn 20.1.0", "Listening at: unix:/run/web-1.sock"}},
		{"chained traceback between log lines", "ERROR Internal Server Error: /checkout/\n" + chained + "\nINFO GET /\n",
			[]string{"ERROR Internal Server Error: /checkout/", "E:" + chained, "INFO GET /"}},
		{"syntax error at the end of the output", syntax + "\n", []string{"E:" + syntax}},
		{"traceback then an indented line after a blank", "Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nValueError: bad\n\n  indented note\n",
			[]string{"E:Traceback (most recent call last):\n  File \"x.py\", line 1, in <module>\nValueError: bad", "  indented note"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sink := &recordSink{}
			tail := newLineTail(100)
			pumpLines(io.NopCloser(strings.NewReader(c.input)), slog.New(sink), "stderr", tail)
			var got []string
			for _, r := range sink.records {
				m := r.Message
				if r.Level == slog.LevelError {
					m = "E:" + m
				}
				got = append(got, m)
			}
			if strings.Join(got, "\n---\n") != strings.Join(c.want, "\n---\n") {
				t.Errorf("records:\n%s\nwant:\n%s", strings.Join(got, "\n---\n"), strings.Join(c.want, "\n---\n"))
			}
			if n := len(tail.snapshot()); n != strings.Count(c.input, "\n") {
				t.Errorf("tail kept %d lines, want every one of %d", n, strings.Count(c.input, "\n"))
			}
		})
	}
}
