// Package supervise owns long-running processes: it starts each one (in a
// named network namespace or the host's) with its log file, waits for its
// readiness check, restarts it with exponential backoff when it exits, and
// stops it with SIGTERM, a grace period and SIGKILL. A process still running
// from an earlier supervisor (found through its pid file) is adopted rather
// than started twice. A daemon may run after others of the same supervisor
// (Spec.After): it starts only once they are ready, and is stopped and
// started again after them whenever one of them exits or is replaced.
//
// It knows nothing of labs: callers hand it commands, namespaces, files and
// readiness checks.
package supervise
