package loop

import (
	"runtime"
	"testing"
	"time"
)

func TestSpinWindowOpensOnShortSleepsAndClosesWhenIdle(t *testing.T) {
	s := spinWindow{}
	s.setMax(100 * time.Microsecond)
	if s.cur != 0 {
		t.Fatalf("a new window is open: %v", s.cur)
	}
	// Events arriving 30 µs apart: polling would have caught them. The
	// window opens once that has been so spinOpenAfter times in a row.
	for i := range spinOpenAfter - 1 {
		s.afterSleep(0, 30*time.Microsecond, true)
		if s.cur != 0 {
			t.Fatalf("the window opened after %d short sleeps, want %d", i+1, spinOpenAfter)
		}
	}
	want := []time.Duration{10, 20, 40, 80, 100, 100}
	for i, w := range want {
		s.afterSleep(0, 30*time.Microsecond, true)
		if s.cur != w*time.Microsecond {
			t.Fatalf("after short sleep %d: window %v, want %v", i+1, s.cur, w*time.Microsecond)
		}
	}
	// A timeout, however short, is no reason to poll longer.
	s.setMax(100 * time.Microsecond)
	s.cur = 20 * time.Microsecond
	s.afterSleep(0, 30*time.Microsecond, false)
	if s.cur != 20*time.Microsecond {
		t.Fatalf("a short timeout moved the window to %v", s.cur)
	}
	// Sleeps longer than the window halve it, then close it.
	s.cur = 100 * time.Microsecond
	for _, w := range []time.Duration{50, 25, 12, 0} {
		s.afterSleep(0, 300*time.Microsecond, true)
		if s.cur != w*time.Microsecond && !(w == 12 && s.cur == 12500*time.Nanosecond) {
			t.Fatalf("after a long sleep: window %v, want about %v", s.cur, w*time.Microsecond)
		}
	}
	// An idle gap closes it at once.
	s.cur = 100 * time.Microsecond
	s.afterSleep(0, 2*time.Millisecond, true)
	if s.cur != 0 {
		t.Fatalf("a 2 ms sleep left the window at %v", s.cur)
	}
}

// TestSpinWindowStaysClosedAtAModerateRate: a proxy at a moderate rate
// sleeps alternately for a short while (the application's answer, tens
// of µs after the request went to it) and a long one (the next request).
// Polling before each sleep would cost more CPU than the wake-ups it
// saves, so the window must never open, whatever the long gap, while a
// burst of back-to-back events opens it.
func TestSpinWindowStaysClosedAtAModerateRate(t *testing.T) {
	for _, long := range []time.Duration{200 * time.Microsecond, 900 * time.Microsecond, 10 * time.Millisecond} {
		s := spinWindow{}
		s.setMax(100 * time.Microsecond)
		sleep := func(d time.Duration, what string, i int) {
			s.afterSleep(int64(i)*int64(time.Millisecond), d, true)
			if s.cur != 0 {
				t.Fatalf("%s, long gaps of %v: the window opened (%v) after %d rounds", what, long, s.cur, i+1)
			}
		}
		for i := range 10000 {
			sleep(40*time.Microsecond, "one gap of 40 µs for each long one", i)
			sleep(long, "one gap of 40 µs for each long one", i)
		}
		for i := range 10000 {
			for range 3 {
				sleep(40*time.Microsecond, "three gaps of 40 µs for each long one", i)
			}
			sleep(long, "three gaps of 40 µs for each long one", i)
		}
	}
}

func TestSpinWindowDisabled(t *testing.T) {
	s := spinWindow{cur: 50 * time.Microsecond}
	s.setMax(-1)
	for range 10 {
		s.afterSleep(0, 10*time.Microsecond, true)
	}
	if s.cur != 0 || s.max != 0 {
		t.Fatalf("a disabled window is %v (max %v)", s.cur, s.max)
	}
}

func TestSpinWindowStaysClosedUnderContention(t *testing.T) {
	ms := int64(time.Millisecond)
	s := spinWindow{}
	s.setMax(100 * time.Microsecond)
	s.cur = 100 * time.Microsecond

	// A worker that only slept is not judged, whatever its run delay.
	s.checkRunDelay(5*ms, 4*ms, true)
	s.checkRunDelay(10*ms, 9*ms, false)
	if s.cur == 0 {
		t.Fatal("a worker that did not poll was judged contended")
	}
	// The first check only takes a starting point.
	s.polled = true
	s.checkRunDelay(10*ms, 4*ms, true)
	if s.cur == 0 {
		t.Fatal("a first reading closed the window")
	}
	// Polled, and waited 1 ms of 5: not contended.
	s.polled = true
	s.checkRunDelay(15*ms, 5*ms, false)
	if s.cur == 0 {
		t.Fatal("waiting a fifth of the time closed the window")
	}
	// On another thread, the delay is another thread's: not judged.
	s.polled = true
	s.checkRunDelay(20*ms, 100*ms, true)
	if s.cur == 0 {
		t.Fatal("a change of thread was taken for contention")
	}
	// Polled, and waited 4.5 ms of 5: contended; closed for a cool-down.
	s.polled = true
	s.checkRunDelay(25*ms, 104500*time.Microsecond.Nanoseconds(), false)
	if s.cur != 0 || s.offUntil != 25*ms+int64(spinCoolMin) {
		t.Fatalf("contention left window %v, closed until %d", s.cur, s.offUntil)
	}
	// Short sleeps during the cool-down do not reopen it.
	for range 2 * spinOpenAfter {
		s.afterSleep(30*ms, 30*time.Microsecond, true)
	}
	if s.cur != 0 {
		t.Fatalf("the window reopened during the cool-down: %v", s.cur)
	}
	// Contention again right after the cool-down doubles the next one.
	now := s.offUntil + ms
	s.contended(now)
	if s.cool != 2*spinCoolMin {
		t.Fatalf("repeated contention: cool-down %v, want %v", s.cool, 2*spinCoolMin)
	}
	for range 10 {
		s.contended(s.offUntil)
	}
	if s.cool != spinCoolMax {
		t.Fatalf("cool-down grew to %v, want at most %v", s.cool, spinCoolMax)
	}
	// After a quiet stretch, contention starts over at the shortest.
	later := s.offUntil + 10*int64(spinCoolMax)
	s.contended(later)
	if s.cool != spinCoolMin {
		t.Fatalf("contention after a quiet stretch: cool-down %v, want %v", s.cool, spinCoolMin)
	}
	// Once the cool-down is over, short sleeps open the window again.
	for range spinOpenAfter {
		s.afterSleep(s.offUntil, 30*time.Microsecond, true)
	}
	if s.cur != spinStart {
		t.Fatalf("after the cool-down the window is %v, want %v", s.cur, spinStart)
	}
}

func TestThreadRunDelayReadsThisThread(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var r runDelay
	defer r.close()
	first, fresh, ok := r.read()
	if !ok {
		t.Skip("no per-thread scheduler statistics here")
	}
	if !fresh {
		t.Fatal("the first reading is not fresh")
	}
	// Make this thread wait for a CPU: more runnable threads than CPUs,
	// all spinning, while this one spins too.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(runtime.NumCPU() + 2))
	stop := make(chan struct{})
	for range runtime.NumCPU() + 1 {
		go func() {
			runtime.LockOSThread()
			for {
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
	}
	close(stop)
	second, fresh, ok := r.read()
	if fresh {
		t.Fatal("a second reading on the same thread is fresh")
	}
	if !ok || second <= first {
		t.Fatalf("the run delay did not grow while the CPUs were oversubscribed: %d then %d", first, second)
	}
}
