package http2

// frameReader cuts a byte stream into frame headers and payload pieces. It
// holds at most one partial frame header (nine bytes); payload bytes are
// handed on as slices of the input, never copied, so a frame of any size
// costs the reader nothing to receive however its bytes are split.
type frameReader struct {
	hdr  [frameHeaderLen]byte
	hdrN int
	fh   frameHeader
	// left is how many payload bytes of fh are still to come.
	left uint32
}

type readStep uint8

const (
	// stepNone: the input is used up.
	stepNone readStep = iota
	// stepHeader: r.fh is a new frame header. Its payload (r.left bytes)
	// follows; a frame without payload is complete at once.
	stepHeader
	// stepPayload: the chunk is the next part of r.fh's payload; r.left
	// bytes remain after it.
	stepPayload
)

// next consumes input and reports the first step it completes. It returns
// the bytes consumed; the rest of in must be passed to the next call.
func (r *frameReader) next(in []byte) (n int, step readStep, chunk []byte) {
	if r.left > 0 {
		k := len(in)
		if uint32(k) > r.left {
			k = int(r.left)
		}
		if k == 0 {
			return 0, stepNone, nil
		}
		r.left -= uint32(k)
		return k, stepPayload, in[:k]
	}
	if r.hdrN == 0 && len(in) >= frameHeaderLen {
		// The common case: a whole header in the input.
		r.fh = parseFrameHeader((*[frameHeaderLen]byte)(in[:frameHeaderLen]))
		r.left = r.fh.length
		return frameHeaderLen, stepHeader, nil
	}
	k := copy(r.hdr[r.hdrN:], in)
	r.hdrN += k
	if r.hdrN < frameHeaderLen {
		return k, stepNone, nil
	}
	r.hdrN = 0
	r.fh = parseFrameHeader(&r.hdr)
	r.left = r.fh.length
	return k, stepHeader, nil
}

// pending reports whether the reader holds part of a frame.
func (r *frameReader) pending() bool { return r.hdrN > 0 || r.left > 0 }
