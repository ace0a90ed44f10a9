// Package acme obtains and renews TLS certificates: from an ACME CA (Let's
// Encrypt) through github.com/mholt/acmez/v3's protocol client, and from a
// local CA for localhost names and loopback addresses.
//
// A Manager serves certificates to the TLS engine (GetCertificate, TLSConfig),
// answers ACME challenges (TLS-ALPN-01 inside GetCertificate, HTTP-01 through
// HTTPChallenge; wildcards by a static dns-persist-01 record, persist.go),
// and in the background obtains a certificate for every configured name as
// soon as it starts and renews it when it is due.
//
// When a certificate is due comes from the CA: its renewal information
// (ARI, RFC 9773, ari.go) gives a window, a time is picked inside it, and
// the CA is asked again after its Retry-After; a window moved into the past
// (an incident) renews at once, and the new order names the old
// certificate ("replaces"), which exempts it from Let's Encrypt's rate
// limits. Without ARI a certificate is renewed RenewBefore ahead of expiry,
// at most a third of its lifetime. Orders ask for the configured profile
// (classic, tlsserver, shortlived), the same on every renewal, and one the
// CA's directory does not list is refused before any order.
//
// The package drives the protocol itself (order.go): one order per
// challenge type, TLS-ALPN-01 then HTTP-01, so every order is one it
// decided on. Every order is one "attempt", whose HTTP transport
// (exchange.go) refuses new orders once the attempt ends and keeps the CA's
// own words. Before an attempt the manager checks that the name resolves
// to this machine (resolve.go; an IP address is checked as itself), and
// after a failure it backs off for 1, 2, 5, 10, 20, 30 minutes, 1 hour,
// ... up to 6 hours (backoff.go), never more than a tenth of the time a
// still-valid certificate has left. Expiry alerts (expiry.go) are raised
// through Config.OnEvent now that the CA sends none. No code path uses
// OCSP, and no order asks for OCSP Must-Staple.
//
// Certificates are served from memory and swapped atomically, so a renewal
// never fails a handshake: the old certificate is served until the new one
// is in place. Everything that must survive a restart (the ACME account
// key, certificates, backoff records with the CA's renewal information,
// the local CA, session-ticket keys) lives in the Store, which the state
// package implements.
//
// Several edges share one Store with Config.Cluster (cluster.go;
// state/cluster implements both over PostgreSQL): one order per name for
// the whole cluster under a lease with a fencing token, challenges
// answered by whichever edge the CA reaches, certificates and
// session-ticket keys pushed to every edge.
package acme
