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
		{"wrong type", "[server]\nworkers = \"two\"\n", 2, "server.workers", `expected a number, got "two"`},
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

// TestEveryErrorAtOnce: a file with several mistakes gets all of them in
// one answer, in the order of its lines, each in the user's words with its
// line and a fix — a type error does not hide the rest.
func TestEveryErrorAtOnce(t *testing.T) {
	dir := t.TempDir()
	text := `[server]
workers = "four"
http = ["127.0.0.1:8080", "127.0.0.1:08080"]
https = ["*:8443", ":8443"]
bogus = 1

[timeouts]
keepalive = 75

[[upstream]]
name = "backend"

[[site]]
hosts = ["*"]
  [[site.route]]
  path = "/"
  static = "` + dir + `"
  [[site.route]]
  path = "/"
  static = 5
  [[site.route]]
  path = "/static/"
  precompressed = "yes"
  static = "` + dir + `"

[[site]]
  [[site.route]]
  path = "/"
  upstream = "backend"
`
	_, err := ParseConfig("f.toml", []byte(text))
	var errs ConfigErrors
	if !errors.As(err, &errs) {
		t.Fatalf("error %v is not a ConfigErrors", err)
	}
	want := []string{
		`f.toml:2: server.workers: expected a number, got "four" (fix: `,
		`f.toml:3: server.http[1]: "127.0.0.1:08080" is already listened on by server.http[0] (fix: `,
		`f.toml:4: server.https[1]: ":8443" is already listened on by server.https[0] (fix: `,
		`f.toml:5: server.bogus: unknown key (fix: `,
		`f.toml:8: timeouts.keepalive: expected a duration in quotes, got 75 (fix: write it in quotes with a unit, e.g. keepalive = "75s")`,
		`f.toml:10: upstream[0]: upstream "backend" has no servers (fix: `,
		`f.toml:19: site[0].route[1].path: path "/" is already routed by site[0].route[0] (fix: `,
		`f.toml:20: site[0].route[1].static: expected a string in quotes, got 5 (fix: `,
		`f.toml:23: site[0].route[2].precompressed: expected true or false, got "yes" (fix: `,
		`f.toml:26: site[1].hosts: site[0] already catches every host`,
	}
	if len(errs) != len(want) {
		t.Errorf("%d problems, want %d:\n%v", len(errs), len(want), err)
	}
	for i, w := range want {
		if i >= len(errs) || !strings.HasPrefix(errs[i].Error(), w) {
			t.Errorf("problem %d does not start with %q:\n%v", i, w, err)
		}
	}
}

// TestTypeErrorsInUserWords covers each kind of value, and a list or a
// table where the other was expected.
func TestTypeErrorsInUserWords(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"[server]\nworkers = 2.5\n", `server.workers: expected a number, got 2.5`},
		{"[server]\naccess_log = 1\n", `server.access_log: expected a string in quotes, got 1`},
		{"[server]\nhttp = \":80\"\n", `server.http: expected a list, got ":80"`},
		{"[server]\nhttp = [80]\n", `server.http[0]: expected a string in quotes, got 80`},
		{"[limits]\nrequests_per_second_per_ip = \"10\"\n", `limits.requests_per_second_per_ip: expected a number, got "10"`},
		{"[proxy]\ncompress = \"on\"\n", `proxy.compress: expected true or false, got "on"`},
		{"server = 1\n", `server: expected a table, got 1`},
		{"site = [\"a\"]\n", `site: expected tables, got "a"`},
		{"[timeouts]\nkeepalive = \"75 seconds\"\n", `timeouts.keepalive: "75 seconds" is not a duration`},
		{"[tls]\nnames = \"a.example\"\n", `tls.names: expected a list, got "a.example"`},
	} {
		_, err := ParseConfig("f.toml", []byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), "f.toml:") || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "(fix: ") {
			t.Errorf("%q: %v; want %q with its line and a fix", tc.text, err, tc.want)
		}
	}
}

// TestNewConfigChecks: an [[upstream]] with no servers, a path routed
// twice in a site, two catch-all sites ("*" or no hosts), and an address
// listened on twice are refused with their lines.
func TestNewConfigChecks(t *testing.T) {
	dir := t.TempDir()
	route := "  [[site.route]]\n  path = \"/\"\n  static = \"" + dir + "\"\n"
	for _, tc := range []struct{ name, text, want string }{
		{"upstream without servers", "[[upstream]]\nname = \"a\"\nbalance = \"least_conn\"\n[[site]]\n" + route,
			`f.toml:1: upstream[0]: upstream "a" has no servers`},
		{"upstream with long-form servers", "[[upstream]]\nname = \"a\"\n  [[upstream.server]]\n  addr = \"127.0.0.1:1\"\n[[site]]\n" + route, ""},
		{"same path twice", "[[site]]\n" + route + route, `f.toml:6: site[0].route[1].path: path "/" is already routed by site[0].route[0]`},
		{"two sites without hosts", "[[site]]\n" + route + "[[site]]\n" + route, `f.toml:5: site[1].hosts: site[0] already catches every host`},
		{"a catch-all and a star", "[[site]]\n" + route + "[[site]]\nhosts = [\"*\"]\n" + route, `f.toml:6: site[1].hosts: site[0] already catches every host`},
		{"http twice", "[server]\nhttp = [\"127.0.0.1:80\", \"127.0.0.1:80\"]\n", `f.toml:2: server.http[1]: "127.0.0.1:80" is already listened on by server.http[0]`},
		{"http and https on one address", "[server]\nhttp = [\":8080\"]\nhttps = [\"*:8080\"]\n", `f.toml:3: server.https[0]: "*:8080" is already listened on by server.http[0]`},
		{"a port name", "[server]\nhttp = [\":http\"]\n", `f.toml:2: server.http[0]: ":http": bad port "http"`},
		{"different addresses", "[server]\nhttp = [\"127.0.0.1:80\", \"[::1]:80\", \":81\"]\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("f.toml", []byte(tc.text))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "(fix: ") {
				t.Fatalf("got %v, want %q with a fix", err, tc.want)
			}
		})
	}
}
