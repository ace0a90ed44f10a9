package http2

// windowCounter counts events in fixed windows of time: the budget behind
// the Rapid Reset, MadeYouReset and control-frame flood defences.
type windowCounter struct {
	start int64 // when the current window began
	n     int
}

// add counts one event at now and reports whether the window now holds
// more than limit.
func (w *windowCounter) add(now, window int64, limit int) bool {
	if now-w.start >= window || now < w.start {
		w.start, w.n = now, 0
	}
	w.n++
	return w.n > limit
}
