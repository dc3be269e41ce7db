// Package cli owns the sr6 command line: the cobra command tree, flag
// parsing and output formatting. Commands stay thin and call the packages
// that own the logic (topo, lab, gen, bench).
package cli
