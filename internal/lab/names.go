package lab

import (
	"fmt"
	"strings"

	"github.com/sr6net/sr6/internal/topo"
)

// nsSep separates lab and node in namespace names. Lab names cannot contain
// it, so "<lab>." is a prefix that matches exactly one lab's namespaces.
const nsSep = "."

// CheckName refuses a lab name that breaks topo's rule (the one rule for
// topology files, the CLI and the store): such a name could lead outside
// the state directory or onto another lab's namespaces.
func CheckName(name string) error {
	if err := topo.CheckLabName(name); err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return nil
}

// Namespace is the network namespace name of node in lab.
func Namespace(lab, node string) string { return lab + nsSep + node }

// labOf returns the lab a namespace name belongs to, if it is sr6-shaped.
func labOf(ns string) (string, bool) {
	lab, _, ok := strings.Cut(ns, nsSep)
	return lab, ok
}

// ownsNamespace tells whether ns is a namespace lab would create,
// "<lab>.<node>" with a valid node name. Destroy deletes no other: a state
// file, being a file, may have been edited to list someone else's.
func ownsNamespace(lab, ns string) bool {
	l, node, ok := strings.Cut(ns, nsSep)
	return ok && l == lab && topo.CheckNodeName(node) == nil
}
