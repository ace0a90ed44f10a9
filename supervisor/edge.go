package supervisor

import "time"

// Edge is the part of the proxy the supervisor drives. The appliance
// implements it on top of the proxy engine.
type Edge interface {
	// SetAppUpstream routes new application requests to addr, a unix
	// socket written "unix:/run/frontdoor/web-3.sock". The empty string
	// means the app is not ready: the edge answers 503 with Retry-After
	// instead of connecting anywhere. It must not block for long: it is
	// called while a deploy or a restart is switching generations.
	//
	// Contract for zero-downtime deploys: once SetAppUpstream(new) has
	// returned, every request that the edge will still send to the old
	// address is already counted by InFlight(old).
	SetAppUpstream(addr string)
	// InFlight reports the requests in flight and the open WebSocket (or
	// other upgraded) tunnels to addr. The supervisor polls it while it
	// drains a replaced generation; it must be cheap and must not block.
	InFlight(addr string) (requests, tunnels int)
}

// Recorder stores what happened, for `frontdoor status` and post-mortems.
// The appliance implements it on top of the state package. Record is called
// synchronously from the supervisor's goroutines: it must be quick and must
// not call back into the Supervisor.
type Recorder interface {
	Record(Event)
}

// EventKind classifies an Event.
type EventKind string

// Event kinds. Restarts and exit codes are EventExited and
// EventRestartScheduled; health transitions are EventReady, EventFatal,
// EventPostgresUp and EventPostgresDown.
const (
	EventStarted          EventKind = "started"           // a child process started
	EventReady            EventKind = "ready"             // a web generation answers HTTP and receives traffic
	EventExited           EventKind = "exited"            // a child exited (Exit holds code and stderr tail)
	EventRestartScheduled EventKind = "restart-scheduled" // a crashed child will be restarted after Message's delay
	EventFatal            EventKind = "fatal"             // a child cannot boot; retried only at the maximum backoff and on deploy
	EventStopped          EventKind = "stopped"           // a child was stopped on purpose
	EventStepFailed       EventKind = "release-step-failed"
	EventDeployStarted    EventKind = "deploy-started"
	EventDeploySucceeded  EventKind = "deploy-succeeded"
	EventDeployFailed     EventKind = "deploy-failed"
	EventPostgresUp       EventKind = "postgres-up"
	EventPostgresDown     EventKind = "postgres-down"
	EventMemoryLimit      EventKind = "memory-limit" // the web generation passed RSSLimit and is being replaced
)

// Event is one thing that happened to the supervised site.
type Event struct {
	Time       time.Time `json:"time"`
	Kind       EventKind `json:"kind"`
	Process    string    `json:"process"`              // "web", an extra process's name, "release" or "postgres"
	Generation int       `json:"generation,omitempty"` // web generation, 0 when not about one
	Message    string    `json:"message"`              // one human-readable sentence
	Exit       *ExitInfo `json:"exit,omitempty"`       // for EventExited, EventRestartScheduled and EventFatal
	Output     []string  `json:"output,omitempty"`     // a failed release step's last output lines
}

// noEdge is the Edge used when the config has none.
type noEdge struct{}

func (noEdge) SetAppUpstream(string)      {}
func (noEdge) InFlight(string) (int, int) { return 0, 0 }
func (noRecorder) Record(Event)           {}

// noRecorder is the Recorder used when the config has none.
type noRecorder struct{}
