// Package pathcomp computes SR policy paths: constrained shortest path first
// (CSPF) on a live topology graph, and the shortest SRv6 segment list that
// forces a packet along a computed path. It is self-contained (standard
// library only, no other sr6 package) so the controller, the CLI and
// benchmarks can all feed it their own view of the network.
//
// # Graph
//
// A Graph is built once with NewGraph and is immutable afterwards, so any
// number of goroutines may call Compute, Segments and Expand on it at once.
// Link failures are modelled by WithLinkState, which returns a copy sharing
// everything but the per-link up/down bits. Per-call scratch space (distance
// arrays, the heap) comes from a sync.Pool owned by the graph, never from
// shared fields.
//
// # CSPF
//
// Compute minimises one metric (IGP, hop count or TE latency) over up links,
// never using excluded nodes or links, nor the links and transit nodes of a
// path it must be disjoint from. Waypoints (Constraints.Include) are visited
// in order; the path is the concatenation of one constrained shortest path
// per leg, which is optimal because SR lets legs revisit nodes.
//
// Ties between equal-cost paths are broken deterministically, the same way
// on every run: nodes at equal distance are settled in the order they
// reached that distance (FIFO), each node scans its links in ascending link
// id (insertion order), and a node's predecessor only changes on a strictly
// cheaper offer. So the path found first wins; between parallel links of
// equal cost, the lowest link id wins.
//
// # Segment lists
//
// Between segments, packets follow the network's IGP shortest path (IGP
// metric over up links, knowing nothing of the policy's exclusions), and
// equal-cost multipath (ECMP) may spread them over any of several shortest
// paths. Segments therefore only relies on unique shortest paths: from an
// anchor it jumps with one node segment (End) to the farthest path node that
// the anchor's unique shortest path reaches along the policy path. When not
// even the next link is that (a cheaper parallel link or detour, or an
// equal-cost alternative), it pins the link with an adjacency segment (End.X)
// of the anchor. The list always ends with the destination's node segment,
// which the caller swaps for the destination's service SID. Expand simulates
// forwarding of a list and is the ground truth the tests hold Segments to.
package pathcomp
