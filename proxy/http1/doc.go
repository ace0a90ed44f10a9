// Package http1 is a strict, sans-I/O HTTP/1.1 message parser (RFC 9112).
//
// It never reads from or writes to a connection: callers feed it bytes and it
// reports how far it got, what it found, or why the message must be refused.
// Parsed values are slices of the caller's buffer; nothing is allocated per
// message in steady state, so a caller that reuses its Request (and keeps the
// buffer alive while it uses the slices) parses without garbage.
//
// The parser is deliberately stricter than Go's net/http and closer to llhttp:
// bare LF, bare CR, obs-fold, control bytes, whitespace before a colon, CL
// together with TE, duplicate or malformed Content-Length, and any
// Transfer-Encoding other than a lone "chunked" are refused, because each of
// them is a known request-smuggling vector when two parsers disagree.
package http1
