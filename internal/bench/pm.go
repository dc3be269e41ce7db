package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"time"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	"github.com/sr6net/sr6/internal/controller"
	"github.com/sr6net/sr6/internal/gen"
	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/pm/bus"
	"github.com/sr6net/sr6/internal/pm/processor"
	"github.com/sr6net/sr6/internal/store"
	"github.com/sr6net/sr6/internal/topo"
)

// PM measures loss measurement's costs and speed: throughput of a policy
// with and without the counting programs (iperf3, alternating), how soon a
// single dropped packet is reported at a 1 s period, and the pipeline's
// ingest rate.
func PM(ctx context.Context, dir string, rounds int) ([]ControllerResult, error) {
	nw, opts, c, err := controllerLab(ctx, gen.Options{Shape: "line", Routers: 3, Hosts: 1, Name: "benchpm"}, dir)
	if err != nil {
		return nil, err
	}
	defer lab.Destroy(context.WithoutCancel(ctx), nw.Name, opts)
	for _, p := range []controller.Policy{{Name: "fwd", From: "h1", To: "h2"}, {Name: "back", From: "h2", To: "h1"}} {
		if _, err := c.AddPolicy(ctx, p, false); err != nil {
			return nil, err
		}
	}
	ns := func(node string) string { return lab.Namespace(nw.Name, node) }
	h2 := nw.Node("h2").Interfaces[0].Addr4.Addr().String()
	server := exec.CommandContext(ctx, "iperf3", "-s")
	if err := nsutil.Start(ns("h2"), server); err != nil {
		return nil, fmt.Errorf("iperf3 server: %w", err)
	}
	defer func() { _ = server.Process.Kill(); _ = server.Wait() }()
	time.Sleep(300 * time.Millisecond)
	iperf := func() (float64, error) {
		cmd := exec.CommandContext(ctx, "iperf3", "-c", h2, "-t", "3", "-J")
		var res []byte
		err := nsutil.Do(ns("h1"), func() error {
			var e error
			res, e = cmd.Output()
			return e
		})
		if err != nil {
			return 0, fmt.Errorf("iperf3: %w", err)
		}
		var j struct {
			End struct {
				SumReceived struct {
					BitsPerSecond float64 `json:"bits_per_second"`
				} `json:"sum_received"`
			} `json:"end"`
		}
		if err := json.Unmarshal(res, &j); err != nil {
			return 0, err
		}
		return j.End.SumReceived.BitsPerSecond, nil
	}
	var without, with []float64
	for i := 0; i < rounds; i++ {
		bps, err := iperf()
		if err != nil {
			return nil, err
		}
		without = append(without, bps)
		if _, err := c.StartSession(ctx, controller.Session{Name: "bench", Policy: "fwd", PeriodMs: 1000}); err != nil {
			return nil, err
		}
		time.Sleep(1500 * time.Millisecond) // programs attached and lists registered
		if bps, err = iperf(); err != nil {
			return nil, err
		}
		with = append(with, bps)
		if err := c.StopSession(ctx, "bench"); err != nil {
			return nil, err
		}
		time.Sleep(500 * time.Millisecond)
	}
	a, b := median64(without), median64(with)
	overhead := (a - b) / a
	out := []ControllerResult{{Name: "throughput with vs without counting programs (iperf3 over the policy)",
		Value: fmt.Sprintf("%.1f%% (%.2f vs %.2f Gbit/s)", 100*overhead, b/1e9, a/1e9), Goal: "<= 5 %", Met: overhead <= 0.05,
		Detail: fmt.Sprintf("medians of %d alternating 3 s runs", rounds)}}

	det, err := detection(ctx, c, nw, ns)
	if err != nil {
		return nil, err
	}
	out = append(out, ControllerResult{Name: "single dropped packet reported, 1 s period", Value: fmt.Sprintf("%.2f s", det.Seconds()),
		Goal: "<= 2 s", Met: det <= 2*time.Second, Detail: "from the drop to the result in the controller's API"})

	rate, err := Pipeline(ctx, filepath.Join(dir, "pipeline"), 100_000)
	if err != nil {
		return nil, err
	}
	out = append(out, ControllerResult{Name: "pipeline ingest: bus -> pairing -> store", Value: fmt.Sprintf("%.0f records/s", rate),
		Goal: ">= 100k records/s", Met: rate >= 100_000, Detail: "200,000 records, embedded NATS JetStream, bbolt"})
	return out, nil
}

// detection drops exactly one packet of the measured policy and times how
// long until the controller reports it lost.
func detection(ctx context.Context, c *controller.Client, nw *topo.Network, ns func(string) string) (time.Duration, error) {
	if _, err := c.StartSession(ctx, controller.Session{Name: "detect", Policy: "fwd", PeriodMs: 1000}); err != nil {
		return 0, err
	}
	defer c.StopSession(context.WithoutCancel(ctx), "detect")
	time.Sleep(2500 * time.Millisecond)
	tail := nw.Node("r3").Locator.String()
	for _, args := range [][]string{
		{"add", "table", "inet", "benchpm"},
		{"add", "chain", "inet", "benchpm", "lossy", "{ type filter hook forward priority 0; }"},
		{"add", "rule", "inet", "benchpm", "lossy", "ip6", "nexthdr", "43", "ip6", "daddr", tail, "counter", "drop"},
	} {
		if err := nsutil.Run(ns("r2"), exec.Command("nft", args...)); err != nil {
			return 0, fmt.Errorf("nft %v: %w", args, err)
		}
	}
	dst := nw.Node("h2").Interfaces[0].Addr4.Addr().String() + ":9"
	var sent time.Time
	err := nsutil.Do(ns("h1"), func() error {
		conn, err := net.ListenPacket("udp4", ":0")
		if err != nil {
			return err
		}
		defer conn.Close()
		addr, err := net.ResolveUDPAddr("udp4", dst)
		if err != nil {
			return err
		}
		sent = time.Now()
		_, err = conn.WriteTo([]byte("one"), addr)
		return err
	})
	if err != nil {
		return 0, err
	}
	time.Sleep(50 * time.Millisecond)
	if err := nsutil.Run(ns("r2"), exec.Command("nft", "delete", "table", "inet", "benchpm")); err != nil {
		return 0, err
	}
	for time.Since(sent) < 10*time.Second {
		rs, err := c.Results(ctx, "detect", sent.Add(-2*time.Second), time.Time{})
		if err != nil {
			return 0, err
		}
		for _, r := range rs {
			if r.Lost == 1 {
				return time.Since(sent), nil
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, fmt.Errorf("the dropped packet was not reported within 10 s")
}

// Pipeline pushes n measured periods (2n records) through the bus and the
// processor into a store and returns records per second.
func Pipeline(ctx context.Context, dir string, n int) (float64, error) {
	st, err := store.OpenBolt(filepath.Join(dir + "-store.db"))
	if err != nil {
		return 0, err
	}
	defer st.Close()
	// As many results kept in memory per session as the controller keeps.
	p := processor.New(st, nil, 3600)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b, err := bus.OpenNATS(ctx, bus.NATSConfig{Dir: dir})
	if err != nil {
		return 0, err
	}
	defer b.Close()
	stored := make(chan struct{})
	go func() { _ = p.Run(ctx, b) }()
	segs := []string{"fc00:0:2::d4"}
	// Recent periods (1 ms apart: the processor expires halves of periods
	// older than ten minutes).
	base := time.Now().UnixMilli() - int64(n)
	// Listing every result while they are written would compete with the
	// writer: wait for the last period's key, then count once in a while.
	last := processor.StoreKey(processor.Result{Session: "s", Kind: "loss", Segments: segs,
		PeriodStart: time.UnixMilli(base + int64(n-1))})
	go func() {
		defer close(stored)
		for ctx.Err() == nil {
			if _, err := st.Get(ctx, last); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		for ctx.Err() == nil {
			if count, _ := processor.StoredResults(ctx, st); count >= n {
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	start := time.Now()
	for i := 0; i < n; i += 1000 {
		var ms []*agentv1.Measurement
		for j := i; j < min(i+1000, n); j++ {
			for _, head := range []bool{true, false} {
				ms = append(ms, &agentv1.Measurement{Session: "s", Policy: "p", Segments: segs, Headend: head,
					PeriodStartUnixMs: base + int64(j), PeriodMs: 1000, Packets: 10})
			}
		}
		if err := b.PublishBatch(ctx, ms); err != nil {
			return 0, err
		}
	}
	select {
	case <-stored:
	case <-time.After(2 * time.Minute):
		return 0, fmt.Errorf("pipeline: results not all stored after 2 minutes (waiting for %s)", last)
	}
	return float64(2*n) / time.Since(start).Seconds(), nil
}

func median64(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
