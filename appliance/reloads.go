package appliance

import (
	"context"
	"errors"
	"sync"
	"time"

	"frontdoor/supervisor"
)

// AppReloadResult is what a reload did to the applications: for one app,
// its own result; for several, each app's in Apps, summed up in App and
// Error.
type AppReloadResult struct {
	// Name is the app's name (in Apps).
	Name string `json:"name,omitempty"`
	// App says what happened, in one sentence.
	App string `json:"app,omitempty"`
	// Error is set when the application part failed (the previous
	// application keeps serving).
	Error string `json:"error,omitempty"`
	// Deploy is the report of the deploy the reload ran (code changed).
	Deploy *supervisor.DeployReport `json:"deploy,omitempty"`
	// Apps holds each app's result when the file has several.
	Apps []AppReloadResult `json:"apps,omitempty"`
}

// ReloadResult is the answer of POST /reload.
type ReloadResult struct {
	OK bool `json:"ok"`
	// ConfigError lists the configuration's problems, one per line
	// (file:line: key: message (fix: …)); the previous configuration
	// stays in force.
	ConfigError string `json:"config_error,omitempty"`
	// RestartNeeded lists the keys the file changes that only a restart
	// applies, as "key (running → in the file)" (reloadkeys.go); the rest
	// of the file is in force.
	RestartNeeded []string `json:"restart_needed,omitempty"`
	// AppPending: the application's part was still under way when the
	// caller stopped waiting for it (POST /reload?app_wait=…); it goes on,
	// and `frontdoor status` shows how it ends.
	AppPending bool `json:"app_pending,omitempty"`
	AppReloadResult
}

// reloadTracker lets POST /reload wait for the outcome of the SIGHUP it
// sends: run.go's reload calls reloadFinished once the configuration was
// applied or refused, and reloadApps registers the applications's part,
// which finishes in the background.
type reloadTracker struct {
	mu      sync.Mutex
	seq     int
	last    reloadOutcome
	changed chan struct{} // closed and replaced by every reloadFinished
	pending *appAction    // registered by reloadApps, claimed by reloadFinished
}

type reloadOutcome struct {
	seq       int
	configErr error
	restart   []string
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
// configuration is in force; restart lists what it could not apply).
// run.go calls it at the end of every reload.
func (a *Appliance) reloadFinished(err error, restart []string) {
	r := a.apps
	if r == nil {
		return
	}
	t := &r.reloads
	t.mu.Lock()
	t.seq++
	t.last = reloadOutcome{seq: t.seq, configErr: err, restart: restart, action: t.pending}
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
// then for its application part, for at most appWait (0: as long as it
// takes) — the configuration's verdict is never cut short.
func (t *reloadTracker) waitAfter(ctx context.Context, seq int, appWait time.Duration) (ReloadResult, error) {
	for {
		t.mu.Lock()
		last, changed := t.last, t.changed
		t.mu.Unlock()
		if last.seq > seq {
			if last.configErr != nil {
				return ReloadResult{ConfigError: last.configErr.Error()}, nil
			}
			res := ReloadResult{OK: true, RestartNeeded: last.restart}
			if last.action != nil {
				var timeout <-chan time.Time
				if appWait > 0 {
					timer := time.NewTimer(appWait)
					defer timer.Stop()
					timeout = timer.C
				}
				select {
				case <-last.action.done:
					res.AppReloadResult = last.action.result
					res.OK = res.Error == ""
				case <-timeout:
					res.AppPending = true
				case <-ctx.Done():
					return ReloadResult{}, ctx.Err()
				}
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
