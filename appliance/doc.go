// Package appliance wires frontdoor's parts together and owns the process
// lifecycle: it loads and validates the TOML configuration, builds the edge
// engine (proxy), the certificate manager (acme), the supervisor and the state
// store, handles signals (SIGTERM, SIGHUP) and serves the admin socket that the
// CLI talks to.
package appliance
