package appliance

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestReloadWaitForTheApp: POST /reload's wait gives the configuration's
// verdict at once, and waits for the application's part only as long as
// asked (ExecReload= asks 75 s: a deploy may take longer than systemd's
// reload timeout); then the answer says the part is pending.
func TestReloadWaitForTheApp(t *testing.T) {
	var tr reloadTracker
	tr.init()
	finish := func(err error, restart []string, act *appAction) {
		tr.mu.Lock()
		tr.seq++
		tr.last = reloadOutcome{seq: tr.seq, configErr: err, restart: restart, action: act}
		close(tr.changed)
		tr.changed = make(chan struct{})
		tr.mu.Unlock()
	}
	ctx := context.Background()

	finish(errors.New("f.toml:2: server.workerz: unknown key"), nil, nil)
	if res, err := tr.waitAfter(ctx, 0, time.Millisecond); err != nil || res.OK || res.ConfigError == "" {
		t.Errorf("refused file: %+v %v", res, err)
	}

	act := tr.newAction()
	finish(nil, []string{"server.workers (2 → 1)"}, act)
	res, err := tr.waitAfter(ctx, 1, 50*time.Millisecond)
	if err != nil || !res.OK || !res.AppPending || len(res.RestartNeeded) != 1 {
		t.Errorf("application still deploying: %+v %v", res, err)
	}
	act.finish(AppReloadResult{Error: "the new [app] did not start"})
	res, err = tr.waitAfter(ctx, 1, 0)
	if err != nil || res.OK || res.AppPending || res.Error == "" {
		t.Errorf("application failed: %+v %v", res, err)
	}
}
