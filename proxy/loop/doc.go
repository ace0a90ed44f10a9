// Package loop is the event-loop machinery under the proxy's workers: an
// epoll set with an eventfd-woken task queue (poller.go), the turn of the
// loop and how it waits — parked in the Go runtime's poller, or
// busy-polling for an adaptive window (loop.go, wait.go, spin.go),
// per-kind FIFO timers (timer.go), a buffer pool (bufpool.go) and the raw
// system calls of the hot path (sys.go).
//
// It knows nothing of HTTP: the proxy registers descriptors with a
// Handler, arms Timers for a TimerOwner, and gets its events and expiries
// back on the loop's own goroutine. A Loop is owned by that goroutine;
// only Post, Responsive and Turns may be called from others.
package loop
