// Package upstream is the proxy's side toward the application servers:
// the servers every worker shares, with their counters and health
// (server.go, health.go), groups and how a server is chosen among them
// (group.go), connections to the servers and each worker's keep-alive
// pools of them (conn.go, pool.go), and the spool that holds a body
// between the client and the application, in memory and then in a
// temporary file (spool.go).
//
// Servers, specs and the health checker are shared by the workers; a
// Group, a Pool, their Conns and a Spool belong to one worker's loop.
package upstream
