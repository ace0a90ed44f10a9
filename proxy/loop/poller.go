package loop

import (
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Epoll event data layout: Fd holds the file descriptor and Pad a generation
// number. A descriptor number is reused as soon as it is closed, so an event
// queued for an old connection must not reach the new owner of its number:
// the loop compares the generation before acting.

const (
	// connEvents is what a connection is registered for, once, for its whole
	// life: edge-triggered reads and writes and the peer's half-close. No
	// epoll_ctl call is ever needed to switch between reading and writing.
	connEvents = unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET
	// listenerEvents: level-triggered so that a backlog left over after an
	// accept batch is reported again; EPOLLEXCLUSIVE wakes one loop per
	// connection instead of all of them.
	listenerEvents = unix.EPOLLIN | unix.EPOLLEXCLUSIVE
)

// poller is one loop's epoll set plus the eventfd that other goroutines
// use to wake it.
//
// The Go runtime's poller does not watch the set itself but a second
// epoll set, parkfd, which holds the first only while the loop parks
// (attach, detach). An epoll set inside another wakes every thread
// blocked on the outer one at each event of the inner one, ready or not:
// with the set in the runtime's poller for good, any thread of the
// runtime parked in its poller — there is one whenever a P is idle, as
// with GOMAXPROCS above the number of busy loops, or after the loop's
// goroutine moved to another thread — woke up for every socket event of
// a loop that was running anyway, found nothing to do and slept again:
// 0.43 wake-ups and 0.8 context switches per request under h2load
// (bench/h2.bash, one worker, GOMAXPROCS=2), most of them taking the
// loop's own CPU.
type poller struct {
	epfd    int
	eventfd int
	// parkfd holds epfd while attached; file is parkfd in the Go
	// runtime's poller, through which a loop with nothing to do parks
	// (wait.go); raw is its RawConn.
	parkfd   int
	attached bool
	file     *os.File
	raw      syscall.RawConn
}

func newPoller() (poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return poller{}, fmt.Errorf("epoll_create1: %w", err)
	}
	p := poller{epfd: epfd, eventfd: -1, parkfd: -1}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		p.close()
		return poller{}, fmt.Errorf("eventfd: %w", err)
	}
	p.eventfd = efd
	if err := p.add(efd, unix.EPOLLIN, 0); err != nil {
		p.close()
		return poller{}, err
	}
	parkfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		p.close()
		return poller{}, fmt.Errorf("epoll_create1: %w", err)
	}
	p.parkfd = parkfd
	if err := unix.SetNonblock(parkfd, true); err != nil {
		p.close()
		return poller{}, fmt.Errorf("epoll set non-blocking: %w", err)
	}
	p.file = os.NewFile(uintptr(parkfd), "epoll")
	raw, err := p.file.SyscallConn()
	if err != nil {
		p.close()
		return poller{}, fmt.Errorf("epoll in the runtime poller: %w", err)
	}
	p.raw = raw
	return p, nil
}

// attach puts the loop's set in the one the runtime watches, before the
// loop parks. Events already ready make the outer set ready at once, so
// none is missed between the loop's last look and its park.
func (p *poller) attach() syscall.Errno {
	if p.attached {
		return 0
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(p.epfd)}
	if _, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(p.parkfd), unix.EPOLL_CTL_ADD, uintptr(p.epfd), uintptr(unsafe.Pointer(&ev)), 0, 0); e != 0 {
		return e
	}
	p.attached = true
	return 0
}

// detach takes the loop's set out of the one the runtime watches, once
// the loop runs from event to event without parking.
func (p *poller) detach() {
	if !p.attached {
		return
	}
	syscall.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(p.parkfd), unix.EPOLL_CTL_DEL, uintptr(p.epfd), 0, 0, 0)
	p.attached = false
}

func (p *poller) add(fd int, events uint32, gen uint32) error {
	ev := unix.EpollEvent{Events: events, Fd: int32(fd), Pad: int32(gen)}
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("epoll_ctl add fd %d: %w", fd, err)
	}
	return nil
}

func (p *poller) remove(fd int) error {
	if err := unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, fd, nil); err != nil {
		return fmt.Errorf("epoll_ctl del fd %d: %w", fd, err)
	}
	return nil
}

// wake makes the loop's next epoll_wait return.
func (p *poller) wake() {
	var one = [8]byte{1}
	unix.Write(p.eventfd, one[:])
}

// drainWake consumes the eventfd counter.
func (p *poller) drainWake() {
	var buf [8]byte
	unix.Read(p.eventfd, buf[:])
}

func (p *poller) close() {
	if p.eventfd >= 0 {
		unix.Close(p.eventfd)
	}
	if p.file != nil {
		p.file.Close()
	} else if p.parkfd >= 0 {
		unix.Close(p.parkfd)
	}
	unix.Close(p.epfd)
}

// taskQueue is how other goroutines reach a loop: they append a function
// and wake the poller; the loop runs the functions on its own goroutine,
// so what the loop owns is never shared.
type taskQueue struct {
	mu    sync.Mutex
	tasks []task
	spare []task
}

// task is a function posted to the loop, and whom it concerns.
type task struct {
	owner any
	f     func()
}

func (q *taskQueue) push(t task) {
	q.mu.Lock()
	q.tasks = append(q.tasks, t)
	q.mu.Unlock()
}

// take returns the queued tasks; the caller hands the slice back with
// recycle when done, so steady-state posting does not allocate.
func (q *taskQueue) take() []task {
	q.mu.Lock()
	t := q.tasks
	q.tasks = q.spare[:0]
	q.spare = nil
	q.mu.Unlock()
	return t
}

// pending counts the tasks queued and not yet taken.
func (q *taskQueue) pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.tasks)
}

func (q *taskQueue) recycle(t []task) {
	clear(t)
	q.mu.Lock()
	if q.spare == nil {
		q.spare = t[:0]
	}
	q.mu.Unlock()
}
