package appliance

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"

	"frontdoor/proxy"
	"frontdoor/supervisor"
)

// Several Django projects on one frontdoor: the file has one [app] table
// (an app named "app", the form from before there could be several) or
// several [[app]] tables, each with its name. A route proxies to one with
// app = "NAME"; upstream = "app" still means the only app (or the one
// named "app"). Each app has an upstream group of its own in the engine,
// which its supervisor alone points at its serving generation, so one
// app's crash, failed release or deploy never touches another's routes.

// defaultAppName is the name of an app that gives none: the single [app]
// of a file from before [[app]].
const defaultAppName = "app"

// appGroupPrefix starts the engine's name of an app's upstream group
// ("app:shop"); no [[upstream]] may use it.
const appGroupPrefix = "app:"

// appGroup is the engine's upstream group of the app named name.
func appGroup(name string) string { return appGroupPrefix + name }

// appKey names app table i in messages: "app" for a file's single [app]
// table, "app[1]" for the second [[app]].
func (c *Config) appKey(i int) string {
	if c.singleApp {
		return "app"
	}
	return fmt.Sprintf("app[%d]", i)
}

// appNamed returns the app called name, or nil.
func (c *Config) appNamed(name string) *AppConfig {
	for i := range c.Apps {
		if c.Apps[i].Name == name {
			return &c.Apps[i]
		}
	}
	return nil
}

// chooseApp returns the app called name, or with name "" the only one.
func (c *Config) chooseApp(name string) (*AppConfig, error) {
	switch {
	case len(c.Apps) == 0:
		return nil, errors.New("no [app]: nothing to manage (run `frontdoor init DJANGO_DIR`)")
	case name == "" && len(c.Apps) == 1:
		return &c.Apps[0], nil
	case name == "":
		return nil, fmt.Errorf("%w: %s", errWhichApp, strings.Join(c.appNames(), ", "))
	}
	if a := c.appNamed(name); a != nil {
		return a, nil
	}
	return nil, fmt.Errorf("%w %q (the apps: %s)", errUnknownApp, name, strings.Join(c.appNames(), ", "))
}

// AppNames lists the apps of the configuration file at path, leniently
// (a file the daemon would refuse still names its apps); nil when it
// cannot be read.
func AppNames(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var c Config
	if toml.Unmarshal(data, &c) != nil {
		return nil
	}
	c.applyAppDefaults()
	return c.appNames()
}

// appUsers lists the apps that run as another user than frontdoor's own
// ("shop:shop-app"), for which it needs to switch users.
func (c *Config) appUsers() []string {
	var out []string
	for i := range c.Apps {
		u := c.Apps[i].User
		if u == "" {
			continue
		}
		if a, err := supervisor.LookupAccount(u); err == nil && a.UID == uint32(os.Geteuid()) {
			continue
		}
		out = append(out, c.Apps[i].Name+":"+u)
	}
	return out
}

// appNames lists the apps' names in file order, each once (a file with
// errors may leave one out or repeat it).
func (c *Config) appNames() []string {
	names := make([]string, 0, len(c.Apps))
	for i := range c.Apps {
		if n := c.Apps[i].Name; n != "" && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// routeApp is the app a route proxies to ("" for none): app = "NAME", or
// upstream = "app" when the file has apps (the app named "app", else the
// only one). ok is false for a route that names an app that does not
// exist or says upstream = "app" among several apps none of which is
// named so.
func (c *Config) routeApp(r RouteConfig) (name string, ok bool) {
	switch {
	case r.App != "":
		return r.App, c.appNamed(r.App) != nil
	case r.Upstream == appUpstream && len(c.Apps) > 0:
		if c.appNamed(appUpstream) != nil {
			return appUpstream, true
		}
		if len(c.Apps) == 1 {
			return c.Apps[0].Name, true
		}
		return "", false
	}
	return "", true
}

// applyAppDefaults names the app of a file's single [app] table.
func (c *Config) applyAppDefaults() {
	if len(c.Apps) == 1 && c.Apps[0].Name == "" {
		c.Apps[0].Name = defaultAppName
	}
}

// validateApps checks every app table, their names, the routes that
// proxy to them and the [[upstream]] names they reserve.
func (c *Config) validateApps() ConfigErrors {
	var errs ConfigErrors
	add := func(key, msg, fix string) { errs = append(errs, c.problem(key, msg, fix)) }
	for i, u := range c.Upstreams {
		switch {
		case strings.HasPrefix(u.Name, appGroupPrefix):
			add(fmt.Sprintf("upstream[%d].name", i), fmt.Sprintf("upstream names starting with %q are the apps'", appGroupPrefix), "rename this [[upstream]]")
		case u.Name == appUpstream && len(c.Apps) > 0:
			add(fmt.Sprintf("upstream[%d].name", i), `the upstream name "app" means the [app]`, "rename this [[upstream]], or remove the app to proxy to it yourself")
		}
	}
	seen := map[string]int{}
	for i := range c.Apps {
		a := &c.Apps[i]
		k := c.appKey(i)
		switch {
		case a.Name == "":
			add(k+".name", "with several [[app]] tables, each needs a name", fmt.Sprintf(`add name = "site%d" (lowercase letters, digits, '-' and '_'); routes then say app = "site%d"`, i+1, i+1))
		case !processNamePattern.MatchString(a.Name):
			add(k+".name", fmt.Sprintf("%q is not an app name", a.Name), "use lowercase letters, digits, '-' and '_' (at most 32), starting with a letter or digit")
		default:
			if prev, dup := seen[a.Name]; dup {
				add(k+".name", fmt.Sprintf("the name %q is already %s's", a.Name, c.appKey(prev)), "give each app its own name")
			} else {
				seen[a.Name] = i
			}
		}
		errs = append(errs, c.validateOneApp(i)...)
	}
	if len(c.Apps) > 1 && len(c.Sites) == 0 {
		add(c.appKey(1), "several apps and no [[site]]: nothing says which host goes to which app",
			fmt.Sprintf("add a [[site]] with its hosts for each app, with a route app = %q (frontdoor init DJANGO_DIR writes one)", c.Apps[1].Name))
	}
	routed := map[string]bool{}
	for i, s := range c.Sites {
		for j, r := range s.Routes {
			rk := fmt.Sprintf("site[%d].route[%d]", i, j)
			if r.App == "" {
				if name, ok := c.routeApp(r); !ok {
					add(rk+".upstream", fmt.Sprintf(`upstream = "app" is ambiguous with several apps (%s)`, strings.Join(c.appNames(), ", ")),
						fmt.Sprintf("write app = %q (or another app's name) instead", c.Apps[0].Name))
				} else if name != "" {
					routed[name] = true
				}
				continue
			}
			if r.Upstream != "" || r.Static != "" {
				add(rk+".app", "a route has one of static, upstream and app", "keep one: a route serves files, proxies to an [[upstream]] or to an app")
			}
			if r.Dotfiles {
				add(rk+".dotfiles", "dotfiles applies to a static route, and this route proxies", "remove it, or put it on the route that serves the files")
			}
			if c.appNamed(r.App) == nil {
				fix := `name the app as its [[app]] table does (name = "…")`
				if len(c.Apps) == 0 {
					fix = "add an [[app]] table for the Django project (frontdoor init DJANGO_DIR writes one), or fix the name"
				} else {
					fix = fmt.Sprintf("use one of the apps' names: %s", strings.Join(c.appNames(), ", "))
				}
				add(rk+".app", fmt.Sprintf("no [[app]] is named %q", r.App), fix)
				continue
			}
			routed[r.App] = true
		}
	}
	if len(c.Apps) > 1 && len(c.Sites) > 0 {
		for i := range c.Apps {
			if name := c.Apps[i].Name; processNamePattern.MatchString(name) && !routed[name] {
				add(c.appKey(i), fmt.Sprintf("no route sends requests to the app %q", name),
					fmt.Sprintf("add a [[site]] with its hosts and a route app = %q, or remove the app", name))
			}
		}
	}
	errs = append(errs, c.validateAppRoutes()...)
	if len(c.Apps) > 0 && len(c.Server.RuntimeDir) > maxRuntimeDir {
		add("server.runtime_dir", fmt.Sprintf("%s is too long for the application's unix sockets (at most %d bytes)", c.Server.RuntimeDir, maxRuntimeDir), "use a shorter directory, e.g. /run/frontdoor")
	}
	return errs
}

// addAppEngineConfig adds what the apps mean for the engine: each app's
// dynamic upstream group (no servers: its supervisor fills it,
// Engine.Reload keeps what it was given), and, when the file has one app
// and no [[site]], the usual Django site: "/" to the app, the static,
// media and protected prefixes from their directories.
func (c *Config) addAppEngineConfig(pc *proxy.Config) {
	for i := range c.Apps {
		// One failed connect marks the only server down; the supervisor
		// replaces a dead generation within milliseconds, so keep the mark
		// short rather than answering 503 for the default 10 s.
		pc.Upstreams = append(pc.Upstreams, proxy.Upstream{Name: appGroup(c.Apps[i].Name), MaxFails: 1, FailTimeout: time.Second})
	}
	if len(c.Sites) > 0 || len(c.Apps) != 1 {
		return
	}
	a := &c.Apps[0]
	site := proxy.Site{HTTPSRedirect: c.servesHTTPS}
	site.Routes = append(site.Routes, proxy.Route{Prefix: "/", Upstream: appGroup(a.Name)})
	for _, loc := range a.locations() {
		if loc.url != "" && loc.root != "" {
			site.Routes = append(site.Routes, proxy.Route{Prefix: loc.url,
				Static: &proxy.Static{Root: loc.root, Internal: loc.internal, VariantRoot: c.variantRoot(loc.root)}})
		}
	}
	pc.Sites = append(pc.Sites, site)
}

// engineUpstream is the engine group a proxied route goes to: its app's
// group, or the [[upstream]] it names.
func (c *Config) engineUpstream(r RouteConfig) string {
	if r.App != "" {
		return appGroup(r.App) // an app that does not exist: validateApps says so
	}
	if name, ok := c.routeApp(r); ok && name != "" {
		return appGroup(name)
	}
	return r.Upstream
}

// proxies reports whether a route sends requests somewhere (an upstream
// or an app) rather than serving files.
func (r RouteConfig) proxies() bool { return r.Upstream != "" || r.App != "" }

// sitesOf lists the indexes of the sites with a route to the app named
// name.
func (c *Config) sitesOf(name string) []int {
	var out []int
	for i, s := range c.Sites {
		if slices.ContainsFunc(s.Routes, func(r RouteConfig) bool {
			n, ok := c.routeApp(r)
			return ok && n == name
		}) {
			out = append(out, i)
		}
	}
	return out
}
