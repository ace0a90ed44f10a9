package loop

import (
	"testing"

	"golang.org/x/sys/unix"
)

// bellRinging says whether the runtime's poller would find the bell
// readable now.
func bellRinging(t *testing.T, p *poller) bool {
	t.Helper()
	fds := []unix.PollFd{{Fd: int32(p.bell), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	if err != nil {
		t.Fatalf("poll the bell: %v", err)
	}
	return n == 1 && fds[0].Revents&unix.POLLIN != 0
}

// The bell reaches the runtime's poller once per park: events that arrive
// while the loop is awake (the bell harvested, not armed again) must not
// wake it — under load that was a wasted thread wake-up per batch of
// events — and arming with events already pending must ring at once, or a
// loop would park past them.
func TestBellRingsOnlyForAParkedLoop(t *testing.T) {
	p, err := newPoller()
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()

	if bellRinging(t, &p) {
		t.Fatal("the bell rings with no event")
	}
	p.wake()
	if !bellRinging(t, &p) {
		t.Fatal("an event for a parked loop does not ring the bell")
	}
	p.harvest()
	if p.armed {
		t.Fatal("the bell is still armed after its ring was harvested")
	}
	if bellRinging(t, &p) {
		t.Fatal("the bell still rings after its ring was harvested")
	}

	// The loop is awake: more events must not reach the runtime's poller.
	p.drainWake()
	p.wake()
	if bellRinging(t, &p) {
		t.Fatal("an event for a loop that is awake rang the bell")
	}

	// Arming with that event still pending rings at once.
	if errno := p.arm(); errno != 0 {
		t.Fatalf("arm: %v", errno)
	}
	if !bellRinging(t, &p) {
		t.Fatal("arming with an event pending does not ring the bell: the loop would park past it")
	}
	p.harvest()
	p.drainWake()
	if errno := p.arm(); errno != 0 {
		t.Fatalf("arm: %v", errno)
	}
	if bellRinging(t, &p) {
		t.Fatal("the bell rings with no event pending")
	}
}
