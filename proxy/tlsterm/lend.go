package tlsterm

// Buffers lent by the loop. crypto/tls grows a record buffer as it reads
// and never gives it back; the transport appends the ciphertext it is
// given to its output buffer. Dropping both when a connection goes idle
// (trim.go) keeps an idle connection small, but a busy one then grows
// them again on its next request: a few allocations per request over
// HTTP/1.1 keep-alive, and per burst of streams over HTTP/2, enough to
// run the garbage collector several times a second under load. So the
// loop lends both from its pool of write-sized buffers: crypto/tls its
// record buffer for a burst of reads (until the socket has no more), the
// transport its output buffer until everything in it is sent. A buffer
// that had to grow beyond the pool's size (a record larger than it, a
// large response) stays with the connection until it is idle, as before.

// lendRecordBuffer gives crypto/tls a record buffer from the loop's pool
// when it has none (the connection was trimmed, or the last burst of
// reads gave it back).
func (c *Conn) lendRecordBuffer() {
	if c.done && fields.recordCap(c.tls) == 0 {
		fields.setRecordBuffer(c.tls, c.records.Get())
	}
}

// returnRecordBuffer takes back a lent record buffer that holds nothing.
func (c *Conn) returnRecordBuffer() {
	if !c.done {
		return
	}
	if b, ok := fields.takeRecordBuffer(c.tls, c.records.Size()); ok {
		c.records.Put(b)
	}
}

// lendOutput gives the transport an output buffer from the loop's pool
// when it has none and the ciphertext of n bytes of plaintext fits in
// one (records add a few percent: a header and a tag each; a larger
// write grows a buffer of its own, as it would grow a lent one).
func (c *Conn) lendOutput(n int) {
	if !c.done || n+n/32+64 > c.records.Size() {
		return
	}
	t := c.t
	t.mu.Lock()
	if t.out == nil {
		t.out = c.records.Get()
	}
	t.mu.Unlock()
}
