package pathcomp

import (
	"errors"
	"math/rand/v2"
	"testing"
)

// Benchmarks run on GridGraph grids (random IGP 1..10, latency 10..1000 µs)
// with requests drawn up front from a fixed seed, so every run and every
// -benchtime computes the same paths. Each reports ms/path.

type benchReq struct {
	src, dst NodeID
	c        Constraints
}

func benchGrid(b *testing.B, rows, cols int) *Graph {
	b.Helper()
	g, err := GridGraph(rows, cols, 42)
	if err != nil {
		b.Fatal(err)
	}
	return g
}

// benchReqs draws n random source/destination pairs. Constrained ones also
// get a waypoint, 3 excluded nodes and 3 excluded links, and minimise
// latency.
func benchReqs(g *Graph, n int, constrained bool) []benchReq {
	rng := rand.New(rand.NewPCG(7, 11))
	node := func() NodeID { return NodeID(rng.IntN(g.NumNodes())) }
	reqs := make([]benchReq, n)
	for i := range reqs {
		r := benchReq{src: node(), dst: node()}
		if constrained {
			r.c.Metric = MetricLatency
			r.c.Include = []NodeID{node()}
			for len(r.c.ExcludeNodes) < 3 {
				if x := node(); x != r.src && x != r.dst && x != r.c.Include[0] {
					r.c.ExcludeNodes = append(r.c.ExcludeNodes, x)
				}
			}
			for range 3 {
				r.c.ExcludeLinks = append(r.c.ExcludeLinks, LinkID(rng.IntN(g.NumLinks())))
			}
		}
		reqs[i] = r
	}
	return reqs
}

func benchCompute(b *testing.B, g *Graph, reqs []benchReq) {
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r := reqs[i%len(reqs)]
		if _, err := g.Compute(r.src, r.dst, r.c); err != nil && !errors.Is(err, ErrNoPath) {
			b.Fatal(err)
		}
		i++
	}
	reportPerPath(b)
}

func reportPerPath(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/path")
}

// BenchmarkCSPF1k: a 32x32 grid, 1024 nodes and 1984 links.
func BenchmarkCSPF1k(b *testing.B) {
	g := benchGrid(b, 32, 32)
	b.Run("plain", func(b *testing.B) { benchCompute(b, g, benchReqs(g, 256, false)) })
	b.Run("waypoint+exclusions", func(b *testing.B) { benchCompute(b, g, benchReqs(g, 256, true)) })
}

// BenchmarkCSPF10k: a 100x100 grid, 10000 nodes and 19800 links.
func BenchmarkCSPF10k(b *testing.B) {
	g := benchGrid(b, 100, 100)
	b.Run("plain", func(b *testing.B) { benchCompute(b, g, benchReqs(g, 256, false)) })
	b.Run("waypoint+exclusions", func(b *testing.B) { benchCompute(b, g, benchReqs(g, 256, true)) })
}

// BenchmarkSegments10k compresses latency-optimal paths on the 100x100
// grid: they stray from the IGP shortest paths, so the lists are not
// trivial. It also reports the average path and list lengths.
func BenchmarkSegments10k(b *testing.B) {
	g := benchGrid(b, 100, 100)
	var paths []Path
	for _, r := range benchReqs(g, 64, false) {
		p, err := g.Compute(r.src, r.dst, Constraints{Metric: MetricLatency})
		if err != nil {
			b.Fatal(err)
		}
		paths = append(paths, p)
	}
	var links, segs int
	for _, p := range paths {
		s, err := g.Segments(p, false)
		if err != nil {
			b.Fatal(err)
		}
		links += len(p.Links)
		segs += len(s)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := g.Segments(paths[i%len(paths)], false); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportPerPath(b)
	b.ReportMetric(float64(links)/float64(len(paths)), "links/path")
	b.ReportMetric(float64(segs)/float64(len(paths)), "segs/path")
}

// BenchmarkCSPF10kParallel measures throughput with Compute called from
// GOMAXPROCS goroutines on one shared graph; ms/path is wall time divided
// by paths, so it shrinks with cores.
func BenchmarkCSPF10kParallel(b *testing.B) {
	g := benchGrid(b, 100, 100)
	reqs := benchReqs(g, 256, false)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(reqs))
		for pb.Next() {
			r := reqs[i%len(reqs)]
			if _, err := g.Compute(r.src, r.dst, r.c); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	reportPerPath(b)
}
