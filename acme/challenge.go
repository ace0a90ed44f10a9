package acme

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const challengePrefix = "/.well-known/acme-challenge/"

// HTTPChallenge answers an HTTP-01 challenge (and the manager's own
// self-probe). The engine calls it for every request on port 80 whose path
// starts with /.well-known/acme-challenge/, with the request's Host header
// and path; when ok it sends body with status 200 (Content-Type
// text/plain), otherwise 404. It never redirects such a request to HTTPS.
// It does not block on the network (a store read at most).
func (m *Manager) HTTPChallenge(host, path string) (body []byte, ok bool) {
	token, found := strings.CutPrefix(path, challengePrefix)
	if !found || token == "" || strings.ContainsAny(token, "/?#") {
		return nil, false
	}
	name := hostOnly(host)
	m.mu.Lock()
	ns := m.names[name]
	probe := m.probes[token]
	var handler http.Handler
	if ns != nil && ns.attempt != nil {
		handler = ns.attempt.handler
	}
	m.mu.Unlock()
	if ns == nil {
		return nil, false // not a configured name: the host policy
	}
	if probe != nil {
		return probe, true
	}
	if handler == nil {
		return nil, false
	}
	// autocert's handler looks the token up in its memory, then in the
	// cache; drive it with a made-up request (the engine is not net/http).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := (&http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Path: path},
		Host:       name,
		Header:     http.Header{},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
	}).WithContext(ctx)
	w := &bodyWriter{}
	handler.ServeHTTP(w, req)
	if w.status != 0 && w.status != http.StatusOK {
		return nil, false
	}
	return w.body, w.wrote
}

// bodyWriter is the smallest http.ResponseWriter: it keeps the status and
// the body.
type bodyWriter struct {
	header http.Header
	status int
	body   []byte
	wrote  bool
}

func (w *bodyWriter) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *bodyWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *bodyWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.body = append(w.body, p...)
	w.wrote = true
	return len(p), nil
}
