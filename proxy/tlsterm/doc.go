// Package tlsterm terminates TLS on the event loop with Go's crypto/tls:
// a tls.Conn runs over an in-memory transport (transport.go) that the
// loop fills from the socket and drains to it, so no goroutine is parked
// per connection (conn.go); the handshake, whose errors are sticky and
// whose certificate lookup may block, runs on a small pool of goroutines
// per loop (handshake.go); an idle connection gives back the buffers
// crypto/tls would keep (trim.go).
package tlsterm
