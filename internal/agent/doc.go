// Package agent owns the sr6 node agent: the gRPC server (api/agent/v1)
// that runs on an SRv6 router, turns the controller's desired state into
// kernel routes through internal/dataplane, reads them back, and streams
// interface events. It persists the last desired state so that after a
// restart it reconciles on its own, removing stale routes, before the
// controller reconnects.
//
// An agent manages the network namespace its Config names (every netlink
// handle, socket and eBPF attachment is made there through
// internal/nsutil), so that one process can host many: `sr6 agent` on a
// real Linux box is one agent in its own namespace (Run); a lab runs every
// router's agent in one host process (RunHost), each with its own
// endpoint, certificate, state file and namespace.
package agent
