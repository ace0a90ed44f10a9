package http2

// SniffPreface tells whether the first bytes of a cleartext connection
// open HTTP/2 with prior knowledge (RFC 9113 §3.3): isH2 once the client
// preface is complete, sure as soon as the answer is known (at the first
// byte that differs, or with the whole preface). A loop that offers h2c on
// a listener reads until sure, then hands the connection to a Conn (feeding
// it the same bytes) or to the HTTP/1.1 parser.
func SniffPreface(b []byte) (isH2, sure bool) {
	n := min(len(b), len(clientPreface))
	if string(b[:n]) != clientPreface[:n] {
		return false, true
	}
	return n == len(clientPreface), n == len(clientPreface)
}
