// Package proxy is frontdoor's edge engine: per-core event-loop workers on
// epoll that accept connections, parse HTTP/1.1 strictly, serve static files
// with sendfile and reverse-proxy to the application over keep-alive pools.
//
// A connection is a state machine owned by exactly one worker for its whole
// life; no goroutine is parked per connection. Other goroutines reach a worker
// only through its eventfd-woken task queue.
package proxy
