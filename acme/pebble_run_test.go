//go:build !mutation

package acme

// withoutCA: see pebble_skip_test.go.
const withoutCA = false
