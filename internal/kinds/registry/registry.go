// Package registry is the one place the node kinds sr6 ships are
// registered. Adding a kind is a package under internal/kinds and one line
// in Default; lab, controller and underlay need no change when the kind's
// traits are ones they already handle.
package registry

import (
	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/kinds/host"
	"github.com/sr6net/sr6/internal/kinds/router"
)

// Default returns a new registry of the kinds sr6 ships, in the order error
// messages list them. It is built on every call rather than kept in a
// package variable: it is two small values, and a caller that wants to
// share one passes it along.
func Default() *kinds.Registry {
	r, err := kinds.New(router.Kind{}, host.Kind{})
	if err != nil {
		// The list above is fixed at compile time and TestDefault builds
		// it: this cannot happen in a binary whose tests pass.
		panic("kinds registry: " + err.Error())
	}
	return r
}
