package upstream

import (
	"errors"
	"frontdoor/proxy/loop"
	"syscall"

	"golang.org/x/sys/unix"
)

// Spool holds a body between two connections: first in memory chunks
// from the worker's buffer pool, then, past memLimit, in an unlinked
// temporary file. Data leaves in the order it arrived. A spool that keeps
// its data (keep) can be sent again from the start (a retried request);
// otherwise memory goes back to the pool as soon as it is sent.
type Spool struct {
	bufs    *loop.BufPool // where memory chunks come from
	tempDir string        // where the temporary file is made

	chunks   [][]byte // memory part, in order; each from bufs
	rdChunk  int      // read cursor: chunk index
	rdOff    int      // and offset in it
	memBytes int64    // bytes held in memory (unsent, or all when keep)

	fd     int   // temporary file, -1 until needed
	fileW  int64 // bytes written to the file
	fileR  int64 // bytes of the file already sent
	inFile bool  // new data goes to the file until it is drained
	// after holds what came when the file could take no more while it
	// still had data to send (a full disk): it follows the file's data,
	// and becomes the memory part once the file is drained.
	after [][]byte

	total    int64 // bytes ever appended
	memLimit int64
	fileMax  int64
	keep     bool
}

// ErrSpoolFull: the temporary file would pass its limit.
var ErrSpoolFull = errors.New("temporary file limit reached")

// Sink is where a spool's bytes go: a socket, or a connection's TLS
// layer.
type Sink interface {
	// Send writes p like send(2) on a non-blocking socket.
	Send(p []byte) (int, syscall.Errno)
	// SendFile writes up to n bytes of the file fd from off, like
	// sendfile(2); 0 bytes without an error means the file ended.
	SendFile(fd int, off int64, n int) (int, syscall.Errno)
}

// sendfileChunk caps one sendfile call so that one large body cannot
// monopolise the loop.
const sendfileChunk = 4 << 20

// NewSpool returns an empty spool whose memory comes from bufs and whose
// temporary file is made in tempDir.
func NewSpool(bufs *loop.BufPool, tempDir string) Spool {
	return Spool{bufs: bufs, tempDir: tempDir, fd: -1}
}

// Init prepares the spool for a body: up to memLimit bytes in memory,
// then up to fileMax in the file; keep holds the data for Rewind.
func (s *Spool) Init(memLimit, fileMax int64, keep bool) {
	*s = Spool{bufs: s.bufs, tempDir: s.tempDir, fd: -1, memLimit: memLimit, fileMax: fileMax, keep: keep}
}

// Total is the number of bytes ever appended.
func (s *Spool) Total() int64 { return s.total }

// MemLimit is the memory the spool holds before it writes to its file.
func (s *Spool) MemLimit() int64 { return s.memLimit }

// InFile reports that new data goes to the file until it is drained.
func (s *Spool) InFile() bool { return s.inFile }

// Pending is the number of bytes appended and not yet sent.
func (s *Spool) Pending() int64 {
	n := s.memPending() + s.fileW - s.fileR
	for _, c := range s.after {
		n += int64(len(c))
	}
	return n
}

func (s *Spool) memPending() int64 {
	var n int64
	for i := s.rdChunk; i < len(s.chunks); i++ {
		n += int64(len(s.chunks[i]))
	}
	return n - int64(s.rdOff)
}

// Room reports how many more bytes may be appended before the file limit.
// The limit is on the file's size, sent part included: the space of the
// sent part comes back only when the whole file is drained (truncated), so
// counting only the unsent part would let a client that never quite
// catches up pile the whole response up on disk.
func (s *Spool) Room() int64 {
	if !s.inFile && s.memBytes < s.memLimit {
		return s.memLimit - s.memBytes + s.fileMax
	}
	return s.fileMax - s.fileW
}

// Tail returns free memory at the end of the spool to read into directly,
// or nil when new data must go to the file.
func (s *Spool) Tail() []byte {
	if s.inFile || s.memBytes >= s.memLimit {
		return nil
	}
	if n := len(s.chunks); n > 0 {
		last := s.chunks[n-1]
		if len(last) < cap(last) {
			return last[len(last):cap(last)]
		}
	}
	c := s.bufs.Get()
	s.chunks = append(s.chunks, c)
	return c[:cap(c)]
}

// Commit records n bytes read into the slice Tail returned.
func (s *Spool) Commit(n int) {
	last := &s.chunks[len(s.chunks)-1]
	*last = (*last)[:len(*last)+n]
	s.memBytes += int64(n)
	s.total += int64(n)
}

// Append copies p into the spool (memory while allowed, else the file).
// On ENOSPC or the file limit it returns an error; what memory took of p
// stays.
func (s *Spool) Append(p []byte) error {
	_, err := s.append(p)
	return err
}

// append is Append, reporting how much of p it took before an error.
func (s *Spool) append(p []byte) (int, error) {
	taken := 0
	for len(p) > 0 {
		if t := s.Tail(); t != nil {
			n := copy(t, p)
			s.Commit(n)
			p = p[n:]
			taken += n
			continue
		}
		if err := s.appendFile(p); err != nil {
			return taken, err
		}
		return taken + len(p), nil
	}
	return taken, nil
}

func (s *Spool) appendFile(p []byte) error {
	if s.fileW+int64(len(p)) > s.fileMax {
		return ErrSpoolFull
	}
	if s.fd < 0 {
		fd, err := unix.Open(s.tempDir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		s.fd = fd
	}
	start := s.fileW
	for off := 0; off < len(p); {
		n, err := unix.Pwrite(s.fd, p[off:], s.fileW)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			// Leave the file as it was (a partial write before ENOSPC
			// included): what was written past fileW is ignored and
			// overwritten later.
			s.fileW = start
			return err
		}
		off += n
		s.fileW += int64(n)
	}
	s.inFile = true
	s.total += int64(len(p))
	return nil
}

// AppendAlways appends p, to memory regardless of the memory limit when
// the file cannot take it: for the few bytes already read from the
// application when the temporary file cannot take them (disk full).
// Reading then stops until the client drains, so memory stays bounded by
// one read.
func (s *Spool) AppendAlways(p []byte) {
	if n, err := s.append(p); err != nil {
		s.forceMemory(p[n:]) // what memory took already is in place
	}
}

// forceMemory appends p to memory regardless of the memory limit.
func (s *Spool) forceMemory(p []byte) bool {
	s.fileMax = 0 // no more file for this spool
	if s.inFile {
		if s.fileR < s.fileW {
			// The file still has data to send, and these bytes come
			// after it: they wait in after (room is now negative, so
			// nothing more is read until the file is drained).
			s.after = s.appendCopy(s.after, p)
			s.memBytes += int64(len(p))
			s.total += int64(len(p))
			return true
		}
		s.inFile = false
	}
	s.chunks = s.appendCopy(s.chunks, p)
	s.memBytes += int64(len(p))
	s.total += int64(len(p))
	return true
}

// appendCopy copies p to the end of chunks, filling the last one first.
func (s *Spool) appendCopy(chunks [][]byte, p []byte) [][]byte {
	for len(p) > 0 {
		if n := len(chunks); n == 0 || len(chunks[n-1]) == cap(chunks[n-1]) {
			chunks = append(chunks, s.bufs.Get())
		}
		last := &chunks[len(chunks)-1]
		k := copy((*last)[len(*last):cap(*last)], p)
		*last = (*last)[:len(*last)+k]
		p = p[k:]
	}
	return chunks
}

// fileDrained runs when everything written to the file has been sent: the
// next data can go to memory again, the file space is reused from the
// start, and what waited behind the file (after) is sent next. It reports
// whether there is more to send.
func (s *Spool) fileDrained() bool {
	s.inFile = false
	s.fileR, s.fileW = 0, 0
	unix.Ftruncate(s.fd, 0)
	if len(s.after) == 0 {
		return false
	}
	s.chunks = append(s.chunks, s.after...)
	clear(s.after)
	s.after = s.after[:0]
	return true
}

// nextChunk moves the reader past the chunk it has sent, returning the
// chunk to the pool unless the spool keeps its data for a retry. It
// returns false, and stays, when that chunk is the last and still fills:
// it remains the tail that writes append to.
func (s *Spool) nextChunk() bool {
	ch := s.chunks[s.rdChunk]
	if s.rdChunk == len(s.chunks)-1 && !s.keep && len(ch) < cap(ch) && !s.inFile {
		return false
	}
	if !s.keep {
		s.memBytes -= int64(len(ch))
		s.bufs.Put(ch)
		s.chunks[s.rdChunk] = nil
	}
	s.rdChunk++
	s.rdOff = 0
	return true
}

// compactChunks empties the chunk list once every chunk is sent, so the
// list does not grow with a long response.
func (s *Spool) compactChunks() {
	if !s.keep && s.rdChunk > 0 && s.rdChunk == len(s.chunks) {
		s.chunks, s.rdChunk = s.chunks[:0], 0
	}
}

// SendTo writes pending data to out, memory first, then the file. It
// returns when everything pending is sent (0), out is full (EAGAIN) or on
// another error.
func (s *Spool) SendTo(out Sink) syscall.Errno {
	for s.rdChunk < len(s.chunks) {
		c := s.chunks[s.rdChunk]
		if s.rdOff < len(c) {
			n, errno := out.Send(c[s.rdOff:])
			if errno != 0 {
				if errno == syscall.EINTR {
					continue
				}
				return errno
			}
			s.rdOff += n
			if s.rdOff < len(c) {
				continue
			}
		}
		if !s.nextChunk() {
			break
		}
	}
	s.compactChunks()
	for s.fileR < s.fileW {
		n, errno := out.SendFile(s.fd, s.fileR, int(min(s.fileW-s.fileR, sendfileChunk)))
		if errno != 0 {
			if errno == syscall.EINTR {
				continue
			}
			return errno
		}
		if n == 0 {
			return syscall.EIO
		}
		s.fileR += int64(n)
	}
	if !s.keep && s.inFile && s.fileR == s.fileW && s.memPending() == 0 && s.fileDrained() {
		return s.SendTo(out)
	}
	return 0
}

// Rewind makes a keeping spool send everything again.
func (s *Spool) Rewind() {
	s.rdChunk, s.rdOff, s.fileR = 0, 0, 0
}

// Release returns memory to the pool and closes the file.
func (s *Spool) Release() {
	for _, c := range s.chunks {
		if c != nil {
			s.bufs.Put(c)
		}
	}
	for _, c := range s.after {
		s.bufs.Put(c)
	}
	if s.fd >= 0 {
		unix.Close(s.fd)
	}
	chunks := s.chunks[:0]
	clear(s.chunks)
	*s = Spool{bufs: s.bufs, tempDir: s.tempDir, fd: -1, chunks: chunks}
}
