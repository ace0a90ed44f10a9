// Package acme obtains and renews TLS certificates: from an ACME CA (Let's
// Encrypt) through golang.org/x/crypto/acme/autocert, and from a local CA for
// localhost names and loopback addresses.
//
// A Manager serves certificates to the TLS engine (GetCertificate, TLSConfig),
// answers ACME challenges (TLS-ALPN-01 inside GetCertificate, HTTP-01 through
// HTTPChallenge), and in the background obtains a certificate for every
// configured name as soon as it starts and renews it before it expires.
//
// autocert does the ACME protocol; this package decides when it may talk to
// the CA. Every order is one "attempt" run by a short-lived autocert.Manager
// whose HTTP transport (exchange.go) refuses new orders once the attempt
// ends, so nothing can order behind the manager's back: not autocert's own
// renewal timer, which cannot be stopped or observed. Before an attempt the
// manager checks that the name resolves to this machine (resolve.go), and
// after a failure it backs off for 1, 2, 5, 10, 20, 30 minutes, 1 hour, ...
// up to 6 hours (backoff.go), because autocert alone retries a failed name
// on the next handshake after a minute and would use up Let's Encrypt's
// failed-validation limit.
//
// Certificates are served from memory and swapped atomically, so a renewal
// never fails a handshake: the old certificate is served until the new one
// is in place. Everything that must survive a restart (the ACME account
// key, certificates, backoff records, the local CA, session-ticket keys)
// lives in the Store, which the state package implements.
package acme
