// Package cluster lets several frontdoor edges share their certificates
// and ACME state through one PostgreSQL database (the site's own, usually),
// in a schema of their own that this package creates and migrates
// (migrate.go, migrations/).
//
// A Store implements the certificate manager's Store (acme.Store) and its
// Cluster interface (acme.Cluster) over that database:
//
//   - What every edge must see alike lives in the table kv: the ACME
//     account key, certificates with their keys, the ACME records (backoff
//     and the CA's renewal information) and the TLS session-ticket keys.
//     Every value is sealed with AES-256-GCM under a key each edge reads
//     from a file (key.go): the database never holds a private key in
//     clear, and a database dump is useless without the key file.
//   - One order per name for the whole cluster: a lease per name, with a
//     fencing token from a sequence (lease.go). The holder renews the
//     lease while its order runs; a certificate is stored only under a
//     live lease whose token is still the newest, so an edge whose lease
//     ran out (it stalled, or lost the database) cannot overwrite what the
//     edge that took over stored.
//   - Push, not poll: every write sends a NOTIFY; every edge LISTENs and
//     hands the change to the manager (notify.go), which loads a new
//     certificate at once.
//   - Challenge answers (HTTP-01, TLS-ALPN-01, and the resolve check's
//     self-probe) are published to every live edge before the CA is told
//     to validate, so whichever edge the CA reaches answers
//     (challenge.go).
//   - Each edge writes a heartbeat (version, certificates served, last
//     error) and its events (edges.go), which `frontdoor status --cluster`
//     shows for every edge.
//
// PostgreSQL being down is not an outage: the edge's own state file
// (package state) is a read-through, write-through cache of everything
// shared. While the database is away, reads come from it, writes land in
// it marked dirty, no lease can be taken (so no order is placed), and a
// background loop reconnects with backoff; on return the dirty entries are
// pushed (the database's newer value wins a conflict), everything is read
// back, and the manager is told what changed.
package cluster
