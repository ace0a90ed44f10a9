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
// use to wake it, and the bell through which the loop parks.
//
// The loop parks in the Go runtime's poller (wait.go), which must learn
// when the loop's set has events. Registered there directly, the set
// would wake the runtime's poller for every batch of events that arrives
// while the loop is awake and busy — nobody is parked, so each such
// wake-up is wasted: a thread woken on the loop's CPU or another, 24,000
// times a second under load, which cost a busy-polling loop 15–20% of its
// throughput (bench/RESULTS.md). So the runtime's poller watches the bell
// instead: a second epoll set holding the loop's set as one edge-triggered,
// one-shot item. The loop arms it only just before it parks; the first
// event rings it, which disarms it, and the loop takes the ring off
// (harvest) when it wakes, so a busy loop's events go nowhere but to it.
type poller struct {
	epfd    int
	eventfd int
	bell    int
	// armed is set while the bell may ring (armed and not harvested since).
	armed bool
	// file is the bell in the Go runtime's own poller, through which a
	// loop with nothing to do parks (wait.go); raw is its RawConn.
	file *os.File
	raw  syscall.RawConn
}

func newPoller() (poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return poller{}, fmt.Errorf("epoll_create1: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return poller{}, fmt.Errorf("eventfd: %w", err)
	}
	p := poller{epfd: epfd, eventfd: efd, bell: -1}
	if err := p.add(efd, unix.EPOLLIN, 0); err != nil {
		p.close()
		return poller{}, err
	}
	// Non-blocking, so that os.NewFile puts the bell in the runtime's poller.
	bell, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		p.close()
		return poller{}, fmt.Errorf("epoll_create1 (bell): %w", err)
	}
	p.bell = bell
	if err := unix.SetNonblock(bell, true); err != nil {
		p.close()
		return poller{}, fmt.Errorf("epoll set non-blocking: %w", err)
	}
	// Registered disarmed (one-shot, no event yet): arm enables it.
	ev := unix.EpollEvent{Events: bellEvents, Fd: int32(epfd)}
	if err := unix.EpollCtl(bell, unix.EPOLL_CTL_ADD, epfd, &ev); err != nil {
		p.close()
		return poller{}, fmt.Errorf("epoll_ctl add the loop's set to its bell: %w", err)
	}
	p.armed = true
	p.file = os.NewFile(uintptr(bell), "epoll-bell")
	raw, err := p.file.SyscallConn()
	if err != nil {
		p.close()
		return poller{}, fmt.Errorf("epoll in the runtime poller: %w", err)
	}
	p.raw = raw
	return p, nil
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

// bellEvents: the loop's set rings the bell once when it has events, then
// the bell stays silent until armed again.
const bellEvents = unix.EPOLLIN | unix.EPOLLET | unix.EPOLLONESHOT

// arm makes the bell ring at the loop's set's next event — at once if it
// has one already (epoll_ctl checks, so no event is missed between the
// loop's last look and arming).
func (p *poller) arm() syscall.Errno {
	if p.armed {
		return 0
	}
	ev := unix.EpollEvent{Events: bellEvents, Fd: int32(p.epfd)}
	_, _, e := syscall.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(p.bell), unix.EPOLL_CTL_MOD, uintptr(p.epfd), uintptr(unsafe.Pointer(&ev)), 0, 0)
	if e == 0 {
		p.armed = true
	}
	return e
}

// harvest takes a ring off the bell, which leaves it disarmed; a bell
// that has not rung stays armed.
func (p *poller) harvest() {
	if !p.armed {
		return
	}
	var ev [1]unix.EpollEvent
	if n, _ := pollReady(p.bell, ev[:]); n > 0 {
		p.armed = false
	}
}

func (p *poller) close() {
	unix.Close(p.eventfd)
	unix.Close(p.epfd)
	if p.file != nil {
		p.file.Close()
	} else if p.bell >= 0 {
		unix.Close(p.bell)
	}
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
