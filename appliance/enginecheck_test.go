package appliance

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"frontdoor/proxy"
)

// engineDefaults is the part of a proxy.Config that the file's tables
// [server], [limits], [timeouts], [file_cache] and [proxy] set.
type engineDefaults struct {
	Workers, MaxConnsPerWorker int
	BusyPoll                   time.Duration
	Limits                     proxy.Limits
	Timeouts                   proxy.Timeouts
	FileCache                  proxy.FileCacheConfig
	Proxy                      proxy.ProxyConfig
	RedactQuery                []string
}

func engineDefaultsOf(c proxy.Config) engineDefaults {
	return engineDefaults{c.Workers, c.MaxConnsPerWorker, c.BusyPoll, c.Limits, c.Timeouts, c.FileCache, c.Proxy, c.RedactQuery}
}

// TestEngineDefaultsAreTheEngines: a file that sets no engine key gives
// the engine exactly its own defaults — the appliance adds none of its
// own (file_cache.entries once defaulted to 1024 here and to 4096 in the
// engine).
func TestEngineDefaultsAreTheEngines(t *testing.T) {
	dir := t.TempDir()
	c, err := ParseConfig("f.toml", []byte("[[site]]\n[[site.route]]\npath = \"/\"\nstatic = \""+dir+"\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := engineDefaultsOf(c.engineConfig(nil, nil).WithDefaults())
	want := engineDefaultsOf(proxy.Config{}.WithDefaults())
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("a file without engine keys gives\n%+v\nthe engine's defaults are\n%+v", got, want)
	}
}

// TestDocsStateTheEngineDefaults: docs/config.md states, for every engine
// key it lists, the default the engine applies.
func TestDocsStateTheEngineDefaults(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	d := proxy.Config{Upstreams: []proxy.Upstream{{Name: "x", HealthCheck: &proxy.HealthCheck{}}}}.WithDefaults()
	u := d.Upstreams[0]
	want := map[string]any{
		"server.max_connections_per_worker": d.MaxConnsPerWorker,
		"server.busy_poll":                  d.BusyPoll,
		"limits.max_header_bytes":           d.Limits.MaxHeaderBytes,
		"limits.max_target_bytes":           d.Limits.MaxTargetBytes,
		"limits.max_headers":                d.Limits.MaxHeaders,
		"limits.max_body_bytes":             d.Limits.MaxBodyBytes,
		"limits.max_concurrent_streams":     d.Limits.MaxStreams,
		"limits.max_connections_per_ip":     d.Limits.Clients.MaxConnsPerIP,
		"limits.requests_per_second_per_ip": d.Limits.Clients.RequestsPerSecond,
		"timeouts.request_head":             d.Timeouts.RequestHead,
		"timeouts.body_idle":                d.Timeouts.BodyIdle,
		"timeouts.body_min_rate":            d.Timeouts.BodyMinRate,
		"timeouts.send_idle":                d.Timeouts.SendIdle,
		"timeouts.keepalive":                d.Timeouts.KeepAlive,
		"timeouts.linger":                   d.Timeouts.Linger,
		"timeouts.shutdown_grace":           d.Timeouts.ShutdownGrace,
		"tls.handshake_timeout":             d.Timeouts.TLSHandshake,
		"proxy.connect_timeout":             d.Proxy.ConnectTimeout,
		"proxy.response_timeout":            d.Proxy.ResponseTimeout,
		"proxy.pool_idle":                   d.Proxy.PoolIdle,
		"proxy.pool_size":                   d.Proxy.PoolSize,
		"proxy.buffer_memory":               d.Proxy.BufferMemory,
		"proxy.max_temp_file":               d.Proxy.MaxTempFile,
		"proxy.tunnel_idle":                 d.Proxy.TunnelIdle,
		"proxy.compress":                    !d.Proxy.Compress.Off,
		"proxy.compress_min_size":           d.Proxy.Compress.MinSize,
		"file_cache.entries":                d.FileCache.Entries,
		"file_cache.valid":                  d.FileCache.Valid,
		"file_cache.inline_max":             d.FileCache.InlineMax,
		"upstream.balance":                  "round_robin",
		"upstream.max_fails":                u.MaxFails,
		"upstream.fail_timeout":             u.FailTimeout,
	}
	documented := docDefaults(string(doc))
	for key, v := range want {
		text, ok := documented[key]
		if !ok {
			t.Errorf("docs/config.md has no default for %s", key)
			continue
		}
		if !sameDefault(text, v) {
			t.Errorf("docs/config.md: %s defaults to %s; the engine's default is %v", key, text, v)
		}
	}
	hc := documented["upstream.[upstream.health_check] path, host, interval, timeout"]
	wantHC := "none; /, " + u.HealthCheck.Host + ", " + strconv.Itoa(int(u.HealthCheck.Interval/time.Second)) + "s, " + strconv.Itoa(int(u.HealthCheck.Timeout/time.Second)) + "s"
	if u.HealthCheck.Path != "/" || hc != wantHC {
		t.Errorf("docs/config.md: health check defaults %q; the engine's are %+v", hc, *u.HealthCheck)
	}
}

// docDefaults reads the default column of docs/config.md's tables, by
// "table.key" (the table's name without brackets), backquotes removed.
func docDefaults(doc string) map[string]string {
	out := map[string]string{}
	table := ""
	header := regexp.MustCompile("^##+ \\[+([a-z_.]+)\\]+")
	row := regexp.MustCompile("^\\| (.+?) \\| (.*?) \\| ")
	for _, line := range strings.Split(doc, "\n") {
		if m := header.FindStringSubmatch(line); m != nil {
			table = m[1]
			continue
		}
		if m := row.FindStringSubmatch(line); m != nil && table != "" {
			key := strings.ReplaceAll(m[1], "`", "")
			out[table+"."+key] = strings.ReplaceAll(m[2], "`", "")
		}
	}
	return out
}

// sameDefault reports whether a documented default ("16384", `"10s"`,
// "104857600 (100 MiB)", "0 (off)", "false") is v.
func sameDefault(text string, v any) bool {
	first, _, _ := strings.Cut(text, " ")
	first = strings.Trim(first, `"`)
	switch v := v.(type) {
	case time.Duration:
		d, err := time.ParseDuration(first)
		return err == nil && d == v
	case int:
		n, err := strconv.Atoi(first)
		return err == nil && n == v
	case int32:
		n, err := strconv.Atoi(first)
		return err == nil && int32(n) == v
	case int64:
		n, err := strconv.ParseInt(first, 10, 64)
		return err == nil && n == v
	case float64:
		f, err := strconv.ParseFloat(first, 64)
		return err == nil && f == v
	case bool:
		b, err := strconv.ParseBool(first)
		return err == nil && b == v
	case string:
		return first == v
	}
	return false
}

// TestEngineRulesAreNamedByKeyAndLine: the engine's rules (its own
// Validate) apply when the file is loaded, each problem named by its key
// and line — also those the appliance's own checks used to miss, which
// then failed at start without a line.
func TestEngineRulesAreNamedByKeyAndLine(t *testing.T) {
	dir := t.TempDir()
	site := func(hosts string) string {
		return "[[site]]\nhosts = [" + hosts + "]\n[[site.route]]\npath = \"/\"\nstatic = \"" + dir + "\"\n"
	}
	long := "/run/" + strings.Repeat("s", 110) + ".sock"
	for _, tc := range []struct {
		name, text string
		line       int
		key, says  string
	}{
		{"host twice, one with a final dot", site(`"a.example"`) + site(`"a.example."`), 7, "site[1].hosts[0]", "already served"},
		{"two sites catch every host", site(``) + site(`"*"`), 7, "site[1].hosts", "already catches every host"},
		{"socket path too long", "[[upstream]]\nname = \"a\"\nservers = [\"unix:" + long + "\"]\n", 3, "upstream[0].servers[0]", "longer than 107"},
		{"upstream port", "[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:http\"]\n", 3, "upstream[0].servers[0]", "bad port"},
		{"weight of the long form", "[[upstream]]\nname = \"a\"\nservers = [\"127.0.0.1:1\"]\n[[upstream.server]]\naddr = \"127.0.0.1:2\"\nweight = -2\n", 6, "upstream[0].server[0].weight", "negative"},
		{"address of the long form", "[[upstream]]\nname = \"a\"\n[[upstream.server]]\naddr = \"unix:app.sock\"\n", 4, "upstream[0].server[0].addr", "absolute"},
		{"balance", "[[upstream]]\nname = \"a\"\nbalance = \"roundrobin\"\nservers = [\"127.0.0.1:1\"]\n", 3, "upstream[0].balance", "not a balancing method"},
		{"route with both", site(`"a"`) + "upstream = \"api\"\n", 3, "site[0].route[0]", "both"},
		{"route to no group", "[[site]]\n[[site.route]]\npath = \"/\"\nupstream = \"api\"\n", 4, "site[0].route[0].upstream", "no [[upstream]] is named \"api\""},
		{"route with nothing", "[[site]]\n[[site.route]]\npath = \"/\"\n", 2, "site[0].route[0]", "nothing to serve"},
		{"header limit", "[limits]\nmax_header_bytes = 512\n", 2, "limits.max_header_bytes", "at least 1024"},
		{"relative temp_dir", "[proxy]\ntemp_dir = \"tmp\"\n", 2, "proxy.temp_dir", "absolute"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig("f.toml", []byte(tc.text))
			var errs ConfigErrors
			if !errors.As(err, &errs) || len(errs) != 1 {
				t.Fatalf("%v; want one located error", err)
			}
			e := errs[0]
			if e.Line != tc.line || e.Key != tc.key || !strings.Contains(e.Msg, tc.says) || e.Fix == "" {
				t.Fatalf("%v; want line %d key %s saying %q, with a fix", e, tc.line, tc.key, tc.says)
			}
		})
	}
	// What [app] adds is checked under [app]'s keys, once.
	project := fakeProject(t)
	text := "[app]\ndir = \"" + project + "\"\nstatic_url = \"/static/\"\nstatic_root = \"" + filepath.Join(dir, "missing") + "\"\n"
	_, err := ParseConfig("f.toml", []byte(text))
	var errs ConfigErrors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Key != "app.static_root" {
		t.Fatalf("[app] with a missing static_root: %v; want one error on app.static_root", err)
	}
}
