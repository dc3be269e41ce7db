package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"golang.org/x/sync/errgroup"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/gen"
	"github.com/sr6net/sr6/internal/store"
	"github.com/sr6net/sr6/internal/topo"
)

// BenchmarkAddPolicies adds 1,000 policies to a 20-router grid (store on
// disk, no agents): the controller's share of bulk provisioning.
func BenchmarkAddPolicies(b *testing.B) { benchAdd(b, 4, 5, 1000, 7) }

// BenchmarkAdd10kGrid1024 adds 10,000 policies to a 1,024-router grid
// (store on disk, no agents): the controller's share of provisioning a
// large lab.
func BenchmarkAdd10kGrid1024(b *testing.B) { benchAdd(b, 32, 32, 10000, 500) }

// benchAdd adds n policies to a rows x cols grid's controller, each from
// router i to router i+offset (8 callers at a time), a fresh controller and
// store per iteration.
func benchAdd(b *testing.B, rows, cols, n, offset int) {
	data, err := gen.YAML(gen.Options{Shape: "grid", Rows: rows, Cols: cols, Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	nw, err := topo.ParseNetwork("bench.yaml", data)
	if err != nil {
		b.Fatal(err)
	}
	routers := nw.NodesWith(topo.Underlay)
	for b.Loop() {
		b.StopTimer()
		st, err := store.OpenBolt(filepath.Join(b.TempDir(), "c.db"))
		if err != nil {
			b.Fatal(err)
		}
		c, err := New(nw, st, nopPusher{}, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		addPoliciesN(b, routers, n, offset, func(p Policy) error {
			_, err := c.AddPolicy(context.Background(), p, false)
			return err
		})
		b.StopTimer()
		st.Close()
		b.StartTimer()
	}
}

// addPolicies adds 1,000 router-to-router policies with 8 callers at a
// time, as many as the bench command uses.
func addPolicies(b *testing.B, routers []*topo.Node, add func(Policy) error) {
	addPoliciesN(b, routers, 1000, 7, add)
}

// addPoliciesN adds n policies, the i-th from router i to router
// i+offset (modulo their number), with 8 callers at a time.
func addPoliciesN(b *testing.B, routers []*topo.Node, n, offset int, add func(Policy) error) {
	g := errgroup.Group{}
	g.SetLimit(8)
	for i := range n {
		p := Policy{Name: fmt.Sprintf("p%d", i), Headend: routers[i%len(routers)].Name, Endpoint: routers[(i+offset)%len(routers)].Name,
			Prefixes: []string{fmt.Sprintf("fd00:b:%x::/64", i)}}
		g.Go(func() error { return add(p) })
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkAddPoliciesREST is BenchmarkAddPolicies through the REST API
// and the client, 8 callers at a time.
func BenchmarkAddPoliciesREST(b *testing.B) {
	data, _ := gen.YAML(gen.Options{Shape: "grid", Rows: 4, Cols: 5, Name: "bench"})
	nw, _ := topo.ParseNetwork("bench.yaml", data)
	routers := nw.NodesWith(topo.Underlay)
	for b.Loop() {
		b.StopTimer()
		st, err := store.OpenBolt(filepath.Join(b.TempDir(), "c.db"))
		if err != nil {
			b.Fatal(err)
		}
		c, _ := New(nw, st, nopPusher{}, nil)
		h, err := c.NewHandler(HandlerConfig{Token: "bench-token"})
		if err != nil {
			b.Fatal(err)
		}
		srv := httptest.NewServer(h)
		client := restv1.NewClient(srv.URL, restv1.WithToken("bench-token"))
		b.StartTimer()
		addPolicies(b, routers, func(p Policy) error {
			_, err := client.AddPolicy(context.Background(), p, false)
			return err
		})
		b.StopTimer()
		srv.Close()
		st.Close()
		b.StartTimer()
	}
}

// BenchmarkAdd30 adds 30 policies to a controller already holding 1,000 on
// a 20-router grid, side by side: with no contested prefix, and with one
// policy held down (two policies in the store steer one prefix at one
// headend, as controllers sharing a store can leave them). The held-down
// policy must not make every add recompute every policy.
func BenchmarkAdd30(b *testing.B) {
	data, _ := gen.YAML(gen.Options{Shape: "grid", Rows: 4, Cols: 5, Name: "bench"})
	nw, _ := topo.ParseNetwork("bench.yaml", data)
	routers := nw.Routers()
	for _, held := range []bool{false, true} {
		name := "no-contest"
		if held {
			name = "one-held-down"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				st, err := store.OpenBolt(filepath.Join(b.TempDir(), "c.db"))
				if err != nil {
					b.Fatal(err)
				}
				c, _ := New(nw, st, nopPusher{}, nil)
				addPolicies(b, routers, func(p Policy) error {
					_, err := c.AddPolicy(ctx, p, false)
					return err
				})
				if held {
					for _, end := range []string{routers[5].Name, routers[6].Name} {
						p := Policy{Name: "held-" + end, Headend: routers[0].Name, Endpoint: end, Prefixes: []string{"fd00:c::/64"}}
						data, _ := json.Marshal(p)
						if _, err := st.Put(ctx, policyPrefix+p.Name, data); err != nil {
							b.Fatal(err)
						}
					}
					if err := c.Load(ctx); err != nil {
						b.Fatal(err)
					}
				}
				b.StartTimer()
				for i := range 30 {
					p := Policy{Name: fmt.Sprintf("n%d", i), Headend: routers[i%20].Name, Endpoint: routers[(i+3)%20].Name,
						Prefixes: []string{fmt.Sprintf("fd00:d:%x::/64", i)}}
					if _, err := c.AddPolicy(ctx, p, false); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				st.Close()
				b.StartTimer()
			}
		})
	}
}
