package tlsterm

import (
	"bytes"
	"crypto/tls"
	"reflect"
	"unsafe"
)

// An established tls.Conn keeps the buffers it grew while reading: the raw
// record buffer and the handshake buffer reach a few KiB with a
// post-quantum ClientHello (an X25519MLKEM768 key share is 1,216 bytes),
// and the plaintext reader keeps a reference into the record buffer. On an
// idle keep-alive connection all three are empty, yet they are most of its
// memory (golang/go#43563 asks for a way to release them). So when a TLS
// connection goes idle (Conn.Idle), they are dropped, by their known offsets in
// tls.Conn. The offsets are looked up once, by name and type, with
// reflection; if a future Go renames or retypes a field, trimming turns
// itself off (connections then just keep their buffers) rather than touch
// the wrong memory.
type trimmer struct {
	rawInput, input, hand uintptr
	ok                    bool
}

// fields is where the trimmed fields sit in a tls.Conn, found once.
var fields = newTrimmer()

func newTrimmer() trimmer {
	t := reflect.TypeFor[tls.Conn]()
	field := func(name string, typ reflect.Type) (uintptr, bool) {
		f, found := t.FieldByName(name)
		return f.Offset, found && f.Type == typ
	}
	var tr trimmer
	var ok1, ok2, ok3 bool
	tr.rawInput, ok1 = field("rawInput", reflect.TypeFor[bytes.Buffer]())
	tr.input, ok2 = field("input", reflect.TypeFor[bytes.Reader]())
	tr.hand, ok3 = field("hand", reflect.TypeFor[bytes.Buffer]())
	tr.ok = ok1 && ok2 && ok3
	return tr
}

// trim releases the connection's read buffers if they hold nothing. It
// must run on the goroutine that owns the connection, outside any Read.
func (tr *trimmer) trim(c *tls.Conn) {
	if !tr.ok {
		return
	}
	base := unsafe.Pointer(c)
	raw := (*bytes.Buffer)(unsafe.Add(base, tr.rawInput))
	in := (*bytes.Reader)(unsafe.Add(base, tr.input))
	hand := (*bytes.Buffer)(unsafe.Add(base, tr.hand))
	if raw.Len() != 0 || in.Len() != 0 || hand.Len() != 0 {
		return
	}
	*raw = bytes.Buffer{}
	*in = bytes.Reader{}
	*hand = bytes.Buffer{}
}

// recordCap is the capacity of the connection's record buffer (-1 when
// the fields were not found: nothing is lent then).
func (tr *trimmer) recordCap(c *tls.Conn) int {
	if !tr.ok {
		return -1
	}
	return (*bytes.Buffer)(unsafe.Add(unsafe.Pointer(c), tr.rawInput)).Cap()
}

// setRecordBuffer makes buf (empty) the connection's record buffer.
func (tr *trimmer) setRecordBuffer(c *tls.Conn, buf []byte) {
	raw := (*bytes.Buffer)(unsafe.Add(unsafe.Pointer(c), tr.rawInput))
	*raw = *bytes.NewBuffer(buf[:0])
}

// takeRecordBuffer takes the connection's record buffer back, empty, if
// its capacity is size and nothing is buffered in it (nor read from it).
func (tr *trimmer) takeRecordBuffer(c *tls.Conn, size int) ([]byte, bool) {
	if !tr.ok {
		return nil, false
	}
	base := unsafe.Pointer(c)
	raw := (*bytes.Buffer)(unsafe.Add(base, tr.rawInput))
	in := (*bytes.Reader)(unsafe.Add(base, tr.input))
	if raw.Len() != 0 || in.Len() != 0 || raw.Cap() != size {
		return nil, false
	}
	raw.Reset()
	buf := raw.AvailableBuffer()
	*raw = bytes.Buffer{}
	*in = bytes.Reader{} // it pointed into the buffer
	return buf, true
}
