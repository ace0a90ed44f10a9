// Package proxy is frontdoor's edge engine: per-core event-loop workers on
// epoll that accept connections, speak HTTP/1.1 (parsed strictly) and
// HTTP/2, serve static files with sendfile and reverse-proxy to the
// application over keep-alive pools.
//
// A connection is owned by exactly one worker for its whole life; no
// goroutine is parked per connection. Other goroutines reach a worker only
// through its loop's eventfd-woken task queue.
//
// # The request path, file by file
//
// A request goes down this list; each step names the file that does it
// (the subpackages do the mechanisms: proxy/loop the event loop,
// proxy/tlsterm TLS, proxy/http1 the parser, proxy/http2 the HTTP/2 codec,
// proxy/static the files, proxy/upstream the application side).
//
//	accept      accept.go           a listener's event: accept4, TCP_NODELAY, the
//	                                per-client-address cap (limits.go), the
//	                                connection registered on the worker's loop
//	conn I/O    conn.go             the connection's events (conn.OnEvent → drive),
//	                                its bytes read (fill) and its timers: head
//	                                deadline, keep-alive, send, linger
//	TLS         tls.go              on a TLS listener: the handshake off the loop
//	                                (with Config.TLS, or TLSNoHTTP2 on a listener
//	                                with NoHTTP2), then every byte through
//	                                proxy/tlsterm (conn.read, conn.write); ALPN "h2"
//	                                chooses HTTP/2
//	codec       http1conn.go        HTTP/1.1: a request head scanned and parsed
//	                                (proxy/http1), an exchange begun, the request body
//	                                decoded (Content-Length, chunked) as the exchange
//	                                wants it
//	            http2conn.go        HTTP/2 (ALPN h2, or the preface on an h2c
//	                                listener: conn.sniffPreface): bytes fed to the
//	                                proxy/http2 codec, its events dispatched — a
//	                                stream's request begins an exchange, DATA feeds
//	                                its body, RST_STREAM abandons it; the codec's
//	                                output sent, stalled streams run again (pump);
//	                                timers and the GOAWAY drain (settle, shutdown)
//	            http2stream.go      one stream as the exchange's stream: the head's
//	                                lines become HEADERS, the body, the file (pread)
//	                                and the spool become DATA within the windows
//	            http2tunnel.go      a WebSocket on a stream (extended CONNECT)
//	route       route.go            rate limit, ACME HTTP-01, the site by Host and TLS
//	                                name (router.go), redirects, the route by path
//	exchange    exchange.go         one request and its response, whatever the
//	                                protocol: its phase, the stream interface it reads
//	                                and writes through
//	  static    exchange_static.go  a file from the route's directory: proxy/static's
//	                                cache, confinement, conditionals, ranges,
//	                                precompressed siblings
//	  proxied   exchange_proxy.go   the body buffered, a server picked and a
//	                                connection taken from the pool (proxy/upstream) —
//	                                when none is idle, at the end of the loop's turn,
//	                                dialled if none came back meanwhile (dialLater) —,
//	                                the request sent (its head: forward.go,
//	                                trusted.go), the response head read
//	            relay.go            the response head rewritten, the body relayed or
//	                                spooled (compress.go); X-Accel-Redirect served
//	                                from a file (accel.go)
//	  tunnel    exchange_tunnel.go  a WebSocket: bytes both ways (over HTTP/2:
//	                                http2tunnel.go)
//	response    respond.go          status texts and error pages; heads and bodies
//	                                queued through the stream (http1conn.go,
//	                                http2stream.go: head, send)
//	write       conn.go             flush: the head, then the file (sendfile) or the
//	                                spool (HTTP/2: http2stream.go flush frames them,
//	                                http2conn.go pump sends the frames)
//	access log  accesslog.go        the JSON line
//	keep-alive  http1conn.go        finishExchange: the next request, idleness,
//	                                lingering, or close (HTTP/2: the stream ends,
//	                                http2stream.go finish; the connection idles in
//	                                http2conn.go settle)
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
// and each HTTP/2 stream implement. A connection that negotiated "h2" is
// driven by a proxy/http2 Conn instead of http1conn.go; each of its
// streams begins an exchange with the stream's request (an http1.Request
// with Major 2) — head and send keep the exchange's header lines, which
// flush turns into HEADERS, the file range and the response spool become
// DATA within the flow-control windows, cut resets the stream — so that
// routing, static files and proxying are the same code for both. A
// WebSocket's extended CONNECT (RFC 8441) goes to the application as an
// HTTP/1.1 Upgrade, and its tunnel is the stream's (http2tunnel.go).
package proxy
