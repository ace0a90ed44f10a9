// Package proxy is frontdoor's edge engine: per-core event-loop workers on
// epoll that accept connections, parse HTTP/1.1 strictly, serve static files
// with sendfile and reverse-proxy to the application over keep-alive pools.
//
// A connection is owned by exactly one worker for its whole life; no
// goroutine is parked per connection. Other goroutines reach a worker only
// through its loop's eventfd-woken task queue.
//
// # The request path, file by file
//
// A request goes down this list; each step names the file that does it
// (the subpackages do the mechanisms: proxy/loop the event loop,
// proxy/tlsterm TLS, proxy/http1 the parser, proxy/static the files,
// proxy/upstream the application side).
//
//	accept      accept.go           a listener's event: accept4, TCP_NODELAY, the
//	                                per-client-address cap (limits.go), the
//	                                connection registered on the worker's loop
//	conn I/O    conn.go             the connection's events (conn.OnEvent → drive),
//	                                its bytes read (fill) and its timers: head
//	                                deadline, keep-alive, send, linger
//	TLS         tls.go              on a TLS listener: the handshake off the loop,
//	                                then every byte through proxy/tlsterm (conn.read,
//	                                conn.write)
//	codec       http1conn.go        HTTP/1.1: a request head scanned and parsed
//	                                (proxy/http1), an exchange begun, the request body
//	                                decoded (Content-Length, chunked) as the exchange
//	                                wants it
//	route       route.go            rate limit, ACME HTTP-01, the site by Host and TLS
//	                                name (router.go), redirects, the route by path
//	exchange    exchange.go         one request and its response, whatever the
//	                                protocol: its phase, the stream interface it reads
//	                                and writes through
//	  static    exchange_static.go  a file from the route's directory: proxy/static's
//	                                cache, confinement, conditionals, ranges,
//	                                precompressed siblings
//	  proxied   exchange_proxy.go   the body buffered, a server picked and a
//	                                connection taken from the pool (proxy/upstream),
//	                                the request sent (its head: forward.go,
//	                                trusted.go), the response head read
//	            relay.go            the response head rewritten, the body relayed or
//	                                spooled (compress.go); X-Accel-Redirect served
//	                                from a file (accel.go)
//	  tunnel    exchange_tunnel.go  a WebSocket: bytes both ways
//	response    respond.go          status texts and error pages; heads and bodies
//	                                queued through the stream (http1conn.go: head,
//	                                send)
//	write       conn.go             flush: the head, then the file (sendfile) or the
//	                                spool
//	access log  accesslog.go        the JSON line
//	keep-alive  http1conn.go        finishExchange: the next request, idleness,
//	                                lingering, or close
//
// Around it: engine.go (New, Start, Reload, Shutdown: the workers and
// their configuration), worker.go (one loop and what its connections
// share), config.go (the configuration and its defaults, the one owner of
// them) and validate.go (its rules), groups.go (upstream groups, changed
// at run time by the supervisor), listen.go (listening sockets).
//
// # The protocol seam
//
// An exchange knows no protocol: it reads its body and writes its
// response through a stream (exchange.go), which the HTTP/1.1 connection
// implements. HTTP/2 plugs in as a second codec: a connection that
// negotiated "h2" is driven by a proxy/http2 Conn instead of
// http1conn.go, each of its streams begins an exchange with the stream's
// request (an http1.Request with Major 2) and implements stream — head
// and send turn the exchange's header lines into HEADERS, the file range
// and the response spool become DATA within the flow-control windows,
// cut resets the stream — so that routing, static files and proxying are
// the same code for both.
package proxy
