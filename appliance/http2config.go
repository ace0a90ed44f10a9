package appliance

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// HTTP2Listeners is [server] http2: which HTTPS listeners offer HTTP/2
// (ALPN h2). true (the default): every one; false: none; a list of
// addresses from server.https: those only, the others speak HTTP/1.1 —
// per listen address, as nginx's `listen 443 ssl http2` or Caddy's
// per-server `protocols`. Under socket activation a listed address
// stands for the https sockets bound to it (offersOnSocket).
type HTTP2Listeners struct {
	// Off is http2 = false.
	Off bool
	// Only is http2 = [addresses]: non-nil for a list, even an empty one.
	Only []string
}

// UnmarshalTOML decodes true, false or a list of strings (typeErrors has
// checked the shape: checkShape).
func (h *HTTP2Listeners) UnmarshalTOML(data []byte) error {
	var v struct{ V any }
	if err := toml.Unmarshal(append([]byte("V = "), data...), &v); err != nil {
		return err
	}
	if want, _, ok := h.checkShape(v.V); !ok {
		return fmt.Errorf("expected %s", want)
	}
	*h = HTTP2Listeners{}
	switch x := v.V.(type) {
	case bool:
		h.Off = !x
	case []any:
		h.Only = make([]string, len(x))
		for i, a := range x {
			h.Only[i] = a.(string)
		}
	}
	return nil
}

// checkShape accepts true, false or a list of strings.
func (*HTTP2Listeners) checkShape(v any) (want, fix string, ok bool) {
	want = "true, false or a list of addresses in quotes"
	fix = `write http2 = true (every HTTPS listener), false (none) or a list of server.https's addresses, e.g. http2 = [":443"]`
	switch x := v.(type) {
	case bool:
		return want, fix, true
	case []any:
		for _, a := range x {
			if _, isString := a.(string); !isString {
				return want, fix, false
			}
		}
		return want, fix, true
	}
	return want, fix, false
}

// offersOn reports whether the listener opened on the configured address
// addr (one of server.https) offers HTTP/2.
func (h HTTP2Listeners) offersOn(addr string) bool {
	if h.Off {
		return false
	}
	if h.Only == nil {
		return true
	}
	want, err := checkListenAddr(addr)
	if err != nil {
		return false
	}
	for _, a := range h.Only {
		if norm, err := checkListenAddr(a); err == nil && norm == want {
			return true
		}
	}
	return false
}

// offersOnSocket reports whether an https socket systemd passed, bound to
// local, offers HTTP/2: with a list, when a listed address names it — the
// same port, and the same IP address or, for an address without a host
// (":443"), any unspecified one ([::] or 0.0.0.0, as ListenStream=443
// binds).
func (h HTTP2Listeners) offersOnSocket(local net.Addr) bool {
	if h.Off {
		return false
	}
	if h.Only == nil {
		return true
	}
	for _, a := range h.Only {
		if namesSocket(a, local) {
			return true
		}
	}
	return false
}

// namesSocket reports whether the listen address a names the socket bound
// to local.
func namesSocket(a string, local net.Addr) bool {
	tcp, ok := local.(*net.TCPAddr)
	if !ok {
		return false
	}
	bound := tcp.AddrPort()
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return false
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || uint16(n) != bound.Port() {
		return false
	}
	ip := bound.Addr().Unmap()
	if host == "" || host == "*" {
		return ip.IsUnspecified()
	}
	want, err := netip.ParseAddr(host)
	return err == nil && want.Unmap() == ip
}

// checkHTTP2Sockets, under socket activation, reports each listed address that
// names none of the https sockets systemd passed (bound to locals): its
// listener would otherwise silently speak what the address did not ask.
func (c *Config) checkHTTP2Sockets(locals []net.Addr) ConfigErrors {
	var errs ConfigErrors
	passed := "it passed none"
	if len(locals) > 0 {
		bound := make([]string, len(locals))
		for i, l := range locals {
			bound[i] = l.String()
		}
		passed = "bound to " + strings.Join(bound, ", ")
	}
	for i, a := range c.Server.HTTP2.Only {
		named := false
		for _, l := range locals {
			named = named || namesSocket(a, l)
		}
		if !named {
			errs = append(errs, c.problem(fmt.Sprintf("server.http2[%d]", i),
				fmt.Sprintf("%q names none of the https sockets systemd passed (%s)", a, passed),
				"list the addresses of frontdoor-https.socket's ListenStream= lines (ListenStream=443 is \":443\"; systemctl cat frontdoor-https.socket shows them), or write http2 = true (every HTTPS listener) or false (none)"))
		}
	}
	return errs
}

// validateHTTP2 checks a list of addresses: each one must be one of
// server.https's (the same address, as checkListenAddr writes it).
func (c *Config) validateHTTP2() ConfigErrors {
	var errs ConfigErrors
	https := map[string]bool{}
	for _, a := range c.Server.HTTPS {
		if norm, err := checkListenAddr(a); err == nil {
			https[norm] = true
		}
	}
	quoted := make([]string, len(c.Server.HTTPS))
	for i, a := range c.Server.HTTPS {
		quoted[i] = strconv.Quote(a)
	}
	for i, a := range c.Server.HTTP2.Only {
		key := fmt.Sprintf("server.http2[%d]", i)
		norm, err := checkListenAddr(a)
		if err != nil {
			errs = append(errs, c.problem(key, err.Error(), `write one of server.https's addresses, e.g. ":443"`))
			continue
		}
		if !https[norm] {
			fix := "add it to server.https, or list only HTTPS addresses here"
			if len(quoted) > 0 {
				fix = fmt.Sprintf("list addresses of server.https (%s), or add it there", strings.Join(quoted, ", "))
			}
			errs = append(errs, c.problem(key, fmt.Sprintf("%q is not an HTTPS listen address (server.https)", a),
				fix+"; http2 = true offers HTTP/2 on every HTTPS listener, false on none"))
		}
	}
	return errs
}

// restartValue is the setting as a reload compares and shows it (true,
// false or the list as written).
func (h HTTP2Listeners) restartValue() any {
	if h.Only != nil {
		return h.Only
	}
	return !h.Off
}
