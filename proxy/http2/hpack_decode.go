package http2

// Decoder decodes HPACK header blocks (RFC 7541) into caller-owned memory:
// names and values are written into a buffer the caller passes, never
// allocated, and no field is kept beyond the call that returns it except
// in the dynamic table. One Decoder serves one connection's requests.
type Decoder struct {
	table dynTable
	// limit is the largest table size the peer may choose: our
	// SETTINGS_HEADER_TABLE_SIZE.
	limit uint32

	block []byte
	pos   int
	// fields is set once the block's first field is decoded: a table
	// size update may only come before it (RFC 7541 §4.2).
	fields bool
}

// Field is one decoded header field. Name and Value are slices of the
// buffer passed to Next, their capacity running to the buffer's (so a
// caller can tell their offsets from their capacity).
type Field struct {
	Name, Value []byte
	// Sensitive is set for a never-indexed literal (RFC 7541 §6.2.3),
	// which an intermediary must forward as never-indexed too.
	Sensitive bool
	// Size is the field's size for SETTINGS_MAX_HEADER_LIST_SIZE: name
	// plus value plus 32 octets, also when Truncated.
	Size int
	// Truncated is set when the name and value did not fit in the
	// buffer: the field was decoded (and the table updated) but its bytes
	// are not returned.
	Truncated bool
}

// NewDecoder returns a decoder whose dynamic table may grow to tableSize
// octets, the SETTINGS_HEADER_TABLE_SIZE the connection advertises.
func NewDecoder(tableSize uint32) *Decoder {
	d := &Decoder{}
	d.Init(tableSize)
	return d
}

// Init prepares a zero Decoder (or resets a used one) for a new connection.
func (d *Decoder) Init(tableSize uint32) {
	*d = Decoder{limit: tableSize}
	d.table.max = tableSize
}

// Start begins decoding a complete header block.
func (d *Decoder) Start(block []byte) {
	d.block, d.pos, d.fields = block, 0, false
}

// Next decodes the next field of the block. Name and value are appended to
// dst within its spare capacity (dst never grows); when they do not fit the
// field comes back Truncated, its bytes dropped. A caller that keeps at
// least as much spare capacity as the table's size limit never sees a
// field the table needs truncated (a larger field empties the table
// anyway). At the end of the block ok is false. Any error is a decoding
// error: the connection must end with COMPRESSION_ERROR, since the
// decoder's state can no longer match the encoder's.
func (d *Decoder) Next(dst []byte) (f Field, out []byte, ok bool, err error) {
	for d.pos < len(d.block) {
		b := d.block[d.pos]
		switch {
		case b&0x80 != 0: // indexed field
			idx := uint64(b & 0x7f)
			if idx == 0x7f {
				var err error
				if idx, err = d.readInt(7); err != nil {
					return f, dst, false, err
				}
			} else {
				d.pos++ // a one-byte index: the common case
			}
			out, f, err := d.appendIndexed(dst, idx)
			return f, out, err == nil, err
		case b&0xc0 == 0x40: // literal with incremental indexing
			return d.literal(dst, 6, true, false)
		case b&0xe0 == 0x20: // dynamic table size update
			if d.fields {
				return f, dst, false, errHPACKLateSizeUpdate
			}
			size, err := d.readInt(5)
			if err != nil {
				return f, dst, false, err
			}
			if size > uint64(d.limit) {
				return f, dst, false, errHPACKSizeUpdate
			}
			d.table.setMax(uint32(size))
		default: // literal without indexing (0000), never indexed (0001)
			return d.literal(dst, 4, false, b&0x10 != 0)
		}
	}
	return f, dst, false, nil
}

// appendIndexed emits the field at index idx.
func (d *Decoder) appendIndexed(dst []byte, idx uint64) ([]byte, Field, error) {
	d.fields = true
	var f Field
	if idx == 0 {
		return dst, f, errHPACKIndex
	}
	if idx <= uint64(staticTableLen) {
		s := &staticTable[idx-1]
		f.Size = len(s.name) + len(s.value) + entryOverhead
		if cap(dst)-len(dst) < len(s.name)+len(s.value) {
			f.Truncated = true
			return dst, f, nil
		}
		l := len(dst)
		dst = append(dst, s.name...)
		f.Name = dst[l:]
		l = len(dst)
		dst = append(dst, s.value...)
		f.Value = dst[l:]
		return dst, f, nil
	}
	i := idx - uint64(staticTableLen)
	if i > uint64(d.table.len()) {
		return dst, f, errHPACKIndex
	}
	e := d.table.entry(int(i))
	f.Size = int(e.nameLen) + int(e.valueLen) + entryOverhead
	if cap(dst)-len(dst) < int(e.nameLen)+int(e.valueLen) {
		f.Truncated = true
		return dst, f, nil
	}
	// Name and value follow each other in the ring: one copy.
	l, nl := len(dst), int(e.nameLen)
	dst = dst[:l+nl+int(e.valueLen)]
	d.table.read(dst[l:], int(e.off))
	f.Name, f.Value = dst[l:l+nl], dst[l+nl:]
	return dst, f, nil
}

// literal decodes a literal field whose name index has an n-bit prefix.
func (d *Decoder) literal(dst []byte, n uint, index, sensitive bool) (Field, []byte, bool, error) {
	d.fields = true
	f := Field{Sensitive: sensitive}
	idx, err := d.readInt(n)
	if err != nil {
		return f, dst, false, err
	}
	start := len(dst)
	var nameLen int
	var nameFits bool
	if idx > 0 {
		// Copied at once: this very insertion may evict the entry.
		dst, nameLen, nameFits, err = d.appendIndexedName(dst, idx)
	} else {
		dst, nameLen, nameFits, err = d.readString(dst)
	}
	if err != nil {
		return f, dst[:start], false, err
	}
	mid := len(dst)
	dst, valueLen, valueFits, err := d.readString(dst)
	if err != nil {
		return f, dst[:start], false, err
	}
	f.Size = nameLen + valueLen + entryOverhead
	if !nameFits || !valueFits {
		f.Truncated = true
		if index {
			if uint32(f.Size) <= d.table.max {
				// The caller broke the contract of Next: the table
				// needs the bytes that were dropped.
				return f, dst[:start], false, errHPACKNoRoom
			}
			d.table.evictTo(0) // too large for the table: it empties (RFC 7541 §4.4)
		}
		return f, dst[:start], true, nil
	}
	f.Name = dst[start:mid]
	f.Value = dst[mid:]
	if index {
		d.table.add(f.Name, f.Value)
	}
	return f, dst, true, nil
}

// appendIndexedName appends the name of the entry at idx.
func (d *Decoder) appendIndexedName(dst []byte, idx uint64) ([]byte, int, bool, error) {
	if idx == 0 {
		return dst, 0, false, errHPACKIndex
	}
	if idx <= uint64(staticTableLen) {
		name := staticTable[idx-1].name
		if cap(dst)-len(dst) < len(name) {
			return dst, len(name), false, nil
		}
		return append(dst, name...), len(name), true, nil
	}
	i := idx - uint64(staticTableLen)
	if i > uint64(d.table.len()) {
		return dst, 0, false, errHPACKIndex
	}
	e := d.table.entry(int(i))
	if cap(dst)-len(dst) < int(e.nameLen) {
		return dst, int(e.nameLen), false, nil
	}
	return d.table.appendName(dst, e), int(e.nameLen), true, nil
}

// readInt reads an integer with an n-bit prefix (RFC 7541 §5.1). Values
// above 1<<32 are refused: no length or index in a sane block is that big,
// and the bound keeps the arithmetic from overflowing.
func (d *Decoder) readInt(n uint) (uint64, error) {
	mask := uint64(1)<<n - 1
	v := uint64(d.block[d.pos]) & mask
	d.pos++
	if v < mask {
		return v, nil
	}
	var shift uint
	for d.pos < len(d.block) {
		b := d.block[d.pos]
		d.pos++
		v += uint64(b&0x7f) << shift
		if v > 1<<32 {
			return 0, errHPACKInteger
		}
		if b&0x80 == 0 {
			return v, nil
		}
		shift += 7
	}
	return 0, errHPACKTruncated
}

// readString reads a string literal (RFC 7541 §5.2), appending it to dst
// when it fits in dst's spare capacity. It returns the decoded length
// either way.
func (d *Decoder) readString(dst []byte) ([]byte, int, bool, error) {
	if d.pos >= len(d.block) {
		return dst, 0, false, errHPACKTruncated
	}
	huffman := d.block[d.pos]&0x80 != 0
	l, err := d.readInt(7)
	if err != nil {
		return dst, 0, false, err
	}
	if l > uint64(len(d.block)-d.pos) {
		return dst, 0, false, errHPACKTruncated
	}
	src := d.block[d.pos : d.pos+int(l)]
	d.pos += int(l)
	if !huffman {
		if cap(dst)-len(dst) < len(src) {
			return dst, len(src), false, nil
		}
		return append(dst, src...), len(src), true, nil
	}
	start := len(dst)
	dst, n, ok := huffmanDecode(dst, src)
	if !ok {
		return dst[:start], 0, false, errHPACKHuffman
	}
	if len(dst)-start < n {
		return dst[:start], n, false, nil
	}
	return dst, n, true, nil
}

// TableSize is the current size of the dynamic table (RFC 7541 §4.1).
func (d *Decoder) TableSize() int { return int(d.table.size) }

// Memory is the heap the decoder's dynamic table holds.
func (d *Decoder) Memory() int { return d.table.memory() }
