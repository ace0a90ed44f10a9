package proxy

import (
	"errors"
	"frontdoor/proxy/loop"
	"syscall"

	"golang.org/x/sys/unix"
)

// spool holds a body between two connections: first in memory chunks
// from the worker's buffer pool, then, past memLimit, in an unlinked
// temporary file. Data leaves in the order it arrived. A spool that keeps
// its data (keep) can be sent again from the start (a retried request);
// otherwise memory goes back to the pool as soon as it is sent.
type spool struct {
	chunks   [][]byte // memory part, in order; each from the worker's wpool
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

var errSpoolFull = errors.New("temporary file limit reached")

func (s *spool) init(memLimit, fileMax int64, keep bool) {
	*s = spool{fd: -1, memLimit: memLimit, fileMax: fileMax, keep: keep}
}

// pending is the number of bytes appended and not yet read.
func (s *spool) pending() int64 {
	n := s.memPending() + s.fileW - s.fileR
	for _, c := range s.after {
		n += int64(len(c))
	}
	return n
}

func (s *spool) memPending() int64 {
	var n int64
	for i := s.rdChunk; i < len(s.chunks); i++ {
		n += int64(len(s.chunks[i]))
	}
	return n - int64(s.rdOff)
}

// room reports how many more bytes may be appended before the file limit.
// The limit is on the file's size, sent part included: the space of the
// sent part comes back only when the whole file is drained (truncated), so
// counting only the unsent part would let a client that never quite
// catches up pile the whole response up on disk.
func (s *spool) room() int64 {
	if !s.inFile && s.memBytes < s.memLimit {
		return s.memLimit - s.memBytes + s.fileMax
	}
	return s.fileMax - s.fileW
}

// tail returns free memory at the end of the spool to read into directly,
// or nil when new data must go to the file.
func (s *spool) tail(w *worker) []byte {
	if s.inFile || s.memBytes >= s.memLimit {
		return nil
	}
	if n := len(s.chunks); n > 0 {
		last := s.chunks[n-1]
		if len(last) < cap(last) {
			return last[len(last):cap(last)]
		}
	}
	c := w.wpool.Get()
	s.chunks = append(s.chunks, c)
	return c[:cap(c)]
}

// commit records n bytes read into the slice tail returned.
func (s *spool) commit(n int) {
	last := &s.chunks[len(s.chunks)-1]
	*last = (*last)[:len(*last)+n]
	s.memBytes += int64(n)
	s.total += int64(n)
}

// append copies p into the spool (memory while allowed, else the file).
// On ENOSPC or the file limit it returns an error and appends nothing.
func (s *spool) append(w *worker, p []byte) error {
	for len(p) > 0 {
		if t := s.tail(w); t != nil {
			n := copy(t, p)
			s.commit(n)
			p = p[n:]
			continue
		}
		if err := s.appendFile(w, p); err != nil {
			return err
		}
		return nil
	}
	return nil
}

func (s *spool) appendFile(w *worker, p []byte) error {
	if s.fileW+int64(len(p)) > s.fileMax {
		return errSpoolFull
	}
	if s.fd < 0 {
		fd, err := unix.Open(w.e.tempDir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
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

// forceMemory appends p to memory regardless of the memory limit: for the
// few bytes already read from the application when the temporary file
// cannot take them (disk full). Reading then stops until the client
// drains, so memory stays bounded by one read.
func (s *spool) forceMemory(w *worker, p []byte) bool {
	s.fileMax = 0 // no more file for this spool
	if s.inFile {
		if s.fileR < s.fileW {
			// The file still has data to send, and these bytes come
			// after it: they wait in after (room is now negative, so
			// nothing more is read until the file is drained).
			s.after = appendCopy(w, s.after, p)
			s.memBytes += int64(len(p))
			s.total += int64(len(p))
			return true
		}
		s.inFile = false
	}
	s.chunks = appendCopy(w, s.chunks, p)
	s.memBytes += int64(len(p))
	s.total += int64(len(p))
	return true
}

// appendCopy copies p to the end of chunks, filling the last one first.
func appendCopy(w *worker, chunks [][]byte, p []byte) [][]byte {
	for len(p) > 0 {
		if n := len(chunks); n == 0 || len(chunks[n-1]) == cap(chunks[n-1]) {
			chunks = append(chunks, w.wpool.Get())
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
func (s *spool) fileDrained() bool {
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
func (s *spool) nextChunk(w *worker) bool {
	ch := s.chunks[s.rdChunk]
	if s.rdChunk == len(s.chunks)-1 && !s.keep && len(ch) < cap(ch) && !s.inFile {
		return false
	}
	if !s.keep {
		s.memBytes -= int64(len(ch))
		w.wpool.Put(ch)
		s.chunks[s.rdChunk] = nil
	}
	s.rdChunk++
	s.rdOff = 0
	return true
}

// compactChunks empties the chunk list once every chunk is sent, so the
// list does not grow with a long response.
func (s *spool) compactChunks() {
	if !s.keep && s.rdChunk > 0 && s.rdChunk == len(s.chunks) {
		s.chunks, s.rdChunk = s.chunks[:0], 0
	}
}

// sendToConn writes pending data to a client connection: with sendTo on a
// plain socket, through the TLS layer otherwise (reading the file part with
// pread, since sendfile cannot encrypt).
func (s *spool) sendToConn(w *worker, c *conn) syscall.Errno {
	if c.ts == nil {
		return s.sendTo(w, c.fd)
	}
	for s.rdChunk < len(s.chunks) {
		ch := s.chunks[s.rdChunk]
		if s.rdOff < len(ch) {
			n, errno := w.connSend(c, ch[s.rdOff:], false)
			if errno != 0 {
				return errno
			}
			s.rdOff += n
			continue
		}
		if !s.nextChunk(w) {
			break
		}
	}
	s.compactChunks()
	for s.fileR < s.fileW {
		buf := w.tlsScratch[:min(int64(len(w.tlsScratch)), s.fileW-s.fileR)]
		r, errno := loop.Pread(s.fd, buf, s.fileR)
		if errno != 0 || r == 0 {
			return syscall.EIO
		}
		n, errno := w.connSend(c, buf[:r], false)
		if errno != 0 {
			return errno
		}
		s.fileR += int64(n)
	}
	if !s.keep && s.inFile && s.fileR == s.fileW && s.memPending() == 0 && s.fileDrained() {
		return s.sendToConn(w, c)
	}
	return 0
}

// sendTo writes pending data to the socket fd, memory first, then the file
// with sendfile. It returns when everything pending is sent (0), the socket
// is full (EAGAIN) or on another error.
func (s *spool) sendTo(w *worker, fd int) syscall.Errno {
	for s.rdChunk < len(s.chunks) {
		c := s.chunks[s.rdChunk]
		if s.rdOff < len(c) {
			n, errno := loop.Send(fd, c[s.rdOff:], false)
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
		if !s.nextChunk(w) {
			break
		}
	}
	s.compactChunks()
	for s.fileR < s.fileW {
		off := s.fileR
		n, errno := loop.Sendfile(fd, s.fd, &off, int(min(s.fileW-s.fileR, sendfileChunk)))
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
		return s.sendTo(w, fd)
	}
	return 0
}

// rewind makes a keeping spool send everything again.
func (s *spool) rewind() {
	s.rdChunk, s.rdOff, s.fileR = 0, 0, 0
}

// release returns memory to the pool and closes the file.
func (s *spool) release(w *worker) {
	for _, c := range s.chunks {
		if c != nil {
			w.wpool.Put(c)
		}
	}
	for _, c := range s.after {
		w.wpool.Put(c)
	}
	if s.fd >= 0 {
		unix.Close(s.fd)
	}
	chunks := s.chunks[:0]
	clear(s.chunks)
	*s = spool{fd: -1, chunks: chunks}
}
