package upstream

import (
	"io"
	"log/slog"
	"strconv"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"frontdoor/proxy/loop"
)

// TestDialAllocatesNothing: a connection dialled after another was closed
// reuses its struct. Behind a proxy whose pool keeps fewer idle
// connections than its load has requests in flight, connections are
// dialled and closed all the time (bench/h2.bash: 500 streams, 64 idle
// kept), and an allocation per dial fed the garbage collector.
func TestDialAllocatesNothing(t *testing.T) {
	l, err := loop.New(time.Now(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lfd := listenLoopback(t)
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := parseAddr("127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
	if err != nil {
		t.Fatal(err)
	}
	m := &Member{Server: srv, weight: 1}
	p := NewPool(l, 1, 2)
	var u *Conn
	cycle := func() {
		var errno syscall.Errno
		u, errno = p.Dial(m, nil)
		if errno != 0 {
			t.Fatalf("dial: %v", errno)
		}
		// accept4 without an address, so that accepting allocates nothing.
		afd, _, e := syscall.Syscall6(syscall.SYS_ACCEPT4, uintptr(lfd), 0, 0, syscall.SOCK_CLOEXEC, 0, 0)
		if e != 0 {
			t.Fatalf("accept: %v", e)
		}
		syscall.Close(int(afd))
		p.Close(u)
	}
	cycle()
	if a := testing.AllocsPerRun(200, cycle); a != 0 {
		t.Fatalf("%.2f allocations per dialled connection, want 0", a)
	}
	// What a stale reference would find in a closed connection: no
	// descriptor (its number may belong to another socket by now).
	if u.Fd != -1 || u.state != connClosed || u.Owner != nil || u.Readable {
		t.Fatalf("closed connection kept fd %d, state %d", u.Fd, u.state)
	}
}

// listenLoopback returns a blocking listening socket on 127.0.0.1, a port
// chosen by the kernel.
func listenLoopback(t *testing.T) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		t.Fatal(err)
	}
	return fd
}

// TestPoolKeepsItsSurplusUntilTheEndOfTheTurn: connections given back
// beyond the pool's size stay usable until Trim (the end of the loop's
// turn), so a request in the same turn takes one instead of dialling;
// Trim then closes the least recently used down to the size.
func TestPoolKeepsItsSurplusUntilTheEndOfTheTurn(t *testing.T) {
	l, err := loop.New(time.Now(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lfd := listenLoopback(t)
	sa, err := unix.Getsockname(lfd)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := parseAddr("127.0.0.1:" + strconv.Itoa(sa.(*unix.SockaddrInet4).Port))
	if err != nil {
		t.Fatal(err)
	}
	m := &Member{Server: srv, weight: 1}
	p := NewPool(l, 1, 2)
	p.Size = 2
	var conns []*Conn
	for i := 0; i < 4; i++ {
		u, errno := p.Dial(m, nil)
		if errno != 0 {
			t.Fatalf("dial: %v", errno)
		}
		conns = append(conns, u)
	}
	t.Cleanup(func() {
		for _, u := range conns {
			p.Close(u)
		}
	})
	for _, u := range conns {
		p.Put(u)
	}
	if m.nidle != 4 {
		t.Fatalf("%d idle connections within the turn, want the 4 given back", m.nidle)
	}
	// A request of the same turn reuses one (the most recently used).
	if u := p.TakeIdle(m, nil); u != conns[3] {
		t.Fatalf("took %p, want the last one given back %p", u, conns[3])
	}
	p.Put(conns[3])
	p.Trim()
	if m.nidle != 2 || m.idle != conns[3] || m.idle.nextIdle != conns[2] {
		t.Fatalf("after the turn: %d idle, want the 2 most recently used", m.nidle)
	}
	for _, u := range conns[:2] {
		if u.Busy() || u.Fd != -1 {
			t.Fatalf("a least recently used connection is still open (fd %d)", u.Fd)
		}
	}
}
