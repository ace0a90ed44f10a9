package appliance

import (
	"fmt"
	"io"
	"os"
	"time"
)

// Maintenance is an app's maintenance mode, as status shows it: while it
// is on, the app's routes answer a 503 page with Retry-After (static
// routes keep serving), and it survives restarts (it is kept in the
// state file).
type Maintenance struct {
	Since   time.Time `json:"since"`
	Message string    `json:"message,omitempty"`
}

// maxMaintenancePage bounds [app] maintenance_page: the page is held in
// memory by every worker.
const maxMaintenancePage = 1 << 20

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
		return nil, fmt.Errorf("maintenance page %s is larger than 1 MiB", path)
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
