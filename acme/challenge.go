package acme

import "strings"

const challengePrefix = "/.well-known/acme-challenge/"

// HTTPChallenge answers an HTTP-01 challenge (and the manager's own
// self-probe). The engine calls it for every request on port 80 whose path
// starts with /.well-known/acme-challenge/, with the request's Host header
// and path; when ok it sends body with status 200 (Content-Type
// text/plain), otherwise 404. It never redirects such a request to HTTPS.
// It does not block. In a cluster it also answers the challenges the
// other edges published.
func (m *Manager) HTTPChallenge(host, path string) (body []byte, ok bool) {
	token, found := strings.CutPrefix(path, challengePrefix)
	if !found || token == "" || strings.ContainsAny(token, "/?#") {
		return nil, false
	}
	name := hostOnly(host)
	if name == "" {
		return nil, false
	}
	m.mu.Lock()
	if ns := m.names[name]; ns != nil { // else not a configured name: the host policy
		if probe := m.probes[token]; probe != nil {
			m.mu.Unlock()
			return probe, true
		}
		if a := ns.attempt; a != nil && a.httpToken != "" && a.httpToken == token {
			m.mu.Unlock()
			return []byte(a.httpKeyAuth), true
		}
	}
	m.mu.Unlock()
	// Another edge of the cluster ordering (or probing) a name, whose
	// validation reached this one: an answer exists only for an order a
	// member of the cluster placed.
	if m.cluster != nil {
		if answer, ok := m.cluster.LookupChallenge(name, token); ok {
			return []byte(answer), true
		}
	}
	return nil, false
}
