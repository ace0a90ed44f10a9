package appliance

import "frontdoor/state/cluster"

// clusterMetrics writes this edge's connection to the cluster's
// PostgreSQL ([cluster]): whether it is up, since when, and how many
// times it was lost.
func clusterMetrics(m *metricsWriter, st *cluster.Status) {
	if st == nil {
		return
	}
	m.family("frontdoor_cluster_up", "gauge", "1 while the edge reaches the cluster's PostgreSQL (0: serving from its state file, no orders).")
	m.sample("frontdoor_cluster_up", boolValue(st.State == cluster.StateUp), "edge", st.Edge)
	m.family("frontdoor_cluster_state_since_timestamp_seconds", "gauge", "When the connection's current state (up or not) began.")
	m.sample("frontdoor_cluster_state_since_timestamp_seconds", unixSeconds(st.Since), "edge", st.Edge)
	m.family("frontdoor_cluster_outages_total", "counter", "Connections to the cluster's PostgreSQL lost since start.")
	m.sample("frontdoor_cluster_outages_total", float64(st.Outages), "edge", st.Edge)
	m.family("frontdoor_cluster_pending_events", "gauge", "Events waiting for the cluster's PostgreSQL.")
	m.sample("frontdoor_cluster_pending_events", float64(st.PendingEvents), "edge", st.Edge)
}
