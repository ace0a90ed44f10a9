// Package packaging contains no code of frontdoor itself. It is the home of
// what turns the binary into a Debian package — the systemd units in
// systemd/, the default configuration in etc/, the maintainer scripts in
// scripts/, the man page, the nfpm configuration and the build-deb script —
// and of the tests that build the .deb and check it: lintian, the package's
// contents, `systemd-analyze verify` and the units' security exposure.
//
// The end-to-end test with a real systemd in systemd-nspawn is the script
// e2e/run (make e2e); it is too slow for `go test`.
package packaging
