package http2

import "frontdoor/proxy/http1"

// EventKind says what an Event reports.
type EventKind uint8

const (
	// EventNone: nothing to report (the input is used up).
	EventNone EventKind = iota
	// EventRequest: a stream's request head is complete (Req). EndStream
	// says the request has no body; otherwise EventData (and perhaps
	// EventTrailers) follow until one carries EndStream.
	EventRequest
	// EventData: request body bytes for Stream (Data, possibly empty when
	// only EndStream is news). Give the credit back with Consume once the
	// bytes are passed on: that is the client's flow control.
	EventData
	// EventTrailers: the request's trailer fields (Trailers); the request
	// is complete (EndStream is always set).
	EventTrailers
	// EventReset: the stream is gone. Err is nil when the client reset it
	// (Code is its reason), or the protocol error for which we reset it
	// (the RST_STREAM is already queued). Stop serving it; its Req stays
	// valid until the next call into the Conn.
	EventReset
	// EventWindow: flow-control credit arrived. Stream is the stream that
	// can send again, or 0 when the connection window or the client's
	// SETTINGS opened: then retry every stream with data waiting.
	EventWindow
	// EventGoAway: the client sent GOAWAY (Code): it starts no more
	// streams. Finish the open ones; Finished reports when all are done.
	EventGoAway
	// EventRefused: the codec answered a request itself (Status: 400,
	// 417, 431 or 501, or 0 when it reset the stream before any request
	// reached the exchange, Err saying why). For the access log only.
	EventRefused
	// EventClosed: the connection has ended (a connection error, with
	// Code and Err; or a settings timeout). Every stream is gone. Send
	// what Output holds, then close the socket.
	EventClosed
)

var eventNames = [...]string{"none", "request", "data", "trailers", "reset", "window", "goaway", "refused", "closed"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return "unknown"
}

// Event is one result of Feed or Tick.
type Event struct {
	Kind   EventKind
	Stream uint32
	// Req is the request head of EventRequest.
	Req *Request
	// Data is a slice of the input passed to Feed (EventData): valid until
	// the caller reuses that input.
	Data []byte
	// Trailers are the trailer fields of EventTrailers.
	Trailers  []http1.Header
	EndStream bool
	Code      ErrCode
	Status    int
	Err       error
}
