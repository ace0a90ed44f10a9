package proxy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestValidateNamesTheFieldAtFault: each rule of a Config, broken once,
// is reported on the field that breaks it, with a fix; New refuses the
// Config. (The appliance maps the fields to keys and lines of the file.)
func TestValidateNamesTheFieldAtFault(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	site := func(hosts ...string) Site {
		return Site{Hosts: hosts, Routes: []Route{{Prefix: "/", Static: &Static{Root: dir}}}}
	}
	long := "unix:/" + strings.Repeat("s", 120)
	for _, tc := range []struct {
		name  string
		edit  func(*Config)
		field string
		says  string
	}{
		{"negative workers", func(c *Config) { c.Workers = -1 }, "Workers", "negative"},
		{"small header limit", func(c *Config) { c.Limits.MaxHeaderBytes = 100 }, "Limits.MaxHeaderBytes", "at least 1024"},
		{"negative body limit", func(c *Config) { c.Limits.MaxBodyBytes = -1 }, "Limits.MaxBodyBytes", "negative"},
		{"gzip level", func(c *Config) { c.Proxy.Compress.GzipLevel = 10 }, "Proxy.Compress.GzipLevel", "gzip level"},
		{"trusted proxy", func(c *Config) { c.Proxy.TrustedProxies = []string{"private", "10.0.0.0/33"} }, "Proxy.TrustedProxies[1]", "not a prefix"},
		{"relative temp dir", func(c *Config) { c.Proxy.TempDir = "tmp" }, "Proxy.TempDir", "absolute"},
		{"unnamed upstream", func(c *Config) { c.Upstreams = []Upstream{{}} }, "Upstreams[0].Name", "no name"},
		{"upstream twice", func(c *Config) { c.Upstreams = []Upstream{{Name: "a"}, {Name: "a"}} }, "Upstreams[1].Name", "twice"},
		{"balance", func(c *Config) { c.Upstreams = []Upstream{{Name: "a", Balance: "roundrobin"}} }, "Upstreams[0].Balance", "not a balancing method"},
		{"relative socket", func(c *Config) {
			c.Upstreams = []Upstream{{Name: "a", Servers: []UpstreamServer{{Addr: "unix:app.sock"}}}}
		}, "Upstreams[0].Servers[0].Addr", "absolute"},
		{"long socket path", func(c *Config) { c.Upstreams = []Upstream{{Name: "a", Servers: []UpstreamServer{{Addr: long}}}} }, "Upstreams[0].Servers[0].Addr", "longer than 107"},
		{"bad port", func(c *Config) {
			c.Upstreams = []Upstream{{Name: "a", Servers: []UpstreamServer{{Addr: "127.0.0.1:http"}}}}
		}, "Upstreams[0].Servers[0].Addr", "bad port"},
		{"no address", func(c *Config) { c.Upstreams = []Upstream{{Name: "a", Servers: []UpstreamServer{{Addr: "nowhere"}}}} }, "Upstreams[0].Servers[0].Addr", "neither"},
		{"negative weight", func(c *Config) {
			c.Upstreams = []Upstream{{Name: "a", Servers: []UpstreamServer{{Addr: "127.0.0.1:1", Weight: -1}}}}
		}, "Upstreams[0].Servers[0].Weight", "negative"},
		{"two catch-alls", func(c *Config) { c.Sites = []Site{site(), site("*")} }, "Sites[1].Hosts", "already catches every host"},
		{"host twice", func(c *Config) { c.Sites = []Site{site("a.example"), site("A.example.")} }, "Sites[1].Hosts[0]", "already served"},
		{"not a host", func(c *Config) { c.Sites = []Site{site("a.example:80")} }, "Sites[0].Hosts[0]", "not a host name"},
		{"redirect", func(c *Config) { s := site(); s.RedirectWWW = "both"; c.Sites = []Site{s} }, "Sites[0].RedirectWWW", "not a redirect"},
		{"no routes", func(c *Config) { c.Sites = []Site{{}} }, "Sites[0].Routes", "no routes"},
		{"prefix twice", func(c *Config) { s := site(); s.Routes = append(s.Routes, s.Routes[0]); c.Sites = []Site{s} }, "Sites[0].Routes[1].Prefix", "already routed"},
		{"prefix", func(c *Config) { s := site(); s.Routes[0].Prefix = "static/"; c.Sites = []Site{s} }, "Sites[0].Routes[0].Prefix", "must start with /"},
		{"both", func(c *Config) { s := site(); s.Routes[0].Upstream = "a"; c.Sites = []Site{s} }, "Sites[0].Routes[0]", "both"},
		{"neither", func(c *Config) { c.Sites = []Site{{Routes: []Route{{Prefix: "/"}}}} }, "Sites[0].Routes[0]", "nothing to serve"},
		{"unknown group", func(c *Config) { c.Sites = []Site{{Routes: []Route{{Prefix: "/", Upstream: "app"}}}} }, "Sites[0].Routes[0].Upstream", `no upstream is named "app"`},
		{"relative root", func(c *Config) { s := site(); s.Routes[0].Static.Root = "www"; c.Sites = []Site{s} }, "Sites[0].Routes[0].Static.Root", "absolute"},
		{"missing root", func(c *Config) { s := site(); s.Routes[0].Static.Root = dir + "/nope"; c.Sites = []Site{s} }, "Sites[0].Routes[0].Static.Root", "no such file"},
		{"file root", func(c *Config) { s := site(); s.Routes[0].Static.Root = file; c.Sites = []Site{s} }, "Sites[0].Routes[0].Static.Root", "not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Sites: []Site{site()}}
			tc.edit(&cfg)
			errs := cfg.Validate()
			if len(errs) != 1 || errs[0].Field != tc.field || !strings.Contains(errs[0].Msg, tc.says) || errs[0].Fix == "" {
				t.Fatalf("Validate: %v; want one error on %s saying %q, with a fix", errs, tc.field, tc.says)
			}
			if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("New: %v; want the error on %s", err, tc.field)
			}
		})
	}
	good := Config{Sites: []Site{site("a.example", "*.example"), site()}, Upstreams: []Upstream{{Name: "app", Balance: "Least_Conn",
		Servers: []UpstreamServer{{Addr: "unix:/run/app.sock"}, {Addr: "[::1]:8000", Weight: 2}}}},
		Proxy: ProxyConfig{TrustedProxies: []string{"cloudflare", "10.0.0.0/8", "::1"}, TempDir: dir}}
	if errs := good.Validate(); errs != nil {
		t.Fatalf("a good configuration: %v", errs)
	}
}

// TestWithDefaultsLeavesTheConfigAlone: the defaults of an upstream's
// health check are the engine's, and filling them in does not write into
// the caller's Config.
func TestWithDefaultsLeavesTheConfigAlone(t *testing.T) {
	hc := &HealthCheck{Path: "/health"}
	cfg := Config{Upstreams: []Upstream{{Name: "app", HealthCheck: hc}}}
	d := cfg.WithDefaults()
	got := d.Upstreams[0]
	if *got.HealthCheck != (HealthCheck{Path: "/health", Host: "localhost", Interval: 5 * time.Second, Timeout: 2 * time.Second}) ||
		got.MaxFails != 1 || got.FailTimeout != 10*time.Second {
		t.Fatalf("defaults: %+v %+v", got, *got.HealthCheck)
	}
	if *hc != (HealthCheck{Path: "/health"}) || cfg.Upstreams[0].MaxFails != 0 {
		t.Fatalf("WithDefaults wrote into its argument: %+v %+v", *hc, cfg.Upstreams[0])
	}
}
