package loop

import (
	"bytes"
	"strconv"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The hot path calls the kernel directly. Non-blocking socket calls use
// RawSyscall: they never block, so the scheduler hand-off that
// syscall.Syscall performs around each call is pure overhead. Calls that can
// wait on a disk (sendfile, pread) use Syscall so the runtime can run other
// goroutines meanwhile. None of these allocate.

// Read reads from a non-blocking descriptor.
func Read(fd int, p []byte) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	n, _, e := syscall.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	return int(n), e
}

// Peek looks for one byte on a socket without taking it: EAGAIN when
// there is none. Unlike unix.Recvfrom it allocates no address.
func Peek(fd int) syscall.Errno {
	var b [1]byte
	_, _, e := syscall.RawSyscall6(unix.SYS_RECVFROM, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), 1,
		uintptr(unix.MSG_PEEK|unix.MSG_DONTWAIT), 0, 0)
	return e
}

// Send writes p to a socket. MSG_NOSIGNAL turns a write to a closed peer
// into EPIPE instead of a signal; MSG_MORE (when more is set) tells TCP that
// a body follows, so a head and a sendfile body leave in full segments.
func Send(fd int, p []byte, more bool) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	flags := unix.MSG_NOSIGNAL | unix.MSG_DONTWAIT
	if more {
		flags |= unix.MSG_MORE
	}
	n, _, e := syscall.RawSyscall6(unix.SYS_SENDTO, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), uintptr(flags), 0, 0)
	return int(n), e
}

// Sendfile copies up to n bytes of file in, from *off, to socket out, and
// advances *off. The file's own offset is untouched, so one cached file
// descriptor serves many connections at once.
func Sendfile(out, in int, off *int64, n int) (int, syscall.Errno) {
	w, _, e := syscall.Syscall6(unix.SYS_SENDFILE, uintptr(out), uintptr(in), uintptr(unsafe.Pointer(off)), uintptr(n), 0, 0)
	return int(w), e
}

// Pread reads from a file at an offset (the fallback when sendfile cannot
// be used, and the way TLS connections read files).
func Pread(fd int, p []byte, off int64) (int, syscall.Errno) {
	if len(p) == 0 {
		return 0, 0
	}
	n, _, e := syscall.Syscall6(unix.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)), uintptr(off), 0, 0)
	return int(n), e
}

// Accept accepts a connection as non-blocking and close-on-exec, and
// fills sa with the peer address.
func Accept(fd int, sa *unix.RawSockaddrAny) (int, syscall.Errno) {
	l := uint32(unix.SizeofSockaddrAny)
	n, _, e := syscall.RawSyscall6(unix.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(sa)), uintptr(unsafe.Pointer(&l)), unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, 0)
	return int(n), e
}

// Close closes a descriptor (closing takes it out of every epoll set).
func Close(fd int) {
	syscall.RawSyscall(unix.SYS_CLOSE, uintptr(fd), 0, 0)
}

// pollReady is epoll_wait with a zero timeout: the events ready now.
// It never blocks, so it is a raw system call like the others here.
func pollReady(epfd int, events []unix.EpollEvent) (int, syscall.Errno) {
	n, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	return int(n), e
}

// yield lets any other runnable thread on this CPU go first.
func yield() {
	syscall.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
}

// runDelay reads how long the thread that runs the loop has waited for
// a CPU. The loop's goroutine is not locked to a thread (wait.go), so the
// thread's statistics are opened again whenever it runs on another one.
type runDelay struct {
	tid int // the thread whose statistics fd is open; 0: none
	fd  int
	buf [64]byte
}

// read returns the nanoseconds the calling thread has spent runnable but
// waiting for a CPU, the second of the three numbers in its schedstat;
// fresh when the thread is not the one of the last read.
func (r *runDelay) read() (waited int64, fresh, ok bool) {
	tid, _, _ := syscall.RawSyscall(unix.SYS_GETTID, 0, 0, 0)
	if int(tid) != r.tid {
		r.close()
		fd, err := unix.Open("/proc/thread-self/schedstat", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, false, false
		}
		r.tid, r.fd, fresh = int(tid), fd, true
	}
	waited, ok = threadRunDelay(r.fd, r.buf[:])
	return waited, fresh, ok
}

func (r *runDelay) close() {
	if r.tid != 0 {
		unix.Close(r.fd)
		r.tid = 0
	}
}

// threadRunDelay reads the run delay from a schedstat file.
func threadRunDelay(fd int, buf []byte) (int64, bool) {
	n, _, e := syscall.RawSyscall6(unix.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)), 0, 0, 0)
	if e != 0 {
		return 0, false
	}
	f := buf[:n]
	sp := bytes.IndexByte(f, ' ')
	if sp < 0 {
		return 0, false
	}
	f = f[sp+1:]
	if end := bytes.IndexByte(f, ' '); end >= 0 {
		f = f[:end]
	}
	if len(f) == 0 || f[0] < '0' || f[0] > '9' {
		return 0, false // ParseInt would take a sign
	}
	// A view of buf, not a copy: read every 5 ms, it must not allocate.
	v, err := strconv.ParseInt(unsafe.String(&f[0], len(f)), 10, 64)
	return v, err == nil
}
