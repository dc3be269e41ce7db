// Package topo owns the sr6 topology model: the YAML schema (v1), its loader
// with file:line:column errors, validation, and the address plan that turns a
// file into a *Network (loopbacks, locators, SIDs, link and host subnets) that
// every other part of sr6 reads.
//
// The flow is one straight line: Load (parse + validate) -> Plan -> *Network.
package topo
