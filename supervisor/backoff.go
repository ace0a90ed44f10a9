package supervisor

import "time"

// backoff is a restart delay policy: min, doubling with every consecutive
// failure up to max; a child that ran healthy for healthyAfter starts over.
type backoff struct {
	min, max     time.Duration
	healthyAfter time.Duration
	failures     int // consecutive failures so far
}

// failed records a failure of a child that ran for ran and returns how long
// to wait before the next attempt. fatal failures wait the maximum.
func (b *backoff) failed(ran time.Duration, fatal bool) time.Duration {
	if ran >= b.healthyAfter {
		b.failures = 0
	}
	b.failures++
	if fatal {
		return b.max
	}
	d := b.min
	for i := 1; i < b.failures && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// reset forgets past failures: an operator deployed new code. A restart
// that merely became ready does not reset, so a child that boots and then
// crashes at once keeps backing off until it runs for healthyAfter.
func (b *backoff) reset() { b.failures = 0 }
