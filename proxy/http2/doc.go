// Package http2 is a sans-I/O HTTP/2 server codec (RFC 9113, HPACK RFC 7541).
package http2
