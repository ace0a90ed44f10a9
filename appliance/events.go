package appliance

import "frontdoor/state"

// recordEvent appends an event to the state's event log (shown by
// `frontdoor status`), and to the cluster's history (`frontdoor status
// --cluster`) with [cluster]; a failure to record is logged, never fatal.
func (a *Appliance) recordEvent(source, kind, message string) {
	if a.cluster != nil {
		a.cluster.AddEvent(source, kind, message)
	}
	a.recordLocalEvent(source, kind, message)
}

// recordLocalEvent appends an event to the state's event log only.
func (a *Appliance) recordLocalEvent(source, kind, message string) {
	if a.state == nil {
		return
	}
	if err := a.state.AddEvent(state.Event{Source: source, Kind: kind, Message: message}); err != nil {
		a.log.Warn("could not record an event in the state file", "err", err)
	}
}
