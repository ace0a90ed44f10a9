package appliance

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"frontdoor/proxy"
)

// Maintenance mode: `frontdoor maintenance on NAME [--message TEXT]`
// answers the app's routes with a 503 page and Retry-After (static routes
// keep serving, the app keeps running), until `frontdoor maintenance off
// NAME`. The mode is kept in the state file, so a restart of frontdoor (or
// of the machine) keeps the app in maintenance.

// Maintenance is an app's maintenance mode, as status shows it and the
// state file keeps it.
type Maintenance struct {
	Since   time.Time `json:"since"`
	Message string    `json:"message,omitempty"`
	// RetryAfter is what the 503 answers carry in Retry-After.
	RetryAfter time.Duration `json:"retry_after"`
}

// maintenanceBucket is where the state file keeps each app's mode, by
// app name.
const maintenanceBucket = "maintenance"

// defaultRetryAfter is the Retry-After of maintenance answers unless the
// command gives another.
const defaultRetryAfter = 5 * time.Minute

// maxMaintenancePage bounds [app] maintenance_page: every answer carries
// it whole, from memory (images belong on a static route).
const maxMaintenancePage = 64 << 10

// readMaintenancePage reads an administrator's maintenance page.
func readMaintenancePage(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("maintenance page: %w", err)
	}
	defer f.Close()
	page, err := io.ReadAll(io.LimitReader(f, maxMaintenancePage+1))
	if err != nil {
		return nil, fmt.Errorf("maintenance page %s: %w", path, err)
	}
	if len(page) > maxMaintenancePage {
		return nil, fmt.Errorf("maintenance page %s is larger than 64 KiB (link its images and styles from a static route)", path)
	}
	return page, nil
}

// maintenanceState returns the app's maintenance mode, or nil when off.
func (r *appRunner) maintenanceState() *Maintenance {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.maint == nil {
		return nil
	}
	m := *r.maint
	return &m
}

// setMaintenance turns the app's maintenance mode on (m not nil) or off,
// in the engine and in the state file; pagePath is its [app]
// maintenance_page ("" for frontdoor's page).
func (r *appRunner) setMaintenance(m *Maintenance, pagePath string) error {
	var page []byte
	if m != nil {
		page = proxy.MaintenancePage(m.Message)
		if pagePath != "" {
			custom, err := readMaintenancePage(pagePath)
			if err != nil {
				return err
			}
			page = custom
		}
	}
	if err := r.set.a.engine.SetUpstreamMaintenance(r.group, page, retryAfterOf(m)); err != nil {
		return fmt.Errorf("maintenance of %s: %w", r.name, err)
	}
	r.mu.Lock()
	r.maint = m
	r.mu.Unlock()
	r.set.poke()
	return r.storeMaintenance(m)
}

func retryAfterOf(m *Maintenance) time.Duration {
	if m == nil || m.RetryAfter <= 0 {
		return defaultRetryAfter
	}
	return m.RetryAfter
}

// storeMaintenance keeps the mode in the state file (or removes it).
func (r *appRunner) storeMaintenance(m *Maintenance) error {
	db := r.set.a.state
	if db == nil {
		return nil
	}
	if m == nil {
		return db.DeleteBlob(maintenanceBucket, r.name)
	}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return db.PutBlob(maintenanceBucket, r.name, data)
}

// restoreMaintenance puts the app back in the maintenance mode the state
// file keeps for it, if any: at start, and when a reload adds the app.
func (r *appRunner) restoreMaintenance(cfg *AppConfig) {
	db := r.set.a.state
	if db == nil {
		return
	}
	data, ok, err := db.Blob(maintenanceBucket, r.name)
	if err != nil || !ok {
		return
	}
	var m Maintenance
	if err := json.Unmarshal(data, &m); err != nil {
		r.log.Warn("the state file's maintenance record is unreadable; the app is not in maintenance", "err", err)
		return
	}
	if err := r.setMaintenance(&m, cfg.MaintenancePage); err != nil {
		// A page that went missing: frontdoor's own page rather than none.
		r.log.Warn("maintenance page unreadable; frontdoor's page is shown", "err", err)
		_ = r.setMaintenance(&m, "")
		return
	}
	r.log.Info("the app is in maintenance (kept from before the restart)", "since", m.Since.Format(time.DateTime), "message", m.Message)
}

// MaintenanceResult is the answer of POST /maintenance.
type MaintenanceResult struct {
	App         string       `json:"app"`
	Maintenance *Maintenance `json:"maintenance,omitempty"`
	Error       string       `json:"error,omitempty"`
}

// handleMaintenance answers POST /maintenance?app=NAME&mode=on|off
// [&message=TEXT][&retry_after=DURATION].
func (a *Appliance) handleMaintenance(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	runner, err := a.apps.runner(q.Get("app"))
	if err != nil {
		writeJSON(w, http.StatusConflict, MaintenanceResult{App: q.Get("app"), Error: err.Error()})
		return
	}
	var m *Maintenance
	switch q.Get("mode") {
	case "on":
		m = &Maintenance{Since: time.Now(), Message: q.Get("message"), RetryAfter: defaultRetryAfter}
		if v := q.Get("retry_after"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil || d < time.Second {
				writeJSON(w, http.StatusBadRequest, MaintenanceResult{App: runner.name, Error: fmt.Sprintf("retry_after %q: want a duration of at least 1s", v)})
				return
			}
			m.RetryAfter = d
		}
	case "off":
	default:
		writeJSON(w, http.StatusBadRequest, MaintenanceResult{App: runner.name, Error: `mode must be "on" or "off"`})
		return
	}
	cfg := a.currentConfig()
	page := ""
	if app := cfg.appNamed(runner.name); app != nil {
		page = app.MaintenancePage
	}
	if err := runner.setMaintenance(m, page); err != nil {
		writeJSON(w, http.StatusInternalServerError, MaintenanceResult{App: runner.name, Error: err.Error()})
		return
	}
	if m != nil {
		runner.log.Warn("maintenance on: the app's routes answer 503", "message", m.Message)
	} else {
		runner.log.Info("maintenance off: the app's routes reach it again")
	}
	writeJSON(w, http.StatusOK, MaintenanceResult{App: runner.name, Maintenance: m})
}
