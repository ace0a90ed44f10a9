package proxy

// bufPool is a worker's free list of equally sized buffers. It is used by
// one goroutine only, so it needs no locking; sync.Pool would be shared
// between workers and emptied by every GC. Buffers go back as soon as a
// connection has nothing buffered, which is what keeps an idle keep-alive
// connection down to its struct.
type bufPool struct {
	size int
	free [][]byte
	max  int // free buffers kept; more are left to the GC
}

func newBufPool(size, max int) bufPool { return bufPool{size: size, max: max} }

func (p *bufPool) get() []byte {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return b[:0]
	}
	return make([]byte, 0, p.size)
}

func (p *bufPool) put(b []byte) {
	if b == nil || cap(b) != p.size || len(p.free) >= p.max {
		return
	}
	p.free = append(p.free, b[:0])
}
