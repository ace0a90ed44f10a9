package appliance

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEmptyConfigIsValid(t *testing.T) {
	// The packaged default has no site yet: frontdoor must start with it
	// and explain itself on every request.
	c, err := ParseConfig("frontdoor.toml", []byte("[server]\n"))
	if err != nil || len(c.Sites) != 0 {
		t.Fatalf("empty configuration: %v", err)
	}
}

func TestParseConfigValid(t *testing.T) {
	dir := t.TempDir()
	static := filepath.Join(dir, "static")
	os.Mkdir(static, 0o755)
	text := `
[server]
http = ["127.0.0.1:8080", "[::1]:8080"]
workers = 2

[timeouts]
request_head = "5s"
keepalive = "1m"

[[site]]
hosts = ["example.com"]
  [[site.route]]
  path = "/static/"
  static = "` + static + `"
  cache_control = "public, max-age=60"

[[site]]
  [[site.route]]
  path = "/"
  static = "` + static + `"
  precompressed = false
`
	c, err := ParseConfig("test.toml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if c.Server.Workers != 2 || c.Timeouts.RequestHead.Duration != 5*time.Second || c.Timeouts.KeepAlive.Duration != time.Minute {
		t.Errorf("decoded %+v %+v", c.Server, c.Timeouts)
	}
	if len(c.Sites) != 2 || c.Sites[0].Routes[0].CacheControl != "public, max-age=60" || *c.Sites[1].Routes[0].Precompressed {
		t.Errorf("sites %+v", c.Sites)
	}
	if c.Server.State != "/var/lib/frontdoor/state.db" || c.Server.AccessLog != "-" {
		t.Errorf("defaults not applied: %+v", c.Server)
	}
	if got := c.lines["site[1].route[0].static"]; got != 20 {
		t.Errorf("line of site[1].route[0].static = %d, want 20", got)
	}
}

// TestConfigErrorsNameFileLineKeyAndFix covers each kind of mistake: every
// message must carry the file, the line, the key and a fix.
func TestConfigErrorsNameFileLineKeyAndFix(t *testing.T) {
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o644)
	tests := []struct {
		name     string
		text     string
		line     int
		key      string
		contains string
	}{
		{"unknown key", "[server]\nworkerz = 2\n[[site]]\n[[site.route]]\npath=\"/\"\nstatic=\"" + dir + "\"\n", 2, "server.workerz", "unknown key"},
		{"unknown table", "[sever]\nworkers = 2\n", 1, "sever", "unknown key"},
		{"wrong type", "[server]\nworkers = \"two\"\n", 2, "server.workers", "string"},
		{"bad duration", "[timeouts]\nkeepalive = \"75 seconds\"\n", 2, "timeouts.keepalive", "not a duration"},
		{"bad address", "[server]\nhttp = [\"localhost:80\"]\n[[site]]\n[[site.route]]\npath=\"/\"\nstatic=\"" + dir + "\"\n", 2, "server.http[0]", "not an IP address"},
		{"bad port", "[server]\nhttp = [\":http2\"]\n[[site]]\n[[site.route]]\npath=\"/\"\nstatic=\"" + dir + "\"\n", 2, "server.http[0]", "bad port"},
		{"missing directory", "[[site]]\n[[site.route]]\npath = \"/\"\nstatic = \"" + dir + "/nope\"\n", 4, "site[0].route[0].static", "no such file"},
		{"not a directory", "[[site]]\n[[site.route]]\npath = \"/\"\nstatic = \"" + notDir + "\"\n", 4, "site[0].route[0].static", "not a directory"},
		{"relative directory", "[[site]]\n[[site.route]]\npath = \"/\"\nstatic = \"www\"\n", 4, "site[0].route[0].static", "absolute"},
		{"bad prefix", "[[site]]\n[[site.route]]\npath = \"static/\"\nstatic = \"" + dir + "\"\n", 3, "site[0].route[0].path", "must start with /"},
		{"syntax error", "[server\nworkers = 1\n", 1, "", "expected"},
		{"duplicate host", "[[site]]\nhosts=[\"a\"]\n[[site.route]]\npath=\"/\"\nstatic=\"" + dir + "\"\n[[site]]\nhosts=[\"A\"]\n[[site.route]]\npath=\"/\"\nstatic=\"" + dir + "\"\n", 7, "site[1].hosts[0]", "already served"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("/etc/frontdoor/frontdoor.toml", []byte(tc.text))
			var errs ConfigErrors
			if !errors.As(err, &errs) || len(errs) == 0 {
				t.Fatalf("error %v is not a ConfigErrors", err)
			}
			e := errs[0]
			msg := e.Error()
			if e.Line != tc.line || e.Key != tc.key || !strings.Contains(msg, tc.contains) {
				t.Fatalf("got line %d key %q msg %q; want line %d key %q containing %q", e.Line, e.Key, msg, tc.line, tc.key, tc.contains)
			}
			if !strings.HasPrefix(msg, "/etc/frontdoor/frontdoor.toml:") || e.Fix == "" && tc.name != "syntax error" {
				t.Fatalf("message %q lacks the file or a fix", msg)
			}
		})
	}
}

// TestTableHeadersHaveTheirLines: an error about a table (or a key missing
// from it) names the header's line, not line 1.
func TestTableHeadersHaveTheirLines(t *testing.T) {
	text := "# comment\n\n[server]\nworkers = 1\n\n[[site]]\nhosts = [\"a\"]\n\n[[site]]\nhosts = [\"b\"]\n  [[site.route]]\n  path = \"/\"\n"
	lines := keyLines([]byte(text))
	for key, want := range map[string]int{"server": 3, "site[0]": 6, "site[1]": 9, "site[1].route[0]": 11, "site[1].route[0].path": 12} {
		if lines[key] != want {
			t.Errorf("%s on line %d, want %d", key, lines[key], want)
		}
	}
}

// TestErrorsKeepTheirLine covers the ways a line used to get lost (found by
// FuzzParseConfig): a route array under an implicit site table, keys in
// another case, a duration written as a number.
func TestErrorsKeepTheirLine(t *testing.T) {
	for _, tc := range []struct {
		text string
		line int
		key  string
	}{
		{"[[site.route]]\npath = \"/\"\nstatic = \"/nonexistent\"\n", 3, "site[0].route[0].static"},
		{"[Server]\nHTTP = [\"nohost\"]\n", 2, "server.http[0]"},
		{"[timeouts]\nkeepalive = 75\n", 2, "timeouts.keepalive"},
	} {
		_, err := ParseConfig("f.toml", []byte(tc.text))
		var errs ConfigErrors
		if !errors.As(err, &errs) || errs[0].Line != tc.line || errs[0].Key != tc.key || errs[0].Fix == "" {
			t.Errorf("%q: %v; want line %d key %s with a fix", tc.text, err, tc.line, tc.key)
		}
	}
}

func TestBusyPollKey(t *testing.T) {
	for _, tc := range []struct {
		text string
		want time.Duration
	}{
		{"", 0},                      // the engine's default
		{"busy_poll = \"0s\"\n", -1}, // off
		{"busy_poll = \"50us\"\n", 50 * time.Microsecond},
	} {
		c, err := ParseConfig("test.toml", []byte("[server]\n"+tc.text))
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		if got := c.engineConfig(nil, nil).BusyPoll; got != tc.want {
			t.Errorf("%q: engine BusyPoll %v, want %v", tc.text, got, tc.want)
		}
	}
	_, err := ParseConfig("test.toml", []byte("[server]\nbusy_poll = \"fast\"\n"))
	if err == nil || !strings.Contains(err.Error(), "busy_poll") || !strings.Contains(err.Error(), "test.toml:2:") {
		t.Errorf("a bad busy_poll: %v", err)
	}
}
