package appliance

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"frontdoor/supervisor"
)

// appRunner runs one supervised application (an [app] or [[app]] table).
// It holds the supervisor instance that serves. A reload that changes the
// app's table starts a second instance next to the first and switches the
// app's upstream group to it once it serves (a handover), so even a changed
// app costs no failed request. An app touches only its own group in the
// engine: nothing it does (crash, FATAL, a failed release step, a deploy)
// reaches another app's routes.
//
// Every supervisor instance has its own socket directory under the runtime
// directory (app1/, app2/…): two instances never share socket names.
type appRunner struct {
	set   *appSet
	name  string
	group string // the app's upstream group in the engine
	log   *slog.Logger
	logs  *appLog // its last log lines (applog.go)
	rec   *recorder

	mu      sync.Mutex
	active  *appInstance // the instance the edge follows; nil when stopped
	pending *appInstance // a replacement starting (a changed table), or nil
	// holding: the edge holds requests until the first generation serves
	// (start_hold); guarded by mu once the supervisor runs.
	holding  bool
	upstream string       // what the engine was last told
	stopped  bool         // removed by a reload or the daemon is stopping
	maint    *Maintenance // maintenance mode, nil when off (maintenance.go)

	// actions serialises what reloads and commands (deploy, restart) do to
	// the application, so that a deploy never races a handover.
	actions sync.Mutex
}

// appInstance is one supervisor and the goroutine running it.
type appInstance struct {
	id     string // its socket directory's name, for the log
	cfg    AppConfig
	dir    string // its socket directory
	sup    *supervisor.Supervisor
	cancel context.CancelFunc
	done   chan struct{} // closed when Run has returned
}

// edgeAdapter is the supervisor's view of the engine (supervisor.Edge).
type edgeAdapter struct {
	r    *appRunner
	inst *appInstance
}

// SetAppUpstream points the app's group at addr, if this instance is the
// one the edge follows (see appRunner.setUpstream). It returns once every
// engine worker has switched, which is what the supervisor's contract asks.
func (e *edgeAdapter) SetAppUpstream(addr string) { e.r.setUpstream(e.inst, addr) }

// InFlight asks the engine; addr has the "unix:/path" form the engine was
// given, which is how it keys its servers.
func (e *edgeAdapter) InFlight(addr string) (int, int) { return e.r.set.a.engine.InFlight(addr) }

// start creates the app's first supervisor and runs it. atBoot: frontdoor
// itself is starting, so requests wait for the first generation (up to
// start_hold) rather than get 503 — a restart or an upgrade of frontdoor
// then loses none.
func (r *appRunner) start(cfg AppConfig, workers int, atBoot bool) error {
	inst, err := r.newInstance(cfg, workers)
	if err != nil {
		return err
	}
	if atBoot {
		hold := defaultStartHold
		if cfg.StartHold != nil {
			hold = cfg.StartHold.Duration
		}
		if hold > 0 {
			if err := r.set.a.engine.SetUpstreamHold(r.group, hold); err == nil {
				r.holding = true
				// A boot that fails ends the hold: waiting is for an
				// application on its way up, not for one that crashes.
				r.rec.onBootFailure = r.endHold
			}
		}
	}
	r.mu.Lock()
	r.active = inst
	r.mu.Unlock()
	r.run(inst)
	return nil
}

// endHold stops holding requests for the application (its first boot
// failed): held requests and new ones get the 503 page at once.
func (r *appRunner) endHold() {
	r.mu.Lock()
	holding := r.holding
	r.holding = false
	r.mu.Unlock()
	if holding {
		go r.set.a.engine.SetUpstreamHold(r.group, 0)
	}
}

// defaultStartHold is start_hold's default.
const defaultStartHold = 30 * time.Second

// stop stops the app's supervisors (active and pending) and waits for
// them, or until ctx ends.
func (r *appRunner) stop(ctx context.Context) {
	r.mu.Lock()
	r.stopped = true
	insts := []*appInstance{r.active, r.pending}
	r.active, r.pending, r.upstream = nil, nil, ""
	r.mu.Unlock()
	for _, inst := range insts {
		if inst != nil {
			inst.cancel()
		}
	}
	for _, inst := range insts {
		if inst == nil {
			continue
		}
		select {
		case <-inst.done:
		case <-ctx.Done():
			r.log.Warn("the application did not stop in time")
		}
	}
}

// newInstance builds a supervisor for cfg in its own socket directory.
// workers is the app's share of the machine when cfg sets none.
func (r *appRunner) newInstance(cfg AppConfig, workers int) (*appInstance, error) {
	dir := r.set.nextDirName()
	inst := &appInstance{id: filepath.Base(dir), cfg: cfg, dir: dir, done: make(chan struct{})}
	sc := cfg.supervisorConfig(inst.dir)
	if sc.Workers == 0 {
		sc.Workers = workers
	}
	sc.CompressDir = r.set.a.started.compressedDir()
	sc.Logger = r.log
	sc.Edge = &edgeAdapter{r: r, inst: inst}
	sc.Recorder = r.rec
	sup, err := supervisor.New(sc)
	if err != nil {
		return nil, err
	}
	inst.sup = sup
	return inst, nil
}

// run starts inst's supervisor in the background.
func (r *appRunner) run(inst *appInstance) {
	ctx, cancel := context.WithCancel(context.Background())
	inst.cancel = cancel
	go func() {
		defer close(inst.done)
		if err := inst.sup.Run(ctx); err != nil {
			r.log.Error("the supervisor could not run", "err", err)
			r.rec.note("supervisor", "error", err.Error())
		}
		_ = os.RemoveAll(inst.dir)
	}()
	r.set.poke()
}

// setUpstream is where every supervisor's SetAppUpstream lands. Only the
// active instance steers the app's group, except that a pending
// instance's first ready generation takes over: it becomes active, and
// the old one is retired once the requests already sent to it are done.
// Called with the calling supervisor's lock held, so it only switches and
// never waits for more than the engine's workers.
func (r *appRunner) setUpstream(inst *appInstance, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.set.isDetached():
		return
	case inst == r.active:
	case inst == r.pending && addr != "":
		old := r.active
		r.active, r.pending = inst, nil
		if old != nil {
			r.log.Info("the new configuration serves; retiring the previous supervisor", "new", inst.id, "old", old.id)
			go r.retire(old, r.upstream)
		}
	default:
		return // a pending instance that is not ready, or a retired one
	}
	r.upstream = addr
	r.setEngineUpstream(addr)
}

// setEngineUpstream tells the engine; it gives up if the engine stops
// meanwhile (its workers would never run the switch).
func (r *appRunner) setEngineUpstream(addr string) {
	var servers []string
	if addr != "" {
		servers = []string{addr}
	}
	holding := r.holding && addr != ""
	if holding {
		r.holding = false // served once: from now on a crash answers 503 at once
	}
	engine := r.set.a.engine
	done := make(chan error, 1)
	go func() {
		err := engine.SetUpstreamServers(r.group, servers)
		if err == nil && holding {
			err = engine.SetUpstreamHold(r.group, 0)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			// The app was removed by a reload: the group is gone with it.
			r.log.Debug("app upstream not updated", "addr", addr, "err", err)
		}
	case <-engine.Done():
	}
}

// retire stops a replaced supervisor once nothing is in flight to the
// address it served (or after its WebSocket grace period).
func (r *appRunner) retire(old *appInstance, addr string) {
	grace := old.cfg.WebSocketGrace.Duration
	if grace == 0 {
		grace = 10 * time.Minute
	}
	deadline := time.Now().Add(grace)
	for addr != "" && time.Now().Before(deadline) {
		if req, tun := r.set.a.engine.InFlight(addr); req == 0 && tun == 0 {
			break
		}
		select {
		case <-old.done:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	old.cancel()
	<-old.done
	r.log.Info("previous supervisor stopped", "id", old.id)
	r.set.poke()
}

// table names the app's table in messages: "[app]" for the app of a
// file's single [app] table, "[[app]] shop" for another.
func (r *appRunner) table() string {
	if r.name == defaultAppName {
		return "[app]"
	}
	return "[[app]] " + r.name
}

// activeInstance returns the instance the edge follows, or nil.
func (r *appRunner) activeInstance() *appInstance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active
}

// instances returns the active and the pending instance (either nil).
func (r *appRunner) instances() (active, pending *appInstance) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active, r.pending
}

// deploy runs a blue/green deploy on the serving supervisor and blocks
// until it ended (see supervisor.Supervisor.Deploy); restart starts a new
// generation without the release steps (Supervisor.Restart).
func (r *appRunner) deploy(ctx context.Context, restart bool) (supervisor.DeployReport, error) {
	r.actions.Lock()
	defer r.actions.Unlock()
	inst := r.activeInstance()
	if inst == nil {
		return supervisor.DeployReport{}, fmt.Errorf("the app %q is not running", r.name)
	}
	if restart {
		return inst.sup.Restart(ctx)
	}
	return inst.sup.Deploy(ctx)
}

// applyReload does what a reload means for this application; see
// Appliance.reloadApps. workers is its share of the machine.
func (r *appRunner) applyReload(old, cur *AppConfig, workers int) AppReloadResult {
	switch {
	case old == nil && cur == nil:
		return AppReloadResult{App: "no [app] configured"}
	case cur == nil:
		r.stop(context.Background())
		return AppReloadResult{App: r.table() + " removed: the application stopped"}
	case old == nil || r.activeInstance() == nil:
		if err := r.start(*cur, workers, false); err != nil {
			return AppReloadResult{Error: fmt.Sprintf("%s: %v", r.table(), err)}
		}
		return AppReloadResult{App: r.table() + " added: the application is starting"}
	case !sameApp(old, cur):
		return r.handover(*cur, workers)
	}
	inst := r.activeInstance()
	changed, path := inst.sup.CodeChanged()
	if !changed {
		return AppReloadResult{App: "no code changed since the serving generation started: nothing to deploy"}
	}
	r.log.Info("code changed: deploying", "file", path)
	rep, err := inst.sup.Deploy(context.Background())
	if rep.Finished.IsZero() && !rep.Started.IsZero() {
		rep.Finished = time.Now() // the supervisor stamps only the copy Status shows
	}
	res := AppReloadResult{App: fmt.Sprintf("%s changed: deployed", path), Deploy: &rep}
	if err != nil {
		res.Error = fmt.Sprintf("%s changed, but the deploy failed: %v", path, err)
	}
	return res
}

// handover starts a supervisor with the new configuration next to the
// serving one; the edge switches to it when its first generation is ready
// (setUpstream). If it cannot come up, it is stopped and the old one keeps
// serving.
func (r *appRunner) handover(cfg AppConfig, workers int) AppReloadResult {
	inst, err := r.newInstance(cfg, workers)
	if err != nil {
		return AppReloadResult{Error: fmt.Sprintf("%s: %v; the previous configuration keeps serving", r.table(), err)}
	}
	r.mu.Lock()
	old := r.active
	serving := r.upstream != ""
	if serving {
		r.pending = inst
	} else {
		// Nothing serves (the old one is down or fatal): nothing to
		// protect, switch at once.
		r.active = inst
	}
	r.mu.Unlock()
	r.run(inst)
	if !serving {
		go r.retire(old, "")
		return AppReloadResult{App: r.table() + " changed: the new configuration is starting (the previous one was not serving)"}
	}
	for {
		r.mu.Lock()
		took, stillPending := r.active == inst, r.pending == inst
		r.mu.Unlock()
		if took {
			return AppReloadResult{App: r.table() + " changed: the new configuration serves"}
		}
		st := inst.sup.Status()
		failed := st.Web.State == supervisor.StateFatal || st.Web.State == supervisor.StateBackoff ||
			(st.LastDeploy != nil && !st.LastDeploy.OK)
		if !stillPending || failed {
			r.mu.Lock()
			if r.pending == inst {
				r.pending = nil
			}
			r.mu.Unlock()
			inst.cancel()
			<-inst.done
			why := st.Web.Error
			if st.LastDeploy != nil && st.LastDeploy.Error != "" {
				why = st.LastDeploy.Error
			}
			return AppReloadResult{Error: fmt.Sprintf("the new %s did not start (%s); the previous configuration keeps serving", r.table(), why)}
		}
		time.Sleep(100 * time.Millisecond)
	}
}
