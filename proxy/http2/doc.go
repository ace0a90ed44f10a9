// Package http2 is a sans-I/O HTTP/2 server codec (RFC 9113) with its own
// HPACK (RFC 7541): frames, header compression, stream states, flow
// control and the limits that keep a client from abusing them. It never
// reads, writes, blocks, sleeps or starts a goroutine; the event loop moves
// the bytes and the exchange layer serves the requests.
//
// # What the caller feeds
//
// One Conn per connection, made with NewConn (or Init on a reused one)
// once TLS negotiated "h2" (or SniffPreface saw the cleartext preface):
//
//   - Feed(in, now): bytes read from the socket, after TLS, in whatever
//     pieces they came. It returns how many it consumed and at most one
//     Event; call it again with the rest. Any split of the input gives the
//     same events as the input whole (tested, and fuzzed by FuzzCodec).
//     The Conn keeps no input except a partial frame header and the
//     fragments of an unfinished header block, so the loop's read buffer
//     is free again once everything is consumed.
//   - Tick(now) at Deadline(): the SETTINGS acknowledgement timeout and
//     the second step of a graceful shutdown. now is the loop's monotonic
//     clock in nanoseconds; the Conn keeps no clock of its own (the reset
//     and control-frame budgets count in windows of that clock too).
//   - Shutdown(now) on reload or stop: GOAWAY for the drain (RFC 9113
//     §6.8); Close(code) to end at once (an idle timeout).
//
// # What comes out
//
// Events (see EventKind): a stream's request head (EventRequest, with a
// Request that embeds the http1.Request the exchange layer already
// serves), its body (EventData) and trailers (EventTrailers), its reset by
// the client or by the codec (EventReset), flow-control credit that lets a
// stream send again (EventWindow), the client's GOAWAY (EventGoAway), a
// request the codec answered itself (EventRefused, for the log) and the end
// of the connection (EventClosed).
//
// The exchange answers with WriteHeaders, WriteData (which takes what the
// windows and the output buffer allow and says how much), WriteTrailers
// and Reset, and returns request-body credit with Consume once it has
// passed the bytes on: that is how a slow upstream slows the client.
//
// Everything the connection must send (the exchange's responses, and the
// codec's own SETTINGS, acknowledgements, WINDOW_UPDATEs, RST_STREAMs,
// GOAWAYs) is appended to one output buffer: the loop sends Output() and
// reports what the socket took with Sent(n).
//
// # Who owns which buffer
//
//   - The input belongs to the loop. Event.Data is a slice of it, valid
//     until the loop reuses it.
//   - A Request (and its trailers) live in memory the stream borrowed
//     from the Pool; they stay valid until the stream is closed (by the
//     end of its response, a reset or the connection's end) and the next
//     call into the Conn has begun.
//   - Output() is the Conn's, borrowed from the Pool while it holds
//     anything and given back when Sent drains it.
//   - The Pool belongs to the loop: one per worker, passed to each Conn,
//     not safe for concurrent use. Streams, head buffers, header-block
//     buffers and output buffers come from it and go back to it, so an
//     idle connection holds only its Conn (568 bytes) and the HPACK table
//     its client filled (a few hundred bytes to 4 KiB).
//
// A warm connection allocates nothing per request (TestZeroAllocationsPerRequest).
// Limits and their defaults are in Config; DESIGN.md in this directory
// describes how the codec meets the event loop and the exchange layer.
package http2
