package appliance

import (
	"context"
	"errors"
	"sync"

	"frontdoor/supervisor"
)

// AppReloadResult is what a reload did to the application.
type AppReloadResult struct {
	// App says what happened, in one sentence.
	App string `json:"app,omitempty"`
	// Error is set when the application part failed (the previous
	// application keeps serving).
	Error string `json:"error,omitempty"`
	// Deploy is the report of the deploy the reload ran (code changed).
	Deploy *supervisor.DeployReport `json:"deploy,omitempty"`
}

// ReloadResult is the answer of POST /reload.
type ReloadResult struct {
	OK bool `json:"ok"`
	// ConfigError lists the configuration's problems, one per line
	// (file:line: key: message (fix: …)); the previous configuration
	// stays in force.
	ConfigError string `json:"config_error,omitempty"`
	AppReloadResult
}

// reloadTracker lets POST /reload wait for the outcome of the SIGHUP it
// sends: run.go's reload calls reloadFinished once the configuration was
// applied or refused, and reloadApp registers the application's part,
// which finishes in the background.
type reloadTracker struct {
	mu      sync.Mutex
	seq     int
	last    reloadOutcome
	changed chan struct{} // closed and replaced by every reloadFinished
	pending *appAction    // registered by reloadApp, claimed by reloadFinished
}

type reloadOutcome struct {
	seq       int
	configErr error
	action    *appAction // nil when the configuration was refused
}

// appAction is the application's part of one reload.
type appAction struct {
	done   chan struct{}
	result AppReloadResult
}

func (t *reloadTracker) init() { t.changed = make(chan struct{}) }

func (t *reloadTracker) newAction() *appAction {
	act := &appAction{done: make(chan struct{})}
	t.mu.Lock()
	t.pending = act
	t.mu.Unlock()
	return act
}

func (act *appAction) finish(res AppReloadResult) {
	act.result = res
	close(act.done)
}

// reloadFinished records the outcome of a reload (err is nil when the new
// configuration is in force). run.go calls it at the end of every reload.
func (a *Appliance) reloadFinished(err error) {
	r := a.app
	if r == nil {
		return
	}
	t := &r.reloads
	t.mu.Lock()
	t.seq++
	t.last = reloadOutcome{seq: t.seq, configErr: err, action: t.pending}
	if err != nil {
		t.last.action = nil
	}
	t.pending = nil
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
	r.poke()
}

// current returns the number of reloads finished so far and a channel
// closed at the next one.
func (t *reloadTracker) current() (int, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.seq, t.changed
}

// waitAfter waits for a reload that finished after reload number seq,
// then for its application part.
func (t *reloadTracker) waitAfter(ctx context.Context, seq int) (ReloadResult, error) {
	for {
		t.mu.Lock()
		last, changed := t.last, t.changed
		t.mu.Unlock()
		if last.seq > seq {
			if last.configErr != nil {
				return ReloadResult{ConfigError: last.configErr.Error()}, nil
			}
			res := ReloadResult{OK: true}
			if last.action != nil {
				select {
				case <-last.action.done:
				case <-ctx.Done():
					return ReloadResult{}, ctx.Err()
				}
				res.AppReloadResult = last.action.result
				res.OK = res.Error == ""
			}
			return res, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ReloadResult{}, errors.New("the daemon did not finish reloading in time")
		}
	}
}
