package http2

// Pool holds the memory connections borrow while they are busy: stream
// state and byte buffers in a few size classes. The event loop owns one per
// worker and passes it to each connection it drives; it is not safe for use
// by several goroutines. What a connection gives back when it goes idle is
// kept here for the next busy one, so an idle connection holds only its
// Conn and its HPACK table.
type Pool struct {
	streams []*stream
	bufs    [numBufClasses][][]byte
	slices  [][]*stream
	// MaxFree bounds the free items kept of each kind (default 1,024),
	// except buffers of more than 1 KiB: of those a class keeps up to
	// 1 MiB, and at least 256.
	MaxFree int
}

const (
	minBufClass   = 10 // 1 KiB
	numBufClasses = 8  // up to 128 KiB
	// maxPooled is the largest buffer the pool keeps: larger ones would
	// be allocated each time, so Config bounds its sizes by it.
	maxPooled = 1 << (minBufClass + numBufClasses - 1)
	// defaultMaxFree is the default MaxFree: the streams of a loaded
	// worker (h2load -c50 -m10 keeps 500 open, each with its stream and
	// the arena of its decoded head) go back to the pool between bursts
	// and come out again, so a smaller bound would let the excess go to
	// the garbage collector and allocate it again a moment later.
	defaultMaxFree = 1024
	// freeBufBytes and minFreeBufs bound the free buffers of a class
	// larger than 1 KiB.
	freeBufBytes = 1 << 20
	minFreeBufs  = 256
)

// NewPool returns an empty pool.
func NewPool() *Pool { return &Pool{MaxFree: defaultMaxFree} }

func bufClass(n int) int {
	c := 0
	for size := 1 << minBufClass; size < n; size <<= 1 {
		c++
	}
	return c
}

// getBuf returns an empty buffer with room for at least n bytes.
func (p *Pool) getBuf(n int) []byte {
	c := bufClass(n)
	if c >= numBufClasses {
		return make([]byte, 0, n)
	}
	if free := p.bufs[c]; len(free) > 0 {
		b := free[len(free)-1]
		free[len(free)-1] = nil
		p.bufs[c] = free[:len(free)-1]
		return b
	}
	return make([]byte, 0, 1<<(minBufClass+c))
}

// putBuf returns a buffer obtained from getBuf (others are left to the
// garbage collector).
func (p *Pool) putBuf(b []byte) {
	if b == nil {
		return
	}
	c := bufClass(cap(b))
	if c >= numBufClasses || cap(b) != 1<<(minBufClass+c) || len(p.bufs[c]) >= p.maxFreeBufs(c) {
		return
	}
	p.bufs[c] = append(p.bufs[c], b[:0])
}

func (p *Pool) maxFree() int {
	if p.MaxFree <= 0 {
		return defaultMaxFree
	}
	return p.MaxFree
}

// maxFreeBufs is how many free buffers class c keeps.
func (p *Pool) maxFreeBufs(c int) int {
	return min(p.maxFree(), max(minFreeBufs, freeBufBytes>>(minBufClass+c)))
}

func (p *Pool) getStream() *stream {
	if n := len(p.streams); n > 0 {
		s := p.streams[n-1]
		p.streams[n-1] = nil
		p.streams = p.streams[:n-1]
		return s
	}
	return &stream{}
}

func (p *Pool) putStream(s *stream) {
	if len(p.streams) < p.maxFree() {
		p.streams = append(p.streams, s)
	}
}

func (p *Pool) getSlice() []*stream {
	if n := len(p.slices); n > 0 {
		s := p.slices[n-1]
		p.slices[n-1] = nil
		p.slices = p.slices[:n-1]
		return s
	}
	return make([]*stream, 0, 8)
}

func (p *Pool) putSlice(s []*stream) {
	if len(p.slices) < p.maxFree() {
		clear(s[:cap(s)])
		p.slices = append(p.slices, s[:0])
	}
}
