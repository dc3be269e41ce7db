package topo

import "strings"

// Traits are what the topology model needs to know about a kind of node:
// they decide validation, the address plan and which graphs a node is part
// of. The kinds themselves (internal/kinds/...) declare their traits; topo
// defines the vocabulary and never imports a kind, because kinds import
// topo. The planner copies a node's traits onto its Node, so that everything
// reading a Network (underlay, controller, lab) asks n.Traits instead of
// comparing kind names.
type Traits uint8

const (
	// Underlay: the node routes IPv6 for the others. Shortest paths transit
	// it, it gets the static underlay or runs IS-IS, and a link between two
	// underlay nodes is a core link: IPv6 only, from plan.links, with End.X
	// SIDs at both ends. A link with a non-underlay end is an edge link:
	// IPv4 and IPv6 from plan.hosts4 / plan.hosts6, the underlay end takes
	// .1 / ::1 and the other ::2 / .2. A non-underlay node hangs off the
	// underlay node at the other end of its first link (its gateway), must
	// have a link, and cannot be linked to another non-underlay node.
	Underlay Traits = 1 << iota
	// SRv6: the node is an SRv6 node: it has a node id, a loopback, a
	// locator in plan.locators with the End / End.DX4 / End.DT6 SIDs and a
	// STAMP probe address, and the file may set its id, loopback and
	// locator. Every underlay node is an SRv6 node (the controller's graph
	// and the End.X SIDs assume it); an SRv6 node outside the underlay is
	// reached through its gateway.
	SRv6
)

// Has tells whether t has every trait of want.
func (t Traits) Has(want Traits) bool { return t&want == want }

func (t Traits) String() string {
	var out []string
	if t.Has(Underlay) {
		out = append(out, "underlay")
	}
	if t.Has(SRv6) {
		out = append(out, "srv6")
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, "|")
}

// Kinds is the set of node kinds a topology may use: the loader checks
// `kind:` against it and the planner takes each node's traits from it. The
// registry in internal/kinds implements it; tests pass their own.
type Kinds interface {
	// Traits returns the traits of kind name; false when there is no such
	// kind.
	Traits(kind string) (Traits, bool)
	// Names lists every kind, in the order error messages give them.
	Names() []string
}

// Option changes how Load, Parse and Plan work.
type Option func(*options)

type options struct{ kinds Kinds }

// WithKinds loads and plans with the kinds k instead of the two built-in
// ones. Every entry point of sr6 passes the kinds registry
// (registry.Default() in internal/kinds/registry), so that a kind added
// there is accepted everywhere.
func WithKinds(k Kinds) Option { return func(o *options) { o.kinds = k } }

func buildOptions(opts []Option) options {
	o := options{kinds: builtinKinds{}}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// Names of the two kinds the schema started with. Their traits are declared
// by their own packages (internal/kinds/router and internal/kinds/host);
// the copy in builtinKinds only serves callers that give no Kinds.
const (
	KindRouter = "router"
	KindHost   = "host"
)

// builtinKinds are router and host, for callers that do not pass WithKinds
// (topo's own tests and fuzzers). A test in internal/kinds/registry checks that these traits
// equal what the router and host kinds declare, so the two cannot drift.
type builtinKinds struct{}

func (builtinKinds) Traits(kind string) (Traits, bool) {
	switch kind {
	case KindRouter:
		return Underlay | SRv6, true
	case KindHost:
		return 0, true
	}
	return 0, false
}

func (builtinKinds) Names() []string { return []string{KindRouter, KindHost} }

// kindsWith lists the kinds of ks that have trait t, for messages such as
// "hosts attach to routers".
func kindsWith(ks Kinds, t Traits) []string {
	var out []string
	for _, name := range ks.Names() {
		if tr, _ := ks.Traits(name); tr.Has(t) {
			out = append(out, name)
		}
	}
	return out
}

// kindsWithout lists the kinds of ks that lack trait t.
func kindsWithout(ks Kinds, t Traits) []string {
	var out []string
	for _, name := range ks.Names() {
		if tr, _ := ks.Traits(name); !tr.Has(t) {
			out = append(out, name)
		}
	}
	return out
}

// plural names the nodes of kinds: "routers", "routers or spines".
func plural(kinds []string) string {
	if len(kinds) == 0 {
		return "nodes"
	}
	out := make([]string, len(kinds))
	for i, k := range kinds {
		out[i] = k + "s"
	}
	return strings.Join(out, " or ")
}

// article names one node of kinds: "a router", "a router or spine".
func article(kinds []string) string {
	if len(kinds) == 0 {
		return "a node"
	}
	a := "a "
	if strings.ContainsRune("aeiou", rune(kinds[0][0])) {
		a = "an "
	}
	return a + strings.Join(kinds, " or ")
}
