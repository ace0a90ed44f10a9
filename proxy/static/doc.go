// Package static is what serving files takes besides HTTP framing: the
// directories of static routes, every file opened confined beneath its
// route's root (dir.go, confine.go, with the component walk where a
// seccomp filter denies openat2), URL paths turned into safe relative
// names (pathclean.go), an open-file cache per worker whose entries carry
// their precomputed header lines and precompressed siblings — next to the
// file or in a variant directory outside a root frontdoor may not write
// (cache.go) — the caching Django's staticfiles.json allows (manifest.go),
// media types (mime.go), and the validators and ranges of conditional
// requests (conditional.go, httpdate.go).
//
// A Cache is owned by one worker's loop; a Dir is shared by the workers
// and read-only once opened.
package static
