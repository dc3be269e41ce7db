package pathcomp

import (
	"fmt"
	"math/rand/v2"
)

// GridGraph builds a rows x cols grid for benchmarks and tests: node
// "rR_C" (0-based) is linked to its right and lower neighbours by up links
// named "rR_C--rR_C'" with a random IGP metric in 1..10 and latency in
// 10..1000 µs. The same seed gives the same graph; random metrics keep
// equal-cost ties (and so segment lists) realistic rather than the
// degenerate all-ECMP of a uniform grid.
func GridGraph(rows, cols int, seed uint64) (*Graph, error) {
	if rows < 1 || cols < 1 {
		return nil, fmt.Errorf("%w grid: %dx%d: need at least one row and one column", ErrInvalid, rows, cols)
	}
	rng := rand.New(rand.NewPCG(seed, 0x5236_6e65_7467_7269)) // second word: any fixed value
	nodes := make([]Node, 0, rows*cols)
	for r := range rows {
		for c := range cols {
			nodes = append(nodes, Node{Name: fmt.Sprintf("r%d_%d", r, c)})
		}
	}
	links := make([]Link, 0, rows*(cols-1)+cols*(rows-1))
	link := func(a, b int) {
		links = append(links, Link{
			Name:    nodes[a].Name + "--" + nodes[b].Name,
			A:       NodeID(a),
			B:       NodeID(b),
			IGP:     1 + rng.Uint32N(10),
			Latency: 10 + rng.Uint32N(991),
			Up:      true,
		})
	}
	for r := range rows {
		for c := range cols {
			n := r*cols + c
			if c+1 < cols {
				link(n, n+1)
			}
			if r+1 < rows {
				link(n, n+cols)
			}
		}
	}
	return NewGraph(nodes, links)
}
