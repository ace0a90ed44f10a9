package acme

import (
	"testing"

	"frontdoor/internal/pebbletest"
	"frontdoor/internal/testkit"
)

// pebble is pebbletest's server (Let's Encrypt's test CA on loopback).
type pebble = pebbletest.Server

// lockedBuffer collects a manager's logs while it runs.
type lockedBuffer = testkit.SyncBuffer

// startPebble starts pebble and its DNS helper for one test; pebble
// validates HTTP-01 on httpPort and TLS-ALPN-01 on tlsPort.
// Under -short or the "mutation" build tag the test is skipped: those
// runs are the fast unit layer.
func startPebble(t *testing.T, httpPort, tlsPort int) *pebble {
	t.Helper()
	if withoutCA || testing.Short() {
		t.Skip("needs pebble: not in the fast unit layer (-short, -tags mutation)")
	}
	return pebbletest.Start(t, httpPort, tlsPort)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
