// Package lab owns emulated labs: it turns a planned *topo.Network into
// running Linux network namespaces (one per node, named "<lab>.<node>"),
// veth links, sysctls, addresses, the underlay (static routes or FRR
// IS-IS daemons), the routers' default SIDs and link impairments; it keeps
// a state file per lab so that destroy works after a crash, and it installs
// the static SRv6 policies of `sr6 lab srv6`.
package lab
