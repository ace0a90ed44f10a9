package desynctest

import "strings"

// Mutation is one case of frontdoor's own smuggling suite: a request as a
// client sends it, with the verdict of the parser and of the engine.
type Mutation struct {
	Group string // what is mutated: "te", "cl", "chunked", "names", "absolute", "host", "http10", "line"
	Name  string
	// Raw is what the client sends: the head and the body (FollowUp is
	// sent behind it).
	Raw string
	// Parser is the parser's verdict on Raw+FollowUp (the first head, then
	// the chunked body or the Content-Length bytes): 0 when it accepts the
	// request, else the status of the refusal.
	Parser int
	// Status is the engine's answer in front of an application: 200 when
	// the request reaches the application, else the engine's own status.
	Status int
	// Close: the engine closes the connection after the answer, so that
	// nothing sent behind the request is ever read as another request.
	Close bool
	// Body is what the application receives as the body when Status is 200.
	Body string
	// Then is the answer to the bytes that follow Raw when the connection
	// stays open: 0 means the client's next request is served normally;
	// 400 means the leftover of Raw itself (bytes beyond the declared
	// length) is read as the next request, and refused.
	Then int
}

// FollowUp is sent behind every mutation, on the same connection: the
// client's next request when the connection stays open, bytes that must
// never be read when the engine closes it.
const FollowUp = "GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"

// MutationMaxBody is the body limit the engine runs the mutations with, so
// that the 413 cases stay small.
const MutationMaxBody = 64 << 10

const chunkedHello = "5\r\nhello\r\n0\r\n\r\n"

func post(fields, body string) string {
	return "POST /m HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n" + body
}

func get(fields string) string { return "GET /m HTTP/1.1\r\nHost: a\r\n" + fields + "\r\n" }

func te(v string) string { return "Transfer-Encoding: " + v + "\r\n" }

func cl(v string) string { return "Content-Length: " + v + "\r\n" }

func chunkedBody(body string) string { return post(te("chunked"), body) }

// served: accepted by the parser, forwarded, the connection kept.
func served(group, name, raw, body string) Mutation {
	return Mutation{Group: group, Name: name, Raw: raw, Status: 200, Body: body}
}

// refused: refused by the parser with status, the connection closed.
func refused(group, name, raw string, status int) Mutation {
	return Mutation{Group: group, Name: name, Raw: raw, Parser: status, Status: status, Close: true}
}

// clientHello is the start of a TLS 1.2+ ClientHello record, as a browser
// sends it to a port it wrongly believes speaks TLS.
const clientHello = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" +
	"\x8a\x1f\x00\x9c\xd2\x45\x10\x77\x0e\x51\x7c\x2b\x99\xf0\x3a\x42" +
	"\x61\x08\xee\x13\x07\xc4\x5d\x26\xab\x34\x90\x0d\x1e\x72\xc8\x5f" +
	"\x20\x00\x3e\x13\x02\x13\x03\x13\x01\xc0\x2c\xc0\x30"

// Mutations is frontdoor's own request-smuggling table: Transfer-Encoding
// and Content-Length mutations, chunk framing, header names, absolute-form
// targets, Host conflicts, HTTP/1.0 and request-line garbage, each with the
// verdict RFC 9112 (or frontdoor's stated strictness) calls for.
func Mutations() []Mutation {
	ms := []Mutation{
		// Transfer-Encoding: only a final "chunked" frames a body; codings
		// before it are understood but not implemented (501, RFC 9112 §6.1).
		served("te", "chunked", post(te("chunked"), chunkedHello), "hello"),
		served("te", "Chunked (case)", post(te("Chunked"), chunkedHello), "hello"),
		served("te", "CHUNKED (case)", post(te("CHUNKED"), chunkedHello), "hello"),
		served("te", "lower-case field name", post("transfer-encoding: chunked\r\n", chunkedHello), "hello"),
		served("te", "upper-case field name", post("TRANSFER-ENCODING: chunked\r\n", chunkedHello), "hello"),
		served("te", "spaces and tabs around the value", post("Transfer-Encoding: \t chunked \t\r\n", chunkedHello), "hello"),
		served("te", "empty list elements", post(te(", ,chunked,"), chunkedHello), "hello"),
		served("te", "identity before chunked", post(te("identity, chunked"), chunkedHello), "hello"),
		served("te", "parameter on chunked", post(te("chunked;x=1"), chunkedHello), "hello"),
		{Group: "te", Name: "gzip before chunked", Raw: post(te("gzip, chunked"), chunkedHello), Status: 501, Close: true},
		{Group: "te", Name: "gzip and chunked in two fields", Raw: post(te("gzip")+te("chunked"), chunkedHello), Status: 501, Close: true},
		refused("te", "chunked not last", post(te("chunked, gzip"), chunkedHello), 400),
		refused("te", "chunked twice in a list", post(te("chunked, chunked"), chunkedHello), 400),
		refused("te", "chunked in two fields", post(te("chunked")+te("chunked"), chunkedHello), 400),
		refused("te", "identity alone", post(te("identity"), "hello"), 400),
		refused("te", "empty value", post(te(""), chunkedHello), 400),
		refused("te", "quoted chunked", post(te(`"chunked"`), chunkedHello), 400),
		refused("te", "xchunked", post(te("xchunked"), chunkedHello), 400),
		refused("te", "chunk (truncated name)", post(te("chunk"), chunkedHello), 400),
		refused("te", "unknown coding", post(te("cow, chunked"), chunkedHello), 400),
		refused("te", "vertical tab after chunked", post(te("chunked\x0b"), chunkedHello), 400),
		refused("te", "NUL after chunked", post(te("chunked\x00"), chunkedHello), 400),
		refused("te", "high-bit byte after chunked", post(te("chunked\xff"), chunkedHello), 400),
		refused("te", "space before the colon", post("Transfer-Encoding : chunked\r\n", chunkedHello), 400),
		refused("te", "tab before the colon", post("Transfer-Encoding\t: chunked\r\n", chunkedHello), 400),
		refused("te", "underscore lookalike", post("Transfer_Encoding: chunked\r\n", chunkedHello), 400),
		refused("te", "double-dash lookalike", post("Transfer--Encoding: chunked\r\n", chunkedHello), 400),
		refused("te", "leading space (folded onto the previous line)", post(" Transfer-Encoding: chunked\r\n", chunkedHello), 400),
		refused("te", "value folded onto a new line", post("Transfer-Encoding:\r\n chunked\r\n", chunkedHello), 400),
		refused("te", "with Content-Length after", post(te("chunked")+cl("15"), chunkedHello), 400),
		refused("te", "with Content-Length before", post(cl("15")+te("chunked"), chunkedHello), 400),
		refused("te", "with Content-Length: 0", post(cl("0")+te("chunked"), chunkedHello), 400),
		refused("te", "on HTTP/1.0", "POST /m HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"+chunkedHello, 400),
		refused("te", "on GET", get(te("chunked"))+chunkedHello, 400),
		refused("te", "on HEAD", "HEAD /m HTTP/1.1\r\nHost: a\r\n"+te("chunked")+"\r\n"+chunkedHello, 400),

		// Content-Length: 1*DIGIT, once.
		served("cl", "plain", post(cl("5"), "hello"), "hello"),
		served("cl", "leading zeros", post(cl("005"), "hello"), "hello"),
		served("cl", "zero", post(cl("0"), ""), ""),
		served("cl", "spaces around the value", post("Content-Length:  5 \r\n", "hello"), "hello"),
		served("cl", "tab before the value", post("Content-Length:\t5\r\n", "hello"), "hello"),
		served("cl", "zero on GET", get(cl("0")), ""),
		refused("cl", "plus sign", post(cl("+5"), "hello"), 400),
		refused("cl", "negative", post(cl("-5"), "hello"), 400),
		refused("cl", "hex", post(cl("0x5"), "hello"), 400),
		refused("cl", "decimal point", post(cl("5.0"), "hello"), 400),
		refused("cl", "exponent", post(cl("1e1"), "helloworld"), 400),
		refused("cl", "space inside", post(cl("5 5"), "hello"), 400),
		refused("cl", "list of equal values", post(cl("5,5"), "hello"), 400),
		refused("cl", "list with a space", post(cl("5, 5"), "hello"), 400),
		refused("cl", "empty", post(cl(""), "hello"), 400),
		refused("cl", "19 digits", post(cl("1000000000000000005"), "hello"), 400),
		refused("cl", "twice, equal", post(cl("5")+cl("5"), "hello"), 400),
		refused("cl", "twice, different", post(cl("5")+cl("6"), "hello!"), 400),
		refused("cl", "space before the colon", post("Content-Length : 5\r\n", "hello"), 400),
		refused("cl", "underscore lookalike", post("Content_Length: 5\r\n", "hello"), 400),
		refused("cl", "NUL in the value", post(cl("5\x00"), "hello"), 400),
		refused("cl", "on GET", get(cl("5"))+"hello", 400),
		refused("cl", "on HEAD", "HEAD /m HTTP/1.1\r\nHost: a\r\n"+cl("5")+"\r\nhello", 400),
		{Group: "cl", Name: "shorter than the body: the rest is the next request", Raw: post(cl("3"), "hello"),
			Status: 200, Body: "hel", Then: 400},
		{Group: "cl", Name: "longer than the body: the next request's bytes are body", Raw: post(cl("10"), "hello"),
			Status: 200, Body: "helloGET /", Then: 400},
		{Group: "cl", Name: "over the body limit", Raw: post(cl("70000"), strings.Repeat("b", 70000)), Status: 413, Close: true},

		// Chunk framing (RFC 9112 §7.1).
		served("chunked", "leading zeros in the size", chunkedBody("0005\r\nhello\r\n0\r\n\r\n"), "hello"),
		served("chunked", "15 hex digits", chunkedBody("000000000000005\r\nhello\r\n0\r\n\r\n"), "hello"),
		served("chunked", "upper-case hex", chunkedBody("A\r\n0123456789\r\n0\r\n\r\n"), "0123456789"),
		served("chunked", "space after the size", chunkedBody("5 \r\nhello\r\n0\r\n\r\n"), "hello"),
		served("chunked", "tab after the size", chunkedBody("5\t\r\nhello\r\n0\r\n\r\n"), "hello"),
		served("chunked", "extension", chunkedBody("5;name=value\r\nhello\r\n0\r\n\r\n"), "hello"),
		served("chunked", "extension without value", chunkedBody("5;name\r\nhello\r\n0;x\r\n\r\n"), "hello"),
		served("chunked", "two extensions", chunkedBody("5;a=b;c=d\r\nhello\r\n0\r\n\r\n"), "hello"),
		served("chunked", "quoted extension with space and ;", chunkedBody("5;a=\"b c;d\"\r\nhello\r\n0\r\n\r\n"), "hello"),
		served("chunked", "NUL in chunk data", chunkedBody("5\r\nhe\x00lo\r\n0\r\n\r\n"), "he\x00lo"),
		served("chunked", "trailer field (dropped)", chunkedBody("5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"), "hello"),
		served("chunked", "Content-Length in the trailer (dropped)", chunkedBody("5\r\nhello\r\n0\r\nContent-Length: 99\r\n\r\n"), "hello"),
		served("chunked", "Transfer-Encoding in the trailer (dropped)", chunkedBody("5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n"), "hello"),
		{Group: "chunked", Name: "second last-chunk is the next request", Raw: chunkedBody("5\r\nhello\r\n0\r\n\r\n0\r\n\r\n"),
			Status: 200, Body: "hello", Then: 400},
		refused("chunked", "16 hex digits", chunkedBody("0000000000000005\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "size overflow", chunkedBody("ffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "0x prefix", chunkedBody("0x5\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "negative size", chunkedBody("-5\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "plus sign", chunkedBody("+5\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "space before the size", chunkedBody(" 5\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "no size", chunkedBody("\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "high-bit byte after the size", chunkedBody("5\xff\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "space before an extension", chunkedBody("5 ;a=b\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "CR inside an extension", chunkedBody("5;a\rb\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "LF inside an extension", chunkedBody("5;a\nb\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "NUL inside an extension", chunkedBody("5;a\x00\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "@ inside an extension", chunkedBody("5;a@b\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "quoted-pair in an extension (not supported)", chunkedBody("5;a=\"\\\"\"\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "extension line too long", chunkedBody("5;"+strings.Repeat("a", 5000)+"\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "bare LF after the size", chunkedBody("5\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "bare CR after the size", chunkedBody("5\rhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "bare LF after the data", chunkedBody("5\r\nhello\n0\r\n\r\n"), 400),
		refused("chunked", "bare CR after the data", chunkedBody("5\r\nhello\r0\r\n\r\n"), 400),
		refused("chunked", "no CRLF after the data", chunkedBody("5\r\nhello0\r\n\r\n"), 400),
		refused("chunked", "data longer than the size", chunkedBody("3\r\nhello\r\n0\r\n\r\n"), 400),
		refused("chunked", "bare LF after the last chunk", chunkedBody("5\r\nhello\r\n0\n\r\n"), 400),
		refused("chunked", "bare LF ending the trailers", chunkedBody("5\r\nhello\r\n0\r\n\n"), 400),
		refused("chunked", "bare LF in a trailer", chunkedBody("5\r\nhello\r\n0\r\nX: 1\n\r\n"), 400),
		refused("chunked", "obs-fold in a trailer", chunkedBody("5\r\nhello\r\n0\r\nX: 1\r\n y\r\n\r\n"), 400),
		refused("chunked", "NUL in a trailer", chunkedBody("5\r\nhello\r\n0\r\nX: \x00\r\n\r\n"), 400),
		refused("chunked", "trailer section too large", chunkedBody("5\r\nhello\r\n0\r\nX: "+strings.Repeat("a", 17<<10)+"\r\n\r\n"), 431),
		{Group: "chunked", Name: "body over the limit", Raw: chunkedBody("11170\r\n" + strings.Repeat("b", 70000) + "\r\n0\r\n\r\n"),
			Status: 413, Close: true},

		// Header names and values.
		served("names", "underscore in a name (dropped before forwarding)", get("X_Forwarded_For: 6.6.6.6\r\n"), ""),
		served("names", "high-bit bytes in a value", get("X-V: caf\xe9\r\n"), ""),
		served("names", "tab inside a value", get("X-V: a\tb\r\n"), ""),
		refused("names", "NUL in a name", get("X-\x00: 1\r\n"), 400),
		refused("names", "high-bit byte in a name", get("X-\xff: 1\r\n"), 400),
		refused("names", "UTF-8 in a name", get("X-\xc3\xa9: 1\r\n"), 400),
		refused("names", "DEL in a name", get("X-\x7f: 1\r\n"), 400),
		refused("names", "high-bit byte ending Transfer-Encoding", post("Transfer-Encoding\xff: chunked\r\n", chunkedHello), 400),
		refused("names", "high-bit byte ending Content-Length", post("Content-Length\xff: 5\r\n", "hello"), 400),
		refused("names", "slash in a name", get("X/Y: 1\r\n"), 400),
		refused("names", "empty name", get(": 1\r\n"), 400),
		refused("names", "no colon", get("X-V 1\r\n"), 400),
		refused("names", "NUL in a value", get("X-V: a\x00b\r\n"), 400),
		refused("names", "vertical tab in a value", get("X-V: a\x0bb\r\n"), 400),
		refused("names", "bare CR in a value", get("X-V: a\rb\r\n"), 400),
		refused("names", "header block too large", get("X-V: "+strings.Repeat("a", 17<<10)+"\r\n"), 431),
		refused("names", "too many fields", get(strings.Repeat("X-V: 1\r\n", 101)), 431),

		// Absolute-form targets (RFC 9112 §3.2.2): the authority is the
		// host, and a Host field must agree with it.
		served("absolute", "agreeing with Host", "GET http://a/m HTTP/1.1\r\nHost: a\r\n\r\n", ""),
		served("absolute", "agreeing with Host in another case", "GET HTTP://A/m HTTP/1.1\r\nHost: a\r\n\r\n", ""),
		served("absolute", "https scheme", "GET https://a/m HTTP/1.1\r\nHost: a\r\n\r\n", ""),
		served("absolute", "IPv6 literal with port", "GET http://[::1]:8080/m HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", ""),
		served("absolute", "no path", "GET http://a HTTP/1.1\r\nHost: a\r\n\r\n", ""),
		served("absolute", "double slash is a path, not an authority", "GET //a/m HTTP/1.1\r\nHost: a\r\n\r\n", ""),
		refused("absolute", "disagreeing with Host", "GET http://evil/m HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		refused("absolute", "port disagreeing with Host", "GET http://a:8080/m HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		refused("absolute", "IPv6 literal disagreeing", "GET http://[::2]/m HTTP/1.1\r\nHost: [::1]\r\n\r\n", 400),
		refused("absolute", "userinfo", "GET http://u:p@a/m HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		refused("absolute", "userinfo in both", "GET http://u@a/m HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
		refused("absolute", "no Host field on HTTP/1.1", "GET http://a/m HTTP/1.1\r\n\r\n", 400),
		refused("absolute", "ftp scheme", "GET ftp://a/m HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		refused("absolute", "query without a path (not supported)", "GET http://a?q=1 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		refused("absolute", "one slash after the scheme", "GET http:/a/m HTTP/1.1\r\nHost: a\r\n\r\n", 400),

		// Host (RFC 9112 §3.2: exactly one, a valid authority).
		served("host", "tab before the value", "GET /m HTTP/1.1\r\nHost:\ta\r\n\r\n", ""),
		served("host", "empty value", "GET /m HTTP/1.1\r\nHost:\r\n\r\n", ""),
		served("host", "with port", "GET /m HTTP/1.1\r\nHost: a:8080\r\n\r\n", ""),
		refused("host", "missing on HTTP/1.1", "GET /m HTTP/1.1\r\n\r\n", 400),
		refused("host", "twice, equal", "GET /m HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400),
		refused("host", "twice, different", "GET /m HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
		refused("host", "space inside", "GET /m HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
		refused("host", "comma (two hosts folded into one field)", "GET /m HTTP/1.1\r\nHost: a,b\r\n\r\n", 400),
		refused("host", "comma and space", "GET /m HTTP/1.1\r\nHost: a, b\r\n\r\n", 400),
		refused("host", "at sign", "GET /m HTTP/1.1\r\nHost: u@a\r\n\r\n", 400),
		refused("host", "slash", "GET /m HTTP/1.1\r\nHost: a/b\r\n\r\n", 400),
		refused("host", "NUL", "GET /m HTTP/1.1\r\nHost: a\x00\r\n\r\n", 400),
		refused("host", "bad port", "GET /m HTTP/1.1\r\nHost: a:8o\r\n\r\n", 400),
		refused("host", "port too long", "GET /m HTTP/1.1\r\nHost: a:123456\r\n\r\n", 400),
		refused("host", "two ports", "GET /m HTTP/1.1\r\nHost: a:1:2\r\n\r\n", 400),

		// HTTP/1.0: no Host needed, keep-alive only when asked for, no
		// Transfer-Encoding (RFC 9112 §6.1).
		served("http10", "keep-alive", "GET /m HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", ""),
		served("http10", "body with keep-alive", "POST /m HTTP/1.0\r\nConnection: keep-alive\r\nContent-Length: 5\r\n\r\nhello", "hello"),
		{Group: "http10", Name: "without keep-alive", Raw: "GET /m HTTP/1.0\r\n\r\n", Status: 200, Close: true},
		{Group: "http10", Name: "keep-alive, close", Raw: "GET /m HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", Status: 200, Close: true},
		{Group: "http10", Name: "absolute-form without Host", Raw: "GET http://a/m HTTP/1.0\r\n\r\n", Status: 200, Close: true},
		refused("http10", "Transfer-Encoding with keep-alive", "POST /m HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"+chunkedHello, 400),
		refused("http10", "Transfer-Encoding and Content-Length", "POST /m HTTP/1.0\r\nContent-Length: 15\r\nTransfer-Encoding: chunked\r\n\r\n"+chunkedHello, 400),

		// The request line (RFC 9112 §3): METHOD SP target SP HTTP/1.x CRLF.
		served("line", "plain", get(""), ""),
		served("line", "one empty line before", "\r\n"+get(""), ""),
		served("line", "HTTP/1.2 served as 1.1", "GET /m HTTP/1.2\r\nHost: a\r\n\r\n", ""),
		served("line", "query", "GET /m?a=b&c HTTP/1.1\r\nHost: a\r\n\r\n", ""),
		refused("line", "five empty lines before", "\r\n\r\n\r\n\r\n\r\n"+get(""), 400),
		refused("line", "tab after the method", "GET\t/m HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		refused("line", "tab after the target", "GET /m\tHTTP/1.1\r\nHost: a\r\n\r\n", 400),
		refused("line", "two spaces after the method", "GET  /m HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		refused("line", "two spaces after the target", "GET /m  HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		refused("line", "space before the method", " GET /m HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		refused("line", "space after the version", "GET /m HTTP/1.1 \r\nHost: a\r\n\r\n", 400),
		refused("line", "lower-case method", "get /m HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		refused("line", "method of 21 letters", strings.Repeat("G", 21)+" /m HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		refused("line", "extra token", "GET /m HTTP/1.1 extra\r\nHost: a\r\n\r\n", 400),
		refused("line", "target without a slash", "GET m HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		refused("line", "NUL in the target", "GET /m\x00 HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		refused("line", "bad escape in the path", "GET /m%zz HTTP/1.1\r\nHost: a\r\n\r\n", 400),
		refused("line", "lower-case version", "GET /m http/1.1\r\nHost: a\r\n\r\n", 400),
		refused("line", "version HTTP/1.10", "GET /m HTTP/1.10\r\nHost: a\r\n\r\n", 400),
		refused("line", "bare CR ending the line", "GET /m HTTP/1.1\rHost: a\r\n\r\n", 400),
		refused("line", "bare LF ending the line", "GET /m HTTP/1.1\nHost: a\r\n\r\n", 400),
		refused("line", "version HTTP/2.0", "GET /m HTTP/2.0\r\nHost: a\r\n\r\n", 505),
		refused("line", "version HTTP/0.9", "GET /m HTTP/0.9\r\nHost: a\r\n\r\n", 505),
		refused("line", "HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
		refused("line", "TLS ClientHello on the plain port", clientHello, 400),
		refused("line", "CONNECT", "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n", 501),
		refused("line", "target too long", "GET /"+strings.Repeat("a", 9000)+" HTTP/1.1\r\nHost: a\r\n\r\n", 414),
		refused("line", "unknown expectation", post("Expect: teapot\r\n"+cl("5"), "hello"), 417),
		served("line", "Expect: 100-continue", post("Expect: 100-continue\r\n"+cl("5"), "hello"), "hello"),
	}
	for i := range ms {
		if ms[i].Status == 0 {
			ms[i].Status = 200
		}
	}
	return ms
}
