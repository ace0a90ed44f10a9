package acme

import "crypto/tls"

// alpnProto is the ALPN protocol of TLS-ALPN-01 validations (RFC 8737).
const alpnProto = "acme-tls/1"

// tls12Suites are Mozilla's "intermediate" TLS 1.2 suites without CBC:
// ECDHE with AES-GCM or ChaCha20-Poly1305, ECDSA and RSA certificates.
// (TLS 1.3 suites are not configurable in Go and are all AEAD.)
var tls12Suites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// TLSConfig returns a new server configuration for the engine: TLS 1.2 and
// 1.3, the suites above, key exchange X25519MLKEM768 (post-quantum hybrid,
// TLS 1.3), X25519 and P-256, ALPN "h2", "http/1.1" and "acme-tls/1" (turn
// HTTP/2 off with WithoutHTTP2 before first use), certificates from
// GetCertificate, and session tickets encrypted with keys this manager
// rotates.
//
// The returned config is live: on every rotation the manager calls its
// SetSessionTicketKeys, which is safe while it serves handshakes. So serve
// with this very pointer. A Clone taken later does not follow rotations;
// call TLSConfig again instead (each call registers a new config; configs
// the engine drops are forgotten). Add fields (timeouts are the engine's)
// before first use, never after.
//
// A connection whose negotiated protocol is "acme-tls/1" is a CA validating
// a TLS-ALPN-01 challenge: the engine must close it after the handshake
// (RFC 8737) and never treat it as HTTP.
func (m *Manager) TLSConfig() *tls.Config {
	cfg := PolicyConfig()
	cfg.NextProtos = append(cfg.NextProtos, alpnProto)
	cfg.GetCertificate = m.GetCertificate
	m.tickets.register(cfg)
	return cfg
}

// PolicyConfig returns the TLS policy alone (versions, suites, curves, ALPN
// "h2" then "http/1.1"), for a server with certificates of its own (the
// quick modes' --tls-cert). Session tickets use crypto/tls's own rotating
// keys.
func PolicyConfig() *tls.Config {
	return &tls.Config{
		MinVersion:       tls.VersionTLS12,
		CipherSuites:     tls12Suites,
		CurvePreferences: []tls.CurveID{tls.X25519MLKEM768, tls.X25519, tls.CurveP256},
		// The server's order decides: HTTP/2 for every client that
		// offers it (the engine serves it on the loop), HTTP/1.1 else.
		NextProtos: []string{ALPNHTTP2, "http/1.1"},
	}
}

// ALPNHTTP2 is HTTP/2's ALPN protocol name (RFC 9113 §3.2).
const ALPNHTTP2 = "h2"

// WithoutHTTP2 stops cfg from offering HTTP/2: clients then speak
// HTTP/1.1. Call it before cfg is first used (the configuration of a
// listener with HTTP/2 turned off).
func WithoutHTTP2(cfg *tls.Config) {
	protos := cfg.NextProtos[:0:0]
	for _, p := range cfg.NextProtos {
		if p != ALPNHTTP2 {
			protos = append(protos, p)
		}
	}
	cfg.NextProtos = protos
}
