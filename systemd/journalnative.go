package systemd

import (
	"bytes"
	"encoding/binary"
	"net"
)

// DefaultJournalSocket is where systemd-journald takes datagrams in its
// native protocol.
const DefaultJournalSocket = "/run/systemd/journal/socket"

// maxNativeEntry bounds what goes in one datagram; journald's socket takes
// far more, but a longer message is an accident better split by lines.
const maxNativeEntry = 128 << 10

// journalNative sends multi-line records to journald's native socket: on
// the stream (stderr) journald files each line as an entry of its own,
// so a Python traceback would become forty entries; a native datagram
// carries the message whole (MESSAGE in the protocol's binary-safe form).
// Used under the caller's lock (journalOutput.mu).
type journalNative struct {
	path   string
	conn   *net.UnixConn
	broken bool // the socket could not be reached: use the stream
	buf    bytes.Buffer
}

// send writes one entry: priority, the identifier, and message (which may
// hold newlines). It returns false when the entry must go to the stream
// instead (no journal socket, too long, a failed send).
func (j *journalNative) send(priority byte, message []byte) bool {
	if j == nil || j.broken || len(message) > maxNativeEntry {
		return false
	}
	if j.conn == nil {
		conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: j.path, Net: "unixgram"})
		if err != nil {
			j.broken = true
			return false
		}
		j.conn = conn
	}
	b := &j.buf
	b.Reset()
	b.WriteString("PRIORITY=")
	b.WriteByte(priority)
	b.WriteString("\nSYSLOG_IDENTIFIER=frontdoor\nMESSAGE\n")
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(message)))
	b.Write(n[:])
	b.Write(message)
	b.WriteByte('\n')
	if _, err := j.conn.Write(b.Bytes()); err != nil {
		return false
	}
	return true
}
