// Package state keeps what must survive a restart of frontdoor in one bbolt
// file: certificates and the ACME account, small named blobs for other
// packages (ACME records: backoff and the CA's renewal information; the
// local CA; TLS session-ticket keys),
// events, restarts, health transitions and the history of applied
// configurations.
//
// Only the daemon opens the file (bbolt takes an exclusive lock on it); the
// CLI asks the daemon. Every write is one bbolt transaction, committed with
// fsync before the call returns, so a record a caller saw committed is on
// disk even if the process is killed with SIGKILL right after. The file is
// created with mode 0600 (its directory 0700 when Open creates it) because it
// holds private keys.
//
// A *DB is safe for concurrent use by many goroutines. bbolt serialises
// writers; readers never block writers.
//
// Several edges share their certificates through PostgreSQL with the
// subpackage cluster; this file is then each edge's cache of that state.
package state
