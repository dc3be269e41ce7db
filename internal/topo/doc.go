// Package topo owns the sr6 topology model: the YAML schema (v1), its loader
// with file:line:column errors, validation, and the address plan that turns a
// file into a *Network (loopbacks, locators, SIDs, link and host subnets) that
// every other part of sr6 reads.
//
// The flow is one straight line: Load (parse + validate) -> Plan -> *Network.
// PlanPinned plans with Pins, the values a running lab keeps for the nodes
// and links that stay when its file changes.
//
// What a node of each kind gets from the plan is decided by the kind's
// Traits (Underlay, SRv6), which topo defines and the kinds in
// internal/kinds declare: Load checks `kind:` against a Kinds set given
// with WithKinds (the kinds registry) and Plan copies each node's traits
// onto its Node, so readers of a Network ask n.Has(Underlay), never the
// kind's name. topo never imports a kind: kinds import topo. Without
// WithKinds, the two kinds the schema started with (router, host) are used.
package topo
