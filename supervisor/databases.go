package supervisor

import "slices"

// Databases returns the DATABASES the last successful inspection of the
// project found (nil before one), passwords included: the cluster store
// of postgres = "app" connects with them.
func (s *Supervisor) Databases() []Database {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.project == nil {
		return nil
	}
	return slices.Clone(s.project.Databases)
}

// DSN is d as a libpq key=value connection string, as the PostgreSQL
// health check connects.
func (d Database) DSN() string { return postgresDSN(d) }
