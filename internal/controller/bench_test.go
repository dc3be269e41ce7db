package controller

import (
	"context"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/gen"
	"github.com/sr6net/sr6/internal/pm/bus"
	"github.com/sr6net/sr6/internal/store"
	"github.com/sr6net/sr6/internal/topo"
)

// BenchmarkAddPolicies adds 1,000 policies to a 20-router grid (store on
// disk, no agents): the controller's share of bulk provisioning.
func BenchmarkAddPolicies(b *testing.B) {
	data, err := gen.YAML(gen.Options{Shape: "grid", Rows: 4, Cols: 5, Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	nw, err := topo.ParseNetwork("bench.yaml", data)
	if err != nil {
		b.Fatal(err)
	}
	routers := nw.Routers()
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
		addPolicies(b, routers, func(p Policy) error {
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
	g := errgroup.Group{}
	g.SetLimit(8)
	for i := 0; i < 1000; i++ {
		p := Policy{Name: fmt.Sprintf("p%d", i), Headend: routers[i%20].Name, Endpoint: routers[(i+7)%20].Name,
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
	routers := nw.Routers()
	for b.Loop() {
		b.StopTimer()
		st, err := store.OpenBolt(filepath.Join(b.TempDir(), "c.db"))
		if err != nil {
			b.Fatal(err)
		}
		c, _ := New(nw, st, nopPusher{}, nil)
		srv := httptest.NewServer(c.Handler())
		client := restv1.NewClient(srv.URL)
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

// BenchmarkPipeline measures measurement records through the embedded bus,
// pairing and storage, end to end: b.N pairs (2*b.N records) published in
// batches, until every result is stored.
func BenchmarkPipeline(b *testing.B) {
	data, _ := gen.YAML(gen.Options{Shape: "ring", Routers: 3, Hosts: 1, Name: "bench"})
	nw, _ := topo.ParseNetwork("bench.yaml", data)
	st, err := store.OpenBolt(filepath.Join(b.TempDir(), "c.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	c, _ := New(nw, st, nopPusher{}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bs, err := bus.OpenNATS(ctx, bus.NATSConfig{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	c.pm.retention = b.N + 1
	go func() { _ = c.Process(ctx, bs) }()
	segs := []string{"fc00:0:2::1", "fc00:0:3::d4"}
	b.ResetTimer()
	start := time.Now()
	base := start.UnixMilli() - int64(b.N) // recent: older halves expire
	const batch = 1000
	for i := 0; i < b.N; i += batch {
		var ms []*agentv1.Measurement
		for j := i; j < min(i+batch, b.N); j++ {
			for _, head := range []bool{true, false} {
				ms = append(ms, &agentv1.Measurement{Session: "s", Policy: "p", Segments: segs, Headend: head,
					PeriodStartUnixMs: base + int64(j), PeriodMs: 1000, Packets: 100})
			}
		}
		if err := bs.PublishBatch(ctx, ms); err != nil {
			b.Fatal(err)
		}
	}
	paired := func() int {
		c.pm.mu.Lock()
		defer c.pm.mu.Unlock()
		return len(c.pm.results["s"])
	}
	for paired() < b.N {
		time.Sleep(5 * time.Millisecond)
	}
	for {
		kvs, _ := st.List(ctx, resultPrefix)
		if len(kvs) >= b.N {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.ReportMetric(float64(2*b.N)/time.Since(start).Seconds(), "records/s")
}
