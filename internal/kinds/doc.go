// Package kinds owns the one extension point for what a kind of node is and
// does: the Kind interface (traits, sysctls, addresses, SIDs, MTU, daemons)
// and the Registry that maps a topology's `kind:` values to their Kind.
// Each kind is a small package of its own (internal/kinds/router,
// internal/kinds/host); internal/kinds/registry is the one place they are
// registered. Lab, controller and underlay ask a node's kind (its traits
// through topo.Node.Traits, its behaviour through the registry) and never
// compare kind names.
//
// How the planner learns a kind's traits without a cycle: kinds import topo
// (they describe topo.Nodes), so topo cannot import kinds. topo therefore
// defines the vocabulary, topo.Traits (Underlay, SRv6) and the small
// topo.Kinds interface (Traits by name, Names); each Kind declares its
// traits, and the Registry implements topo.Kinds. Callers hand the registry
// to the loader with topo.WithKinds (or call Registry.LoadNetwork), which
// validates `kind:` against it and copies each node's traits onto its
// topo.Node. Everything downstream of the plan reads n.Traits, so the
// underlay and the controller never need the registry at all, and a new
// kind with the traits of an existing one flows through planning, the
// underlay and the controller without a line changed there. Traits are data
// rather than methods the planner calls back, because the plan must be a
// pure function of the file and the traits: that keeps it deterministic,
// testable with a fake registry, and cheap to redo from a state file.
//
// The Registry is built by a function (New, and registry.Default for the
// kinds sr6 ships) rather than a global map filled by init functions: two
// registries can live side by side (tests register a fake kind without
// touching what the binary uses) and nothing can change a registry after
// it is built.
package kinds
