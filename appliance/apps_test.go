package appliance

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
)

// twoApps is a file with two [[app]] tables, each behind its own site.
func twoApps(shop, blog string) string {
	return fmt.Sprintf(`[[app]]
name = "shop"
dir = %q
static_url = "/static/"
static_root = %q

[[app]]
name = "blog"
dir = %q

[[site]]
hosts = ["shop.example"]
  [[site.route]]
  path = "/"
  app = "shop"
  [[site.route]]
  path = "/static/"
  static = %q

[[site]]
hosts = ["blog.example"]
  [[site.route]]
  path = "/"
  app = "blog"
`, shop, filepath.Join(shop, "staticfiles"), blog, filepath.Join(shop, "staticfiles"))
}

// TestSeveralApps: [[app]] tables, each with its name, its own upstream
// group in the engine (never shared), and routes that say app = NAME.
func TestSeveralApps(t *testing.T) {
	shop, blog := fakeProject(t), fakeProject(t)
	c, err := ParseConfig("f.toml", []byte(twoApps(shop, blog)))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.appNames(); len(got) != 2 || got[0] != "shop" || got[1] != "blog" {
		t.Fatalf("apps = %q", got)
	}
	pc := c.engineConfig(slog.New(slog.DiscardHandler), nil)
	groups := map[string]bool{}
	for _, u := range pc.Upstreams {
		groups[u.Name] = true
	}
	if len(pc.Upstreams) != 2 || !groups["app:shop"] || !groups["app:blog"] {
		t.Errorf("upstream groups = %+v", pc.Upstreams)
	}
	if len(pc.Sites) != 2 || pc.Sites[0].Routes[0].Upstream != "app:shop" || pc.Sites[1].Routes[0].Upstream != "app:blog" {
		t.Errorf("sites = %+v", pc.Sites)
	}
	if !strings.Contains(c.Summary(), "2 apps (shop, blog)") {
		t.Errorf("summary = %q", c.Summary())
	}

	// The form from before [[app]]: one [app], upstream = "app".
	single, err := ParseConfig("f.toml", []byte(fmt.Sprintf("[app]\ndir = %q\n[[site]]\n[[site.route]]\npath = \"/\"\nupstream = \"app\"\n", shop)))
	if err != nil {
		t.Fatal(err)
	}
	if single.Apps[0].Name != "app" || single.engineConfig(slog.New(slog.DiscardHandler), nil).Sites[0].Routes[0].Upstream != "app:app" {
		t.Errorf("[app] with upstream = \"app\": %+v", single.Apps)
	}
	// One [[app]] with a name of its own: upstream = "app" is still it.
	named, err := ParseConfig("f.toml", []byte(fmt.Sprintf("[[app]]\nname = \"shop\"\ndir = %q\n[[site]]\n[[site.route]]\npath = \"/\"\nupstream = \"app\"\n", shop)))
	if err != nil {
		t.Fatal(err)
	}
	if r := named.engineConfig(slog.New(slog.DiscardHandler), nil).Sites[0].Routes[0]; r.Upstream != "app:shop" {
		t.Errorf("upstream = \"app\" with one app named shop goes to %q", r.Upstream)
	}
}

// TestSeveralAppsErrors: every mistake about apps is reported at once,
// each with its file, line, key and fix.
func TestSeveralAppsErrors(t *testing.T) {
	shop, blog := fakeProject(t), fakeProject(t)
	text := fmt.Sprintf(`[[app]]
name = "shop"
dir = %q
static_url = "/static/"
static_root = %q

[[app]]
dir = %q

[[app]]
name = "shop"
dir = %q
workers = -1

[[app]]
name = "Bad Name"
dir = %q

[[site]]
hosts = ["shop.example"]
  [[site.route]]
  path = "/"
  app = "shop"

[[site]]
hosts = ["blog.example"]
  [[site.route]]
  path = "/"
  upstream = "app"
  [[site.route]]
  path = "/api/"
  app = "nosuch"
  [[site.route]]
  path = "/x/"
  app = "shop"
  static = %q

[[upstream]]
name = "app:mine"
servers = ["127.0.0.1:9"]
`, shop, filepath.Join(shop, "staticfiles"), blog, blog, blog, blog)
	_, err := ParseConfig("/etc/frontdoor/frontdoor.toml", []byte(text))
	var errs ConfigErrors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{
		"frontdoor.toml:7: app[1].name: with several [[app]] tables, each needs a name (fix: add name = \"site2\"",
		`frontdoor.toml:11: app[2].name: the name "shop" is already app[0]'s`,
		"frontdoor.toml:13: app[2].workers: must not be negative",
		`frontdoor.toml:16: app[3].name: "Bad Name" is not an app name`,
		`frontdoor.toml:19: site[0]: the site sends everything to the app "shop", but has no static route for its static files (app[0].static_url "/static/")`,
		`frontdoor.toml:29: site[1].route[0].upstream: upstream = "app" is ambiguous with several apps (shop, Bad Name) (fix: write app = "shop"`,
		`frontdoor.toml:32: site[1].route[1].app: no [[app]] is named "nosuch" (fix: use one of the apps' names: shop, Bad Name)`,
		"frontdoor.toml:35: site[1].route[2].app: a route has one of static, upstream and app",
		`frontdoor.toml:39: upstream[0].name: upstream names starting with "app:" are the apps'`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the errors lack\n  %s\ngot:\n%v", want, err)
		}
	}

	// An app no route reaches, among several.
	unrouted := strings.Replace(twoApps(shop, blog), `app = "blog"`, `static = "`+blog+`"`, 1)
	if _, err := ParseConfig("f.toml", []byte(unrouted)); err == nil ||
		!strings.Contains(err.Error(), `f.toml:7: app[1]: no route sends requests to the app "blog" (fix: add a [[site]] with its hosts and a route app = "blog"`) {
		t.Errorf("an unrouted app: %v", err)
	}
	// Two apps and no site at all.
	if _, err := ParseConfig("f.toml", []byte(fmt.Sprintf("[[app]]\nname = \"a\"\ndir = %q\n[[app]]\nname = \"b\"\ndir = %q\n", shop, blog))); err == nil ||
		!strings.Contains(err.Error(), "f.toml:4: app[1]: several apps and no [[site]]") {
		t.Errorf("two apps without sites: %v", err)
	}
	// A host served twice: the exact conflict.
	twice := strings.Replace(twoApps(shop, blog), `hosts = ["blog.example"]`, `hosts = ["blog.example", "SHOP.example"]`, 1)
	if _, err := ParseConfig("f.toml", []byte(twice)); err == nil ||
		!strings.Contains(err.Error(), `f.toml:21: site[1].hosts[1]: host "SHOP.example" is already served by site[0]`) {
		t.Errorf("a host in two sites: %v", err)
	}
	// A single [app] table keeps its keys' names: app.workers, not app[0].workers.
	if _, err := ParseConfig("f.toml", []byte(fmt.Sprintf("[app]\ndir = %q\nworkers = \"four\"\nthreads = -1\n", shop))); err == nil ||
		!strings.Contains(err.Error(), "f.toml:3: app.workers: expected a number") || !strings.Contains(err.Error(), "f.toml:4: app.threads: must not be negative") {
		t.Errorf("[app] keys: %v", err)
	}
}

// TestWorkerShares: apps without workers of their own share what the
// machine runs well; a single app keeps the whole budget.
func TestWorkerShares(t *testing.T) {
	for _, tc := range []struct {
		workers []int
		budget  int
		want    []int
	}{
		{[]int{0}, 5, []int{5}},
		{[]int{0, 0}, 5, []int{2, 2}},
		{[]int{0, 0, 0}, 5, []int{1, 1, 1}},
		{[]int{3, 0}, 5, []int{3, 2}},
		{[]int{8, 0}, 5, []int{8, 1}},
		{[]int{0, 0}, 17, []int{8, 8}},
	} {
		var apps []AppConfig
		for i, w := range tc.workers {
			apps = append(apps, AppConfig{Name: fmt.Sprint("a", i), Workers: w})
		}
		got := shareWorkers(apps, tc.budget)
		for i, w := range tc.want {
			if got[apps[i].Name] != w {
				t.Errorf("workers %v, budget %d: %v, want %v", tc.workers, tc.budget, got, tc.want)
				break
			}
		}
	}
}
