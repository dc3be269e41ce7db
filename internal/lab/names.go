package lab

import "strings"

// nsSep separates lab and node in namespace names. Lab names cannot contain
// it, so "<lab>." is a prefix that matches exactly one lab's namespaces.
const nsSep = "."

// Namespace is the network namespace name of node in lab.
func Namespace(lab, node string) string { return lab + nsSep + node }

// labOf returns the lab a namespace name belongs to, if it is sr6-shaped.
func labOf(ns string) (string, bool) {
	lab, _, ok := strings.Cut(ns, nsSep)
	return lab, ok
}
