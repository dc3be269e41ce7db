// Package clab owns the import of containerlab topologies: it reads a
// containerlab file (name, topology.nodes, kinds, groups, defaults and
// links in the brief and extended formats) and writes the equivalent sr6
// topology (schema v1, internal/topo) as YAML, mapping every node to a
// router or a host and every interface name to a valid Linux name.
//
// What has no sr6 equivalent (management network, startup configuration,
// bridges, non-veth links, ...) is left out with one warning per field or
// node, positioned file:line:column like every topology error; what
// cannot be converted (a link to an undefined node, an endpoint used
// twice, a file that is not a containerlab topology) is an error. The
// result is checked with topo.Parse before it is returned, so it always
// passes `sr6 validate`.
package clab
