// Package lab owns emulated labs: it turns a planned *topo.Network into
// running Linux network namespaces (one per node, named "<lab>.<node>"),
// veth links, sysctls, addresses, the underlay (static routes or FRR
// IS-IS daemons), the routers' default SIDs and link impairments; it keeps
// a state file per lab so that destroy works after a crash. Deploying a
// changed topology onto a running lab applies only the difference
// (diff.go plans it, apply.go applies it). SRv6 policies
// are the lab controller's (api/rest/v1), not the lab's.
package lab
