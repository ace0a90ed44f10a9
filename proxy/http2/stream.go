package http2

import "frontdoor/proxy/http1"

// Request is an HTTP/2 request head: the http1.Request the exchange layer
// already serves (Method, Target, Path, Query, Host, Headers with IDs,
// ContentLength), plus what only HTTP/2 has. Its slices point into memory
// the stream owns; see Conn for how long they stay valid.
//
// Differences from an HTTP/1.1 head: Major is 2; ContentLength is -1 when
// the body's length is unknown (DATA frames until END_STREAM) with Chunked
// false; KeepAlive is always true (the connection outlives the stream);
// Upgrade is false (WebSocket comes as extended CONNECT, Protocol set);
// HeadLen is 0 (the head is not in the caller's read buffer); cookie
// crumbs are joined into one Cookie field.
type Request struct {
	http1.Request
	// Scheme is the :scheme pseudo-header ("https", "http").
	Scheme []byte
	// Protocol is the :protocol of an extended CONNECT (RFC 8441),
	// "websocket" say; nil otherwise.
	Protocol []byte
}

// stream is one request/response exchange on a connection (RFC 9113
// §5.1). A stream exists only while it is open or half-closed; closed
// streams leave a trace in Conn's recent-stream bits only.
type stream struct {
	id  uint32
	req Request
	// arena holds the decoded head; tarena the trailers. Both come from
	// the pool.
	arena, tarena []byte
	trailers      []http1.Header

	// sendWindow is what we may still send (it may go negative when the
	// peer lowers SETTINGS_INITIAL_WINDOW_SIZE).
	sendWindow int64
	// recvWindow is what the peer may still send; unacked is body the
	// exchange consumed that no WINDOW_UPDATE has returned yet.
	recvWindow int64
	unacked    int64
	// held is body handed to the exchange and not yet consumed: it
	// returns to the connection window when the stream closes.
	held int64
	// declared is the content-length, or -1; received counts DATA bytes.
	declared, received int64

	recvEnd  bool // END_STREAM received: half-closed (remote)
	sentHead bool // the final response head is out
	sentEnd  bool // END_STREAM sent: half-closed (local)
	// blocked is set when WriteData stopped at the stream's window;
	// a WINDOW_UPDATE that opens it reports EventWindow.
	blocked bool

	next *stream // in Conn's list of closed streams awaiting release
}

// reset clears s for reuse, keeping the capacity of its slices.
func (s *stream) reset() {
	hs, ts := s.req.Headers[:0], s.trailers[:0]
	*s = stream{}
	s.req.Headers, s.trailers = hs, ts
}
