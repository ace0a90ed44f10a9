package loop

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The tests of how a loop waits assert counts — turns, expiries — never
// durations: an idle loop must make no turn at all, however long it is
// watched.

type testHooks struct{}

func (testHooks) AfterTurn()             {}
func (testHooks) Recovered(_ any, r any) { panic(r) }

type countingOwner struct{ fired atomic.Int32 }

func (o *countingOwner) OnTimeout(TimerKind) { o.fired.Add(1) }

// runLoop starts a loop on a goroutine of its own and stops it when the
// test ends.
func runLoop(t *testing.T) *Loop {
	t.Helper()
	l, err := New(time.Now(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(testHooks{})
	}()
	t.Cleanup(func() {
		l.Post(nil, l.Stop)
		select {
		case <-done:
			l.Close()
		case <-time.After(10 * time.Second):
			t.Error("the loop did not stop") // and is left running
		}
	})
	return l
}

// onLoop runs f on l's goroutine and waits for it (at most 10 s: a loop
// that missed the post fails the test instead of hanging it).
func onLoop(t *testing.T, l *Loop, f func()) {
	t.Helper()
	if !ranOnLoop(l, f) {
		t.Fatal("a task posted to the loop did not run within 10 s")
	}
}

// ranOnLoop runs f on l's goroutine and reports whether it ran within
// 10 s (for goroutines other than the test's).
func ranOnLoop(l *Loop, f func()) bool {
	ran := make(chan struct{})
	l.Post(nil, func() {
		f()
		close(ran)
	})
	select {
	case <-ran:
		return true
	case <-time.After(10 * time.Second):
		return false
	}
}

// waitFor polls cond until it holds or 10 s have passed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestIdleLoopMakesNoTurn: a loop with nothing to do, or only a timer far
// ahead (an idle keep-alive connection's), is parked and makes no turn —
// no heartbeat, no polling — for longer than the one-second heartbeat it
// once had.
func TestIdleLoopMakesNoTurn(t *testing.T) {
	l := runLoop(t)
	var far Timer
	far.Owner = &countingOwner{}
	for _, armed := range []bool{false, true} {
		onLoop(t, l, func() {
			if armed {
				l.SetTimeout(1, time.Hour)
				l.Arm(&far, 1)
			}
		})
		before := l.Turns()
		time.Sleep(1500 * time.Millisecond)
		if n := l.Turns() - before; n != 0 {
			t.Fatalf("an idle loop (timer armed: %v) made %d turns", armed, n)
		}
	}
}

// TestParkedLoopWakesForItsTimers: a timer armed while the loop is parked
// on a later deadline moves the deadline earlier; each timer fires once,
// and an idle loop turns only for them.
func TestParkedLoopWakesForItsTimers(t *testing.T) {
	l := runLoop(t)
	owner := &countingOwner{}
	var far, near Timer
	far.Owner, near.Owner = owner, owner
	onLoop(t, l, func() { l.ArmAt(&far, 1, l.Now()+int64(time.Hour)) })
	start := l.Turns()
	onLoop(t, l, func() { l.ArmAt(&near, 2, l.Now()+int64(20*time.Millisecond)) })
	waitFor(t, "the near timer", func() bool { return owner.fired.Load() == 1 })
	// Let any extra turn happen before counting.
	time.Sleep(100 * time.Millisecond)
	// One turn ran the task that armed the timer, one its expiry; the
	// runtime may wake the loop once more on the way (an early timer).
	if n := l.Turns() - start; n < 2 || n > 3 {
		t.Fatalf("arming and firing one timer took %d turns, want 2 (3 at most)", n)
	}
	var farArmed bool
	onLoop(t, l, func() { farArmed = far.Armed() })
	if owner.fired.Load() != 1 || !farArmed {
		t.Fatalf("fired %d times, far timer armed %v", owner.fired.Load(), farArmed)
	}
	// Ten timers due one after the other, armed from the loop: each
	// fires, all of them from a parked loop.
	owner.fired.Store(0)
	timers := make([]Timer, 10)
	onLoop(t, l, func() {
		for i := range timers {
			timers[i].Owner = owner
			l.ArmAt(&timers[i], 3, l.Now()+int64(i+1)*int64(5*time.Millisecond))
		}
	})
	waitFor(t, "ten timers", func() bool { return owner.fired.Load() == 10 })
}

// TestPostWakesAParkedLoop: a task posted from another goroutine runs on
// a parked loop, every time.
func TestPostWakesAParkedLoop(t *testing.T) {
	l := runLoop(t)
	for range 100 {
		onLoop(t, l, func() {})
	}
}

// TestResponsive: a loop stuck in a task stops answering probes; once
// freed, it answers again.
func TestResponsive(t *testing.T) {
	l := runLoop(t)
	const maxAge = 50 * time.Millisecond
	if !l.Responsive(maxAge) {
		t.Fatal("a fresh loop is not responsive")
	}
	waitFor(t, "the first probe", func() bool { return l.probe.Load() == 0 })
	turns := l.Turns()
	// The probe needs no more than its one turn.
	if !l.Responsive(maxAge) {
		t.Fatal("a loop that ran its probe is not responsive")
	}
	waitFor(t, "the second probe", func() bool { return l.probe.Load() == 0 })
	if n := l.Turns() - turns; n != 1 {
		t.Fatalf("a probe took %d turns, want 1", n)
	}
	release := make(chan struct{})
	stuck := make(chan struct{})
	l.Post(nil, func() {
		close(stuck)
		<-release
	})
	<-stuck
	waitFor(t, "the stuck loop to be seen", func() bool { return !l.Responsive(maxAge) })
	close(release)
	waitFor(t, "the freed loop to answer", func() bool { return l.Responsive(maxAge) })
}

// TestRunDelayIsFreshOnAnotherThread: the loop's goroutine is not locked
// to a thread, so a reading taken on another thread than the last one
// says so (and the spin window does not compare the two).
func TestRunDelayIsFreshOnAnotherThread(t *testing.T) {
	var r runDelay
	defer r.close()
	read := func() (fresh, ok bool) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread() // a thread of its own, ended with the goroutine
			_, fresh, ok = r.read()
		}()
		<-done
		return fresh, ok
	}
	if _, ok := read(); !ok {
		t.Skip("no per-thread scheduler statistics here")
	}
	if fresh, _ := read(); !fresh {
		t.Fatal("a reading on another thread is not fresh")
	}
}

// socketHandler reads everything that arrives on its end of a socket
// pair, on the loop, counting the bytes.
type socketHandler struct {
	fd  int
	got atomic.Int64
}

func (h *socketHandler) OnEvent(uint32) {
	var buf [256]byte
	for {
		n, errno := Read(h.fd, buf[:])
		if n <= 0 || errno != 0 {
			return
		}
		h.got.Add(int64(n))
	}
}

// registerSocket makes a non-blocking socket pair, registers one end
// with l and returns its handler and the other end.
func registerSocket(t *testing.T, l *Loop) (*socketHandler, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	h := &socketHandler{fd: fds[0]}
	var regErr error
	onLoop(t, l, func() { _, regErr = l.Register(fds[0], h) })
	if regErr != nil {
		t.Fatal(regErr)
	}
	t.Cleanup(func() {
		ranOnLoop(l, func() { l.Unregister(fds[0], h) })
		unix.Close(fds[0])
		unix.Close(fds[1])
	})
	return h, fds[1]
}

// waitParked waits until l has gone back to waiting and found nothing,
// so that what follows reaches a parked loop.
func waitParked(t *testing.T, l *Loop) {
	t.Helper()
	waitFor(t, "the loop to park", func() bool { return l.parks.Load() > 0 && l.asleep.Load() })
}

// TestParkedLoopWakesForASocket: bytes arriving on a registered socket
// wake a parked loop, every time, and reach the socket's handler.
func TestParkedLoopWakesForASocket(t *testing.T) {
	l := runLoop(t)
	h, peer := registerSocket(t, l)
	for i := range 50 {
		waitParked(t, l)
		if _, err := unix.Write(peer, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the byte to be read", func() bool { return h.got.Load() == int64(i+1) })
	}
}

// TestStopEndsAParkedLoop: a loop parked with only a far timer armed
// returns from Run when Stop is posted to it.
func TestStopEndsAParkedLoop(t *testing.T) {
	l, err := New(time.Now(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Run(testHooks{})
	}()
	var far Timer
	far.Owner = &countingOwner{}
	onLoop(t, l, func() { l.ArmAt(&far, 1, l.Now()+int64(time.Hour)) })
	waitParked(t, l)
	l.Post(nil, l.Stop)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("a parked loop did not stop")
	}
}

// TestNoLostWakeUps: posts from several goroutines, bytes on two sockets
// and short timers, all at once, so that events keep arriving while the
// loop is about to park, runs a task, or is parked. Each must be seen:
// a park that misses an event arriving between its last look and going
// to sleep leaves its sender waiting for ever.
func TestNoLostWakeUps(t *testing.T) {
	l := runLoop(t)
	const rounds = 2000
	var wg sync.WaitGroup
	fail := make(chan string, 8)
	for range 3 {
		wg.Go(func() {
			for i := range rounds {
				if !ranOnLoop(l, func() {}) {
					fail <- fmt.Sprintf("post %d never ran", i)
					return
				}
			}
		})
	}
	for range 2 {
		h, peer := registerSocket(t, l)
		wg.Go(func() {
			for i := range rounds {
				if _, err := unix.Write(peer, []byte{1}); err != nil {
					fail <- err.Error()
					return
				}
				deadline := time.Now().Add(10 * time.Second)
				for h.got.Load() != int64(i+1) {
					if time.Now().After(deadline) {
						fail <- fmt.Sprintf("byte %d never read", i)
						return
					}
					runtime.Gosched()
				}
			}
		})
	}
	owner := &countingOwner{}
	timers := make([]Timer, 200)
	wg.Go(func() {
		for i := range timers {
			if !ranOnLoop(l, func() {
				timers[i].Owner = owner
				l.ArmAt(&timers[i], 2, l.Now()+int64(50*time.Microsecond))
			}) {
				fail <- fmt.Sprintf("timer %d was never armed", i)
				return
			}
		}
	})
	wg.Wait()
	close(fail)
	for msg := range fail {
		t.Error(msg)
	}
	waitFor(t, "every timer", func() bool { return owner.fired.Load() == int32(len(timers)) })
	if l.parks.Load() == 0 {
		t.Fatal("the loop never parked: the test did not test parking")
	}
}

// funcHandler runs f on each event.
type funcHandler struct{ f func() }

func (h *funcHandler) OnEvent(uint32) { h.f() }

// TestRunningLoopKeepsItsEventsFromTheRuntime: while a loop runs from
// event to event, its events do not make the epoll set the Go runtime
// watches readable — each time they did, a thread of the runtime parked
// in its poller (one is, whenever a P is idle) woke up for nothing and
// took the loop's CPU (0.8 context switches per request under h2load).
// A parked loop is woken by its events (TestParkedLoopWakesForASocket).
//
// A byte on a wakes the parked loop; a's handler makes b ready, so the
// next turn finds an event without parking; b's handler makes c ready and
// looks at the set the runtime watches: nothing may be ready there.
func TestRunningLoopKeepsItsEventsFromTheRuntime(t *testing.T) {
	l := runLoop(t)
	var watched int
	l.p.raw.Control(func(fd uintptr) { watched = int(fd) })
	pair := func() [2]int {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
		return [2]int{fds[0], fds[1]}
	}
	a, b, c := pair(), pair(), pair()
	drain := func(fd int) {
		var buf [16]byte
		for n, _ := Read(fd, buf[:]); n > 0; n, _ = Read(fd, buf[:]) {
		}
	}
	seen := make(chan int, 1)
	handlers := []struct {
		fd int
		h  Handler
	}{
		{a[0], &funcHandler{func() { drain(a[0]); unix.Write(b[1], []byte{1}) }}},
		{b[0], &funcHandler{func() {
			drain(b[0])
			unix.Write(c[1], []byte{1})
			events := make([]unix.EpollEvent, 4)
			n, _ := pollReady(watched, events)
			select {
			case seen <- n:
			default:
			}
		}}},
		{c[0], &funcHandler{func() { drain(c[0]) }}},
	}
	onLoop(t, l, func() {
		for _, h := range handlers {
			if _, err := l.Register(h.fd, h.h); err != nil {
				t.Error(err)
			}
		}
	})
	t.Cleanup(func() {
		ranOnLoop(l, func() {
			for _, h := range handlers {
				l.Unregister(h.fd, h.h)
			}
		})
	})
	// Registering raises an EPOLLOUT edge on each socket: b's handler
	// runs once for its own; the round that counts starts from a parked
	// loop after that.
	select {
	case <-seen:
	case <-time.After(10 * time.Second):
		t.Fatal("b's handler did not run for its registration")
	}
	waitParked(t, l)
	if _, err := unix.Write(a[1], []byte{1}); err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-seen:
		if n != 0 {
			t.Fatalf("with the loop running, the set the runtime watches had %d events ready", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("b's handler did not run")
	}
}
