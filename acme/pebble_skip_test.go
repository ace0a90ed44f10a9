//go:build mutation

package acme

// withoutCA is set by the "mutation" build tag: the mutation run (make
// mutate-acme) uses only the fast unit layer, without pebble, so that each
// of its hundreds of test runs takes about a second.
const withoutCA = true
