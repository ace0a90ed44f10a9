package appliance

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"time"

	"frontdoor/acme"
	"frontdoor/state/cluster"
	"frontdoor/supervisor"
)

// The [cluster] glue: the cluster store wraps the state file and becomes
// the certificate manager's Store and Cluster; the edge's events and what
// it serves go into the cluster's history and heartbeat; postgres = "app"
// follows the application's database.

// openCluster opens the cluster store when the configuration has
// [cluster]. It does not fail because PostgreSQL is down: the store then
// serves from the state file and keeps trying.
func (a *Appliance) openCluster() error {
	cc := a.cfg.Cluster
	if cc == nil {
		return nil
	}
	keyFile := cluster.KeyFile(cc.KeyFile)
	key, err := cluster.LoadKey(keyFile)
	if err != nil {
		return a.cfg.problem("cluster.key_file", err.Error(), fmt.Sprintf("make the key once with `frontdoor cluster-key > %s` and copy it to every edge", keyFile))
	}
	dsn := cc.Postgres
	if dsn == postgresFromApp {
		dsn = "" // learned from the application's settings (followAppDatabase)
	}
	st, err := cluster.Open(cluster.Options{
		DSN:           dsn,
		Schema:        cc.Schema,
		Edge:          cc.edgeName(),
		Key:           key,
		Local:         a.state,
		Shared:        acme.ClusterBuckets(),
		Version:       a.version,
		Heartbeat:     cc.Heartbeat.Duration,
		RetryMax:      cc.RetryMax.Duration,
		ChallengeWait: cc.ChallengeWait.Duration,
		Logger:        a.log.With("part", "cluster"),
		EdgeInfo:      a.clusterEdgeInfo,
		OnEvent:       func(kind, msg string) { a.recordLocalEvent("cluster", kind, msg) },
	})
	if err != nil {
		return fmt.Errorf("%s: [cluster]: %w", a.cfgPath, err)
	}
	a.cluster = st
	return nil
}

// certStore is the certificate manager's store: the cluster's, or the
// state file.
func (a *Appliance) certStore() acme.Store {
	if a.cluster != nil {
		return a.cluster
	}
	return a.state
}

// certCluster is the manager's Cluster (nil without [cluster]; never a
// typed nil).
func (a *Appliance) certCluster() acme.Cluster {
	if a.cluster != nil {
		return a.cluster
	}
	return nil
}

// leaseTTL is [cluster] lease (0: the manager's default).
func (a *Appliance) leaseTTL(cfg *Config) time.Duration {
	if cfg.Cluster == nil {
		return 0
	}
	return cfg.Cluster.Lease.Duration
}

// clusterEdgeInfo is what the heartbeat tells the other edges: the
// certificates this edge serves and its last certificate error.
func (a *Appliance) clusterEdgeInfo() cluster.EdgeInfo {
	var info cluster.EdgeInfo
	m := a.certManager()
	if m == nil {
		return info
	}
	for _, c := range m.Status() {
		if c.Source != "acme" {
			continue
		}
		if c.Serial != "" {
			info.Certificates = append(info.Certificates, cluster.ServedCert{Name: c.Name, Serial: c.Serial, NotAfter: c.NotAfter, Issuer: c.Issuer})
		}
		if c.LastError != "" && c.LastAttempt.After(info.LastErrorAt) {
			info.LastError, info.LastErrorAt = c.Name+": "+c.LastError, c.LastAttempt
		}
	}
	return info
}

// followAppDatabase gives the cluster store the application's default
// PostgreSQL database (postgres = "app") once the supervisor has read the
// settings, and again whenever they change.
func (a *Appliance) followAppDatabase(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	last := ""
	for {
		if dsn := a.appDatabaseDSN(); dsn != "" && dsn != last {
			if last == "" {
				a.log.Info("the cluster uses the application's database", "database", redactedDSN(dsn))
			} else {
				a.log.Info("the application's database changed: the cluster follows it", "database", redactedDSN(dsn))
			}
			last = dsn
			a.cluster.SetDSN(dsn)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// appDatabaseDSN is the connection string of the (only) application's
// PostgreSQL database ("default", else the first), or "" before the
// settings were read (or without one).
func (a *Appliance) appDatabaseDSN() string {
	if a.apps == nil {
		return ""
	}
	r, err := a.apps.runner("") // the only app: validateCluster refuses "app" with several
	if err != nil {
		return ""
	}
	inst := r.activeInstance()
	if inst == nil {
		return ""
	}
	var pg []supervisor.Database
	for _, d := range inst.sup.Databases() {
		if d.IsPostgres() {
			pg = append(pg, d)
		}
	}
	sort.SliceStable(pg, func(i, j int) bool { return pg[i].Alias == "default" && pg[j].Alias != "default" })
	if len(pg) == 0 {
		return ""
	}
	return pg[0].DSN()
}

// startCluster starts what follows the cluster after the application:
// the database of postgres = "app".
func (a *Appliance) startCluster() {
	if a.cluster == nil || a.cfg.Cluster.Postgres != postgresFromApp {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.stopClusterFollow = cancel
	go a.followAppDatabase(ctx)
}

// closeCluster ends the connection (after the certificate manager).
func (a *Appliance) closeCluster() {
	if a.stopClusterFollow != nil {
		a.stopClusterFollow()
	}
	if a.cluster != nil {
		a.cluster.Close()
	}
}

// clusterStatus is the cluster part of the status (nil without
// [cluster]).
func (a *Appliance) clusterStatus() *cluster.Status {
	if a.cluster == nil {
		return nil
	}
	st := a.cluster.Status()
	return &st
}

// ClusterReport is GET /cluster: this edge's connection and, while the
// database answers, every edge.
type ClusterReport struct {
	Status cluster.Status `json:"status"`
	// View is the cluster as the database knows it; nil (ViewError says
	// why) while this edge cannot reach it.
	View      *cluster.View `json:"view,omitempty"`
	ViewError string        `json:"view_error,omitempty"`
}

func (a *Appliance) handleCluster(w http.ResponseWriter, r *http.Request) {
	if a.cluster == nil {
		http.Error(w, "this edge has no [cluster]: it keeps its certificates in its own state file", http.StatusConflict)
		return
	}
	rep := ClusterReport{Status: a.cluster.Status()}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if v, err := a.cluster.View(ctx); err != nil {
		rep.ViewError = err.Error()
	} else {
		rep.View = &v
	}
	writeJSON(w, http.StatusOK, rep)
}

// Cluster asks the daemon for the cluster's state.
func (c *AdminClient) Cluster(ctx context.Context) (ClusterReport, error) {
	var rep ClusterReport
	body, _, err := c.do(ctx, http.MethodGet, "/cluster")
	if err != nil {
		return rep, err
	}
	if err := json.Unmarshal(body, &rep); err != nil {
		return rep, fmt.Errorf("decode the cluster report: %w", err)
	}
	return rep, nil
}
