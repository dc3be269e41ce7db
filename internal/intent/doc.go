// Package intent owns the Go model of one node's desired state, as the
// controller computes it and the agent applies it: the kernel part
// (dataplane.State: steering routes, local SIDs, underlay routes), the
// performance-monitoring part (segment lists to count, STAMP probes, the
// mark bit and period) and the generation. It also owns the one mapping
// between that model and the agent API's protobuf (ToProto, FromProto):
// protobuf is the wire format between controller and agent and is used
// nowhere else, and FromProto is where a received state is validated,
// every error naming its field.
package intent
