package appliance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sync"
	"time"

	"frontdoor/supervisor"
)

// errNoApp is returned by operations on the application when the
// configuration has no [app].
var errNoApp = errors.New("the configuration has no [app]: nothing to deploy (run `frontdoor init DJANGO_DIR`)")

// appRunner runs the supervised application ([app] in frontdoor.toml). It
// exists for the daemon's whole life, with or without an [app], and holds
// the supervisor instance that serves. A reload that changes [app] starts a
// second instance next to the first and switches the edge to it once it
// serves (a handover), so even a changed [app] costs no failed request.
//
// Every supervisor instance has its own socket directory under the runtime
// directory (app1/, app2/…): two instances never share socket names.
type appRunner struct {
	a   *Appliance
	log *slog.Logger
	rec *recorder

	mu      sync.Mutex
	active  *appInstance // the instance the edge follows; nil without [app]
	pending *appInstance // a replacement starting (an [app] change), or nil
	// holding: the edge holds requests until the first generation serves
	// ([app] start_hold); guarded by mu once the supervisor runs.
	holding  bool
	nextID   int
	upstream string // what the engine was last told
	detached bool   // the engine has stopped: leave its groups alone

	// actions serialises what reloads and `frontdoor deploy` do to the
	// application, so that a deploy never races a handover.
	actions sync.Mutex
	reloads reloadTracker

	started    time.Time
	rate       requestRate
	statusPoke chan struct{}
	stopStatus context.CancelFunc
	statusDone chan struct{}
}

// appInstance is one supervisor and the goroutine running it.
type appInstance struct {
	id     int
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

// SetAppUpstream points the "app" group at addr, if this instance is the
// one the edge follows (see appRunner.setUpstream). It returns once every
// engine worker has switched, which is what the supervisor's contract asks.
func (e *edgeAdapter) SetAppUpstream(addr string) { e.r.setUpstream(e.inst, addr) }

// InFlight asks the engine; addr has the "unix:/path" form the engine was
// given, which is how it keys its servers.
func (e *edgeAdapter) InFlight(addr string) (int, int) { return e.r.a.engine.InFlight(addr) }

// startApp creates the runner and, with an [app], starts the supervisor.
// It does not wait for the application: release steps and the first boot
// go on in the background while the edge answers 503.
func (a *Appliance) startApp() error {
	r := &appRunner{a: a, log: a.log.With("part", "app"), started: time.Now(), statusPoke: make(chan struct{}, 1)}
	r.rate.add(rateSample{at: r.started, requests: a.engine.Stats().Requests})
	r.rec = newRecorder(a.state, r.log, r.poke)
	r.reloads.init()
	a.app = r
	r.removeStaleDirs()
	ctx, cancel := context.WithCancel(context.Background())
	r.stopStatus, r.statusDone = cancel, make(chan struct{})
	go r.publishStatus(ctx)
	if a.cfg.App == nil {
		return nil
	}
	inst, err := r.newInstance(*a.cfg.App)
	if err != nil {
		return fmt.Errorf("%s: [app]: %w", a.cfgPath, err)
	}
	// Until the first generation serves, requests wait for it rather than
	// get 503: a restart or an upgrade of frontdoor then loses none.
	hold := defaultStartHold
	if a.cfg.App.StartHold != nil {
		hold = a.cfg.App.StartHold.Duration
	}
	if hold > 0 {
		if err := a.engine.SetUpstreamHold(appUpstream, hold); err == nil {
			r.holding = true
			// A boot that fails ends the hold: waiting is for an
			// application on its way up, not for one that crashes.
			r.rec.onBootFailure = r.endHold
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
		go r.a.engine.SetUpstreamHold(appUpstream, 0)
	}
}

// defaultStartHold is [app] start_hold's default.
const defaultStartHold = 30 * time.Second

// reloadApp applies a reloaded configuration to the application, in the
// background (a deploy may take minutes; the signal loop must not wait):
// [app] added → start it; removed → stop it; changed → hand over to a new
// supervisor; unchanged → deploy if code changed since the serving
// generation started, else nothing. The outcome is kept for the admin
// socket's POST /reload.
func (a *Appliance) reloadApp(old, cfg *Config) {
	r := a.app
	if r == nil {
		return
	}
	act := r.reloads.newAction()
	go func() {
		r.actions.Lock()
		defer r.actions.Unlock()
		res := r.applyReload(old.App, cfg.App)
		if res.Error != "" {
			r.log.Error("reload of the application failed", "err", res.Error)
		} else {
			r.log.Info("application reloaded", "action", res.App)
		}
		act.finish(res)
	}()
}

// stopApp stops the application's processes gracefully (each supervisor
// gives its children StopTimeout), then flushes the event recorder. It
// returns early when ctx ends.
func (a *Appliance) stopApp(ctx context.Context) {
	r := a.app
	if r == nil {
		return
	}
	r.mu.Lock()
	// The engine has been shut down: a supervisor going down must not
	// post to its stopped workers.
	r.detached = true
	insts := []*appInstance{r.active, r.pending}
	r.active, r.pending = nil, nil
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
	r.stopStatus()
	<-r.statusDone
	r.rec.close(ctx)
}

// newInstance builds a supervisor for cfg in its own socket directory.
func (r *appRunner) newInstance(cfg AppConfig) (*appInstance, error) {
	r.mu.Lock()
	r.nextID++
	id := r.nextID
	r.mu.Unlock()
	inst := &appInstance{id: id, cfg: cfg, done: make(chan struct{})}
	inst.dir = filepath.Join(r.a.cfg.Server.RuntimeDir, fmt.Sprintf("app%d", id))
	sc := cfg.supervisorConfig(inst.dir)
	sc.CompressDir = r.a.cfg.compressedDir()
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
	r.poke()
}

// setUpstream is where every supervisor's SetAppUpstream lands. Only the
// active instance steers the edge, except that a pending instance's first
// ready generation takes over: it becomes active, and the old one is
// retired once the requests already sent to it are done. Called with the
// calling supervisor's lock held, so it only switches and never waits for
// more than the engine's workers.
func (r *appRunner) setUpstream(inst *appInstance, addr string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.detached:
		return
	case inst == r.active:
	case inst == r.pending && addr != "":
		old := r.active
		r.active, r.pending = inst, nil
		if old != nil {
			r.log.Info("the new [app] serves; retiring the previous supervisor", "new", inst.id, "old", old.id)
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
	done := make(chan error, 1)
	go func() {
		err := r.a.engine.SetUpstreamServers(appUpstream, servers)
		if err == nil && holding {
			err = r.a.engine.SetUpstreamHold(appUpstream, 0)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			// [app] was removed by a reload: the group is gone with it.
			r.log.Debug("app upstream not updated", "addr", addr, "err", err)
		}
	case <-r.a.engine.Done():
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
		if req, tun := r.a.engine.InFlight(addr); req == 0 && tun == 0 {
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
	r.poke()
}

// activeInstance returns the instance the edge follows, or nil.
func (r *appRunner) activeInstance() *appInstance {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.active
}

// deploy runs a blue/green deploy on the serving supervisor and blocks
// until it ended (see supervisor.Supervisor.Deploy).
func (r *appRunner) deploy(ctx context.Context) (supervisor.DeployReport, error) {
	r.actions.Lock()
	defer r.actions.Unlock()
	inst := r.activeInstance()
	if inst == nil {
		return supervisor.DeployReport{}, errNoApp
	}
	return inst.sup.Deploy(ctx)
}

// applyReload does what a reload means for the application; see reloadApp.
func (r *appRunner) applyReload(old, cur *AppConfig) AppReloadResult {
	switch {
	case old == nil && cur == nil:
		return AppReloadResult{App: "no [app] configured"}
	case cur == nil:
		r.mu.Lock()
		insts := []*appInstance{r.active, r.pending}
		r.active, r.pending, r.upstream = nil, nil, ""
		r.mu.Unlock()
		for _, inst := range insts {
			if inst != nil {
				inst.cancel()
				<-inst.done
			}
		}
		return AppReloadResult{App: "[app] removed: the application stopped"}
	case old == nil || r.activeInstance() == nil:
		inst, err := r.newInstance(*cur)
		if err != nil {
			return AppReloadResult{Error: fmt.Sprintf("[app]: %v", err)}
		}
		r.mu.Lock()
		r.active = inst
		r.mu.Unlock()
		r.run(inst)
		return AppReloadResult{App: "[app] added: the application is starting"}
	case !reflect.DeepEqual(*old, *cur):
		return r.handover(*cur)
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

// handover starts a supervisor with the new [app] next to the serving one;
// the edge switches to it when its first generation is ready (setUpstream).
// If it cannot come up, it is stopped and the old one keeps serving.
func (r *appRunner) handover(cfg AppConfig) AppReloadResult {
	inst, err := r.newInstance(cfg)
	if err != nil {
		return AppReloadResult{Error: fmt.Sprintf("[app]: %v; the previous configuration keeps serving", err)}
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
		return AppReloadResult{App: "[app] changed: the new configuration is starting (the previous one was not serving)"}
	}
	for {
		r.mu.Lock()
		took, stillPending := r.active == inst, r.pending == inst
		r.mu.Unlock()
		if took {
			return AppReloadResult{App: "[app] changed: the new configuration serves"}
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
			return AppReloadResult{Error: fmt.Sprintf("the new [app] did not start (%s); the previous configuration keeps serving", why)}
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// appDirPattern names the supervisors' socket directories.
var appDirPattern = regexp.MustCompile(`^app[0-9]+$`)

// removeStaleDirs removes socket directories a previous run left behind.
func (r *appRunner) removeStaleDirs() {
	entries, err := os.ReadDir(r.a.cfg.Server.RuntimeDir)
	if err != nil {
		return
	}
	for _, e := range entries {
		if e.IsDir() && appDirPattern.MatchString(e.Name()) {
			_ = os.RemoveAll(filepath.Join(r.a.cfg.Server.RuntimeDir, e.Name()))
		}
	}
}

// poke asks publishStatus to recompute the systemd status line.
func (r *appRunner) poke() {
	select {
	case r.statusPoke <- struct{}{}:
	default:
	}
}
