package loop

// BufPool is a loop's free list of equally sized buffers. It is used by
// one goroutine only, so it needs no locking; sync.Pool would be shared
// between loops and emptied by every GC. Buffers go back as soon as a
// connection has nothing buffered, which is what keeps an idle keep-alive
// connection down to its struct.
type BufPool struct {
	size int
	free [][]byte
	max  int // free buffers kept; more are left to the GC
}

// NewBufPool returns a pool of buffers of capacity size that keeps up to
// max free ones.
func NewBufPool(size, max int) BufPool { return BufPool{size: size, max: max} }

// Size is the capacity of the pool's buffers (0 for a zero BufPool).
func (p *BufPool) Size() int { return p.size }

// Get returns an empty buffer of capacity Size.
func (p *BufPool) Get() []byte {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return b[:0]
	}
	return make([]byte, 0, p.size)
}

// Put returns a buffer; nil and buffers of another size are ignored.
func (p *BufPool) Put(b []byte) {
	if b == nil || cap(b) != p.size || len(p.free) >= p.max {
		return
	}
	p.free = append(p.free, b[:0])
}
