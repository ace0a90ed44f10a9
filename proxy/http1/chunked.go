package http1

// ChunkedDecoder decodes a chunked message body (RFC 9112 §7.1) without
// copying: Decode hands back slices of its input. Chunk extensions are
// checked and skipped; trailer fields are checked, and discarded unless
// KeepTrailer asks for them. The zero value is ready for a new body.
type ChunkedDecoder struct {
	state      chunkState
	size       int64 // bytes left in the current chunk
	lineLen    int   // bytes of the current size or trailer line so far
	digits     int   // hex digits in the current size
	sawCR      bool  // the previous byte was the CR of a line end
	inExt      bool  // a ';' has started chunk extensions on this line
	trailingWS bool  // whitespace followed the size digits
	trailers   int   // bytes of trailer section so far
	// MaxChunkLine bounds a chunk-size line with its extensions; 0 → 4096.
	MaxChunkLine int
	// MaxTrailerBytes bounds the trailer section; 0 → 16 KiB.
	MaxTrailerBytes int
	// KeepTrailer: the trailer section's field lines (each with its
	// CRLF, without the empty line that ends the body) are collected in
	// Trailer, for a client that gets them other than in chunked framing
	// (an HTTP/2 stream's trailing HEADERS). Reset clears both, keeping
	// Trailer's memory.
	KeepTrailer bool
	Trailer     []byte
}

type chunkState uint8

const (
	chunkSize    chunkState = iota // reading hex digits
	chunkExt                       // after the size: extensions until CRLF
	chunkData                      // inside chunk data
	chunkDataCR                    // expecting CR after data
	chunkDataLF                    // expecting LF after data
	chunkTrailer                   // reading trailer lines after the last chunk
	chunkDone                      // final CRLF seen
)

// Reset prepares the decoder for a new body.
func (d *ChunkedDecoder) Reset() {
	maxLine, maxTrailer := d.MaxChunkLine, d.MaxTrailerBytes
	*d = ChunkedDecoder{MaxChunkLine: maxLine, MaxTrailerBytes: maxTrailer, Trailer: d.Trailer[:0]}
}

// Done reports whether the whole body, trailers included, has been decoded.
func (d *ChunkedDecoder) Done() bool { return d.state == chunkDone }

// Decode consumes bytes from in and returns how many it consumed and the
// body data among them (a slice of in; possibly empty). Call it again with
// the unconsumed rest and new bytes until Done. It stops after each run of
// data so that callers can handle data before framing that follows it.
func (d *ChunkedDecoder) Decode(in []byte) (consumed int, data []byte, err error) {
	maxLine := d.MaxChunkLine
	if maxLine == 0 {
		maxLine = 4096
	}
	maxTrailer := d.MaxTrailerBytes
	if maxTrailer == 0 {
		maxTrailer = 16 << 10
	}
	i := 0
	for i < len(in) {
		c := in[i]
		switch d.state {
		case chunkSize:
			if v, ok := HexDigit(c); ok {
				if d.digits == 15 { // 16^15 bytes is more than any body limit
					return i, nil, errBadChunk
				}
				d.size = d.size<<4 | int64(v)
				d.digits++
				d.lineLen++
				i++
				continue
			}
			if d.digits == 0 {
				return i, nil, errBadChunk
			}
			d.state = chunkExt
		case chunkExt:
			if done, err := d.lineByte(c, maxLine); err != nil {
				return i, nil, err
			} else if done {
				d.lineLen = 0
				if d.size == 0 {
					d.state = chunkTrailer
				} else {
					d.state = chunkData
				}
			}
			i++
		case chunkData:
			n := int64(len(in) - i)
			if n > d.size {
				n = d.size
			}
			d.size -= n
			if d.size == 0 {
				d.state = chunkDataCR
			}
			return i + int(n), in[i : i+int(n)], nil
		case chunkDataCR:
			if c != '\r' {
				return i, nil, errBadChunk
			}
			d.state = chunkDataLF
			i++
		case chunkDataLF:
			if c != '\n' {
				return i, nil, errBadChunk
			}
			d.state, d.digits, d.size = chunkSize, 0, 0
			i++
		case chunkTrailer:
			if d.trailers++; d.trailers > maxTrailer {
				return i, nil, errTrailerTooLarge
			}
			i++
			if d.KeepTrailer {
				d.Trailer = append(d.Trailer, c)
			}
			if d.sawCR {
				if c != '\n' {
					return i, nil, errBareCR
				}
				d.sawCR = false
				if d.lineLen == 0 {
					d.state = chunkDone
					if d.KeepTrailer {
						d.Trailer = d.Trailer[:len(d.Trailer)-2] // the empty line
					}
					return i, nil, nil
				}
				d.lineLen = 0
				continue
			}
			switch {
			case c == '\r':
				d.sawCR = true
			case c == '\n':
				return i, nil, errBareLF
			case isValueCtl(c) && c != '\t':
				return i, nil, errBadValue
			case d.lineLen == 0 && (c == ' ' || c == '\t'):
				return i, nil, errObsFold
			default:
				d.lineLen++
			}
		case chunkDone:
			return i, nil, nil
		}
	}
	return i, nil, nil
}

// lineByte handles one byte of a chunk-size line after the digits: chunk
// extensions are tokens, '=', quoted-string characters, ';' and whitespace.
// It reports true when the line's CRLF is complete.
func (d *ChunkedDecoder) lineByte(c byte, maxLine int) (bool, error) {
	if d.lineLen++; d.lineLen > maxLine {
		return false, errChunkLine
	}
	if d.sawCR {
		if c != '\n' {
			return false, errBareCR
		}
		d.sawCR, d.inExt, d.trailingWS = false, false, false
		return true, nil
	}
	switch {
	case c == '\r':
		d.sawCR = true
	case c == '\n':
		return false, errBareLF
	case d.inExt && (c == ';' || c == '=' || c == '"' || c == ' ' || c == '\t' || isTchar[c]):
	case c == ';' && !d.trailingWS:
		d.inExt = true
	case c == ' ' || c == '\t':
		// Whitespace may end the size line; before a ';' it is refused, as
		// Go's and gunicorn's readers refuse it.
		d.trailingWS = true
	default:
		return false, errBadChunk
	}
	return false, nil
}

// HexDigit returns the value of one hexadecimal digit, upper or lower case.
func HexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
