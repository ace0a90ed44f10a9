package proxy

import (
	"fmt"
	"frontdoor/proxy/static"
	"sort"
	"strings"
)

// router is the compiled, read-only form of Config.Sites. Workers share one
// router; a reload builds a new one and swaps it in through each worker's
// task queue, then closes the old one's directories once every worker has
// switched.
type router struct {
	exact    map[string]*site
	wildcard []wildcardSite // longest suffix first
	fallback *site
	routes   []*route // every route, by id
}

type wildcardSite struct {
	suffix string // ".example.com"
	site   *site
}

type site struct {
	name          string
	routes        []*route // longest prefix first
	httpsRedirect bool
	hsts          []byte // "Strict-Transport-Security: …\r\n" or nil
	redirectWWW   string
}

type route struct {
	id         int
	prefix     string
	static     *static.Dir // for static routes
	upstream   string      // group name, for proxied routes
	noCompress bool        // no on-the-fly compression of proxied responses
}

// newRouter compiles sites (validated: Config.Validate). An error is a
// static root that cannot be opened.
func newRouter(sites []Site) (*router, error) {
	r := &router{exact: map[string]*site{}}
	for si, s := range sites {
		st := &site{name: strings.Join(s.Hosts, ","), httpsRedirect: s.HTTPSRedirect, redirectWWW: s.RedirectWWW}
		if s.HSTS != "" {
			st.hsts = []byte("Strict-Transport-Security: " + s.HSTS + "\r\n")
		}
		for ri, rt := range s.Routes {
			c := &route{id: len(r.routes), prefix: rt.Prefix, upstream: rt.Upstream, noCompress: rt.NoCompress}
			if rt.Static != nil {
				d, err := static.Open(c.id, staticOptions(rt.Static))
				if err != nil {
					r.close()
					return nil, fmt.Errorf("site %d (%s) route %d (%q): %w", si, st.name, ri, rt.Prefix, err)
				}
				c.static = d
			}
			r.routes = append(r.routes, c)
			st.routes = append(st.routes, c)
		}
		sort.SliceStable(st.routes, func(i, j int) bool { return len(st.routes[i].prefix) > len(st.routes[j].prefix) })
		if len(s.Hosts) == 0 {
			r.fallback = st
		}
		for _, h := range s.Hosts {
			h = normalizeHost(h)
			switch {
			case h == "*":
				r.fallback = st
			case strings.HasPrefix(h, "*."):
				r.wildcard = append(r.wildcard, wildcardSite{suffix: h[1:], site: st})
			default:
				r.exact[h] = st
			}
		}
	}
	sort.SliceStable(r.wildcard, func(i, j int) bool { return len(r.wildcard[i].suffix) > len(r.wildcard[j].suffix) })
	return r, nil
}

// staticOptions reads a static route's configuration.
func staticOptions(s *Static) static.Options {
	index := s.Index
	switch index {
	case "":
		index = "index.html"
	case "-":
		index = ""
	}
	return static.Options{
		Root:          s.Root,
		Index:         index,
		CacheControl:  s.CacheControl,
		Immutable:     !s.NoImmutable,
		Precompressed: !s.NoPrecompressed,
		VariantRoot:   s.VariantRoot,
		Internal:      s.Internal,
		Dotfiles:      s.Dotfiles,
	}
}

// walksPaths reports whether a static route opens its files by walking
// their paths because openat2 is refused (static/confine.go).
func (r *router) walksPaths() bool {
	for _, rt := range r.routes {
		if rt.static != nil && rt.static.Walks() {
			return true
		}
	}
	return false
}

// close releases the directories the router holds.
func (r *router) close() {
	for _, rt := range r.routes {
		if rt.static != nil {
			rt.static.Close()
		}
	}
}

// lookupSite finds the site for a Host value (port stripped, any case).
// scratch must hold at least 256 bytes; no allocation happens.
func (r *router) lookupSite(host []byte, scratch []byte) *site {
	h := hostWithoutPort(host)
	if len(h) > 0 && h[len(h)-1] == '.' {
		h = h[:len(h)-1]
	}
	if len(h) == 0 || len(h) > len(scratch) {
		return r.fallback
	}
	lc := scratch[:len(h)]
	for i, c := range h {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lc[i] = c
	}
	if s, ok := r.exact[string(lc)]; ok {
		return s
	}
	for _, w := range r.wildcard {
		if len(lc) > len(w.suffix) && string(lc[len(lc)-len(w.suffix):]) == w.suffix {
			return w.site
		}
	}
	return r.fallback
}

// hostWithoutPort strips ":port" from a Host value, minding IPv6 literals.
func hostWithoutPort(h []byte) []byte {
	if len(h) > 0 && h[0] == '[' {
		for i, c := range h {
			if c == ']' {
				return h[:i+1]
			}
		}
		return h
	}
	for i := len(h) - 1; i >= 0; i-- {
		if h[i] == ':' {
			return h[:i]
		}
	}
	return h
}

// match returns the route with the longest prefix of path, or nil. A
// prefix matches whole path segments: "/static" and "/static/" both match
// "/static/app.css", and neither matches "/staticfiles".
func (s *site) match(path []byte) *route {
	for _, rt := range s.routes {
		if prefixMatches(rt.prefix, path) {
			return rt
		}
	}
	return nil
}

func prefixMatches(prefix string, path []byte) bool {
	if len(path) < len(prefix) || string(path[:len(prefix)]) != prefix {
		return false
	}
	return prefix[len(prefix)-1] == '/' || len(path) == len(prefix) || path[len(prefix)] == '/'
}
