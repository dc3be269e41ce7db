// Package agent owns the sr6 node agent: the gRPC server (api/agent/v1)
// that runs on an SRv6 router, turns the controller's desired state into
// kernel routes through internal/dataplane, reads them back, and streams
// interface events. It persists the last desired state so that after a
// restart it reconciles on its own, removing stale routes, before the
// controller reconnects.
package agent
