package http2

// dynTable is an HPACK dynamic table (RFC 7541 §2.3.2, §4): a FIFO of
// fields whose size (name + value + 32 per entry) stays within max. The
// bytes live in a ring, the entries in a second ring; both are allocated
// only when a field is first inserted and grow to what the peer uses, so a
// connection whose client indexes little costs little while it is idle.
type dynTable struct {
	data []byte       // ring of entry bytes, name then value
	ents []tableEntry // ring of entries, oldest at head
	head int          // index in ents of the oldest entry
	n    int          // entries
	w    int          // next write position in data
	used int          // bytes of data in use
	size uint32       // RFC 7541 size of the entries
	max  uint32       // current maximum size
}

// tableEntry locates one entry in the data ring. The table's maximum size
// is below 1<<16 (Config.HeaderTableSize is capped), so 16 bits suffice.
type tableEntry struct {
	off, nameLen, valueLen uint16
}

const entryOverhead = 32

// len is the number of entries.
func (t *dynTable) len() int { return t.n }

// setMax changes the maximum size, evicting what no longer fits. A table
// emptied to size 0 gives its storage back.
func (t *dynTable) setMax(max uint32) {
	t.max = max
	t.evictTo(max)
	if max == 0 {
		t.data, t.ents = nil, nil
		t.head, t.w, t.used = 0, 0, 0
	}
}

func (t *dynTable) evictTo(limit uint32) {
	for t.size > limit && t.n > 0 {
		e := t.ents[t.head]
		l := int(e.nameLen) + int(e.valueLen)
		t.used -= l
		t.size -= uint32(l) + entryOverhead
		t.head++
		if t.head == len(t.ents) {
			t.head = 0
		}
		t.n--
	}
	if t.n == 0 {
		t.head, t.w, t.used = 0, 0, 0
	}
}

// add inserts a field as the newest entry. A field larger than the whole
// table empties it and is not inserted (RFC 7541 §4.4).
func (t *dynTable) add(name, value []byte) {
	size := uint32(len(name)) + uint32(len(value)) + entryOverhead
	if size > t.max {
		t.evictTo(0)
		return
	}
	t.evictTo(t.max - size)
	l := len(name) + len(value)
	if t.used+l > len(t.data) {
		t.growData(t.used + l)
	}
	if t.n == len(t.ents) {
		t.growEnts()
	}
	off := t.w
	t.write(name)
	t.write(value)
	t.ents[(t.head+t.n)%len(t.ents)] = tableEntry{uint16(off), uint16(len(name)), uint16(len(value))}
	t.n++
	t.used += l
	t.size += size
}

func (t *dynTable) write(b []byte) {
	k := copy(t.data[t.w:], b)
	if k < len(b) {
		copy(t.data, b[k:])
	}
	t.w += len(b)
	if t.w >= len(t.data) {
		t.w -= len(t.data)
	}
}

// growData moves the ring into storage that holds at least need bytes:
// the next power of two, at least 256, at most the maximum size.
func (t *dynTable) growData(need int) {
	c := 256
	for c < need {
		c <<= 1
	}
	if c > int(t.max) {
		c = int(t.max)
	}
	data := make([]byte, c)
	pos := 0
	for i := 0; i < t.n; i++ {
		e := &t.ents[(t.head+i)%len(t.ents)]
		l := int(e.nameLen) + int(e.valueLen)
		t.read(data[pos:pos+l], int(e.off))
		e.off = uint16(pos)
		pos += l
	}
	t.data, t.w = data, pos
	if t.w == len(t.data) {
		t.w = 0
	}
}

func (t *dynTable) growEnts() {
	c := 2 * len(t.ents)
	if c < 8 {
		c = 8
	}
	ents := make([]tableEntry, c)
	for i := 0; i < t.n; i++ {
		ents[i] = t.ents[(t.head+i)%len(t.ents)]
	}
	t.ents, t.head = ents, 0
}

// read copies len(dst) bytes of the ring starting at off.
func (t *dynTable) read(dst []byte, off int) {
	k := copy(dst, t.data[off:])
	if k < len(dst) {
		copy(dst[k:], t.data)
	}
}

// entry returns the i-th newest entry (1 is the newest).
func (t *dynTable) entry(i int) tableEntry {
	return t.ents[(t.head+t.n-i)%len(t.ents)]
}

// appendName appends the name of entry e to dst.
func (t *dynTable) appendName(dst []byte, e tableEntry) []byte {
	l := len(dst)
	dst = dst[:l+int(e.nameLen)]
	t.read(dst[l:], int(e.off))
	return dst
}

// appendValue appends the value of entry e to dst.
func (t *dynTable) appendValue(dst []byte, e tableEntry) []byte {
	off := int(e.off) + int(e.nameLen)
	if off >= len(t.data) {
		off -= len(t.data)
	}
	l := len(dst)
	dst = dst[:l+int(e.valueLen)]
	t.read(dst[l:], off)
	return dst
}

// memory is the heap the table holds, for accounting.
func (t *dynTable) memory() int { return cap(t.data) + 6*cap(t.ents) }
