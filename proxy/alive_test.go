package proxy

import (
	"testing"
	"time"
)

// TestAliveSeesAHungWorker: Alive is what the daemon's systemd watchdog
// pings on (appliance/run.go); it must turn false when one worker's loop
// stops turning, and true again once it turns. The packaging tests check
// the pings themselves with a stand-in whose worker hangs on a signal.
func TestAliveSeesAHungWorker(t *testing.T) {
	te := startEngine(t, staticSite(t.TempDir()))
	const maxAge = time.Second // for a probe to run on a loop that is not stuck, even on a loaded machine
	if !te.e.Alive(time.Minute) {
		t.Fatal("a fresh engine is not alive")
	}
	release := make(chan struct{})
	hung := make(chan struct{})
	te.e.workers[1].loop.Post(nil, func() {
		close(hung)
		<-release
	})
	<-hung
	deadline := time.Now().Add(10 * time.Second)
	for te.e.Alive(maxAge) {
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("Alive stays true while a worker hangs")
		}
		time.Sleep(20 * time.Millisecond)
	}
	close(release)
	for !te.e.Alive(maxAge) {
		if time.Now().After(deadline) {
			t.Fatal("Alive stays false after the worker was released")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
