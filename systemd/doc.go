// Package systemd is frontdoor's glue to systemd: listening sockets handed
// over by socket activation and selected by name, sd_notify state messages
// (READY, RELOADING, STOPPING, STATUS), a watchdog that pings only while the
// caller reports itself alive, and a slog handler whose lines the journal
// files under the right priority.
//
// Everything here degrades to a no-op when frontdoor does not run under
// systemd: no activated sockets (the caller opens its own with [Listen]), a
// [Notifier] that sends nothing, and plain text or JSON log lines.
//
// The package imports no other frontdoor package; the appliance package wires
// it to the engine (listeners, liveness) and to the supervisor (status).
package systemd
