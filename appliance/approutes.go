package appliance

import (
	"fmt"
	"strings"
)

// validateAppRoutes checks that the sites serve the apps' static files
// themselves: a site that proxies to an app must have a static route for
// the app's static_url, or every stylesheet would go to Django (which
// answers 404 with DEBUG off). With one app and no [[site]], frontdoor
// generates the routes from the same keys.
func (c *Config) validateAppRoutes() ConfigErrors {
	var errs ConfigErrors
	for i := range c.Apps {
		a := &c.Apps[i]
		if a.StaticURL == "" {
			continue
		}
		for _, si := range c.sitesOf(a.Name) {
			served := false
			for _, r := range c.Sites[si].Routes {
				if r.Static != "" && !r.Internal && routeCovers(r.Path, a.StaticURL) {
					served = true
				}
			}
			if served {
				continue
			}
			root := a.StaticRoot
			if root == "" {
				root = "/path/to/STATIC_ROOT"
			}
			errs = append(errs, c.problem(fmt.Sprintf("site[%d]", si),
				fmt.Sprintf("the site sends everything to the app %q, but has no static route for its static files (%s.static_url %q): "+
					"stylesheets and scripts would go to Django, which does not serve them with DEBUG off", a.Name, c.appKey(i), a.StaticURL),
				fmt.Sprintf("add to this [[site]]:\n  [[site.route]]\n  path = %s\n  static = %s", tomlString(a.StaticURL), tomlString(root))))
		}
	}
	return errs
}

// routeCovers reports whether a route prefix matches the URL prefix url
// (whole path segments, as the router matches).
func routeCovers(prefix, url string) bool {
	prefix = strings.TrimSuffix(prefix, "/") + "/"
	return strings.HasPrefix(url, prefix)
}
