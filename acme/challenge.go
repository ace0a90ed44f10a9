package acme

import "strings"

const challengePrefix = "/.well-known/acme-challenge/"

// HTTPChallenge answers an HTTP-01 challenge (and the manager's own
// self-probe). The engine calls it for every request on port 80 whose path
// starts with /.well-known/acme-challenge/, with the request's Host header
// and path; when ok it sends body with status 200 (Content-Type
// text/plain), otherwise 404. It never redirects such a request to HTTPS.
// It does not block.
func (m *Manager) HTTPChallenge(host, path string) (body []byte, ok bool) {
	token, found := strings.CutPrefix(path, challengePrefix)
	if !found || token == "" || strings.ContainsAny(token, "/?#") {
		return nil, false
	}
	name := hostOnly(host)
	m.mu.Lock()
	defer m.mu.Unlock()
	ns := m.names[name]
	if ns == nil {
		return nil, false // not a configured name: the host policy
	}
	if probe := m.probes[token]; probe != nil {
		return probe, true
	}
	if a := ns.attempt; a != nil && a.httpToken != "" && a.httpToken == token {
		return []byte(a.httpKeyAuth), true
	}
	return nil, false
}
