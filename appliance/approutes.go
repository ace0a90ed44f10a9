package appliance

import (
	"fmt"
	"strings"
)

// validateAppRoutes checks that the sites serve the application's static
// files themselves: a site that proxies to the [app] must have a static
// route for its static_url, or every stylesheet would go to Django (which
// answers 404 with DEBUG off). With no [[site]], frontdoor generates the
// routes from the same keys.
func (c *Config) validateAppRoutes() ConfigErrors {
	a := c.App
	if a == nil || a.StaticURL == "" || len(c.Sites) == 0 {
		return nil
	}
	var errs ConfigErrors
	for i, s := range c.Sites {
		proxies, served := false, false
		for _, r := range s.Routes {
			if r.Upstream == appUpstream {
				proxies = true
			}
			if r.Static != "" && !r.Internal && routeCovers(r.Path, a.StaticURL) {
				served = true
			}
		}
		if !proxies || served {
			continue
		}
		root := a.StaticRoot
		if root == "" {
			root = "/path/to/STATIC_ROOT"
		}
		errs = append(errs, c.problem(fmt.Sprintf("site[%d]", i),
			fmt.Sprintf("the site sends everything to the [app], but has no static route for its static files (app.static_url %q): "+
				"stylesheets and scripts would go to Django, which does not serve them with DEBUG off", a.StaticURL),
			fmt.Sprintf("add to this [[site]]:\n  [[site.route]]\n  path = %s\n  static = %s", tomlString(a.StaticURL), tomlString(root))))
	}
	return errs
}

// routeCovers reports whether a route prefix matches the URL prefix url
// (whole path segments, as the router matches).
func routeCovers(prefix, url string) bool {
	prefix = strings.TrimSuffix(prefix, "/") + "/"
	return strings.HasPrefix(url, prefix)
}
