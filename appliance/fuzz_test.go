package appliance

import (
	"errors"
	"os"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// configFuzzSeeds are configurations of every shape the loader knows: the
// packaged default, each table, and a few broken ones.
var configFuzzSeeds = []string{
	"[server]\n",
	`[server]
http = ["127.0.0.1:8080", "[::1]:8080"]
https = [":8443"]
workers = 2
state = "/var/lib/frontdoor/state.db"
access_log = "off"

[limits]
max_header_bytes = 16384
max_body_bytes = 1048576

[timeouts]
request_head = "5s"
keepalive = "1m"

[proxy]
trusted_proxies = ["10.0.0.0/8", "cloudflare"]

[tls]
names = ["example.com"]

[[upstream]]
name = "api"
servers = ["unix:/run/api.sock", "127.0.0.1:9000"]
balance = "least_conn"
  [[upstream.server]]
  addr = "127.0.0.1:9001"
  weight = 2

[[site]]
hosts = ["example.com", "*.example.com"]
redirect_www = "to_apex"
  [[site.route]]
  path = "/static/"
  static = "/tmp"
  [[site.route]]
  path = "/"
  upstream = "api"
`,
	`[app]
dir = "/tmp"
server = "uvicorn"
module = "mysite.asgi:application"
workers = 3
env = ["DJANGO_SETTINGS_MODULE=mysite.settings"]
memory_limit = "512MiB"
static_url = "/static/"
static_root = "/tmp"

[[app.process]]
name = "celery"
command = ["python", "-m", "celery"]
`,
	"site = [{hosts = [\"a\"], route = [{path = \"/\", static = \"/tmp\"}]}]\n",
	"[server]\nworkerz = 2\n",
	"[server\nworkers = 1\n",
	"[timeouts]\nkeepalive = \"75 seconds\"\n",
	"[[site]]\n[[site]]\n",
	"[[upstream]]\nname = \"app\"\n[[upstream]]\nname = \"app\"\n",
}

// FuzzParseConfig checks that ParseConfig never panics, and that every
// refusal is a ConfigErrors whose entries name the file and, whenever the
// text is well-formed TOML, the line to look at.
func FuzzParseConfig(f *testing.F) {
	for _, s := range configFuzzSeeds {
		f.Add([]byte(s))
	}
	if data, err := os.ReadFile("../packaging/etc/frontdoor.toml"); err == nil {
		f.Add(data)
	}
	const path = "/etc/frontdoor/frontdoor.toml"
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseConfig(path, data)
		if err == nil {
			if c == nil {
				t.Fatal("no configuration and no error")
			}
			return
		}
		var errs ConfigErrors
		if !errors.As(err, &errs) || len(errs) == 0 {
			t.Fatalf("error %T %q is not a ConfigErrors", err, err)
		}
		wellFormed := toml.Unmarshal(data, &map[string]any{}) == nil
		for _, e := range errs {
			if e.File != path {
				t.Errorf("error without the file: %q", e.Error())
			}
			if wellFormed && e.Line <= 0 {
				t.Errorf("well-formed TOML, error without a line: %q\ninput %q", e.Error(), data)
			}
		}
	})
}
