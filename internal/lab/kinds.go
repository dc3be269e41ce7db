package lab

import (
	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/kinds/registry"
	"github.com/sr6net/sr6/internal/topo"
)

// nodeKinds is the registry a lab asks what each node's kind does. Every
// lab uses the kinds sr6 ships; it becomes an Options field when a caller
// needs another set.
func nodeKinds() *kinds.Registry { return registry.Default() }

// stateNetwork plans the topology stored in st with the registry's kinds,
// so that every kind the registry knows is accepted, not only the two
// topo knows on its own.
func stateNetwork(st *State) (*topo.Network, error) {
	if st.Pins == nil {
		return nodeKinds().ParseNetwork(st.Source, []byte(st.Topology))
	}
	// Planned with the pins of a change, as deploy planned it.
	s, err := topo.Parse(st.Source, []byte(st.Topology), topo.WithKinds(nodeKinds()))
	if err != nil {
		return nil, err
	}
	return topo.PlanPinned(s, st.Pins)
}
