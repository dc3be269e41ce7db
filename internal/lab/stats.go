package lab

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/topo"
)

// StatsOptions tune WatchStats.
type StatsOptions struct {
	// Target narrows the sample: "" every node, "node" one node,
	// "node:interface" one interface.
	Target string
	// Interval between samples; 0 is one second.
	Interval time.Duration
	// Count stops after that many samples; 0 runs until ctx is done.
	Count int
}

// statsNode is one node being sampled: a netlink handle kept open in its
// namespace for the whole watch (one socket, not one per sample), and its
// previous counters.
type statsNode struct {
	node   *topo.Node
	ifcs   []*topo.Interface
	h      *netlink.Handle
	prev   map[string]netlink.LinkStatistics
	prevAt time.Time
	cur    []restv1.InterfaceStats
}

// WatchStats samples the counters of lab name's interfaces every interval
// and calls fn with each sample (rates over the interval since the
// previous one, totals, drops), until ctx is done, so.Count samples were
// given, or fn returns an error (which WatchStats returns). Each sample
// is one link dump per node (all its interfaces in one netlink request),
// all nodes at once; only the topology's interfaces are reported.
func WatchStats(ctx context.Context, name string, so StatsOptions, opts Options, fn func(restv1.StatsSample) error) error {
	opts.defaults()
	if err := checkRoot(); err != nil {
		return err
	}
	if so.Interval <= 0 {
		so.Interval = time.Second
	}
	nodes, err := statsNodes(opts, name, so.Target)
	if err != nil {
		return err
	}
	defer func() {
		for _, n := range nodes {
			if n.h != nil {
				n.h.Close()
			}
		}
	}()
	for _, n := range nodes {
		nsh, err := nsutil.Handle(Namespace(name, n.node.Name))
		if err != nil {
			return err
		}
		// One rtnetlink socket per node (not one per netlink family: a
		// 1,000-router lab would hold 4,000); it stays in the namespace,
		// whose file is only needed to open it.
		n.h, err = netlink.NewHandleAt(nsh, unix.NETLINK_ROUTE)
		nsh.Close()
		if err != nil {
			return fmt.Errorf("netlink in %s: %w", Namespace(name, n.node.Name), err)
		}
	}
	if err := sampleAll(ctx, nodes, opts.Parallel); err != nil {
		return err
	}
	last := time.Now()
	tick := time.NewTicker(so.Interval)
	defer tick.Stop()
	for i := 0; so.Count == 0 || i < so.Count; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		t0 := time.Now()
		if err := sampleAll(ctx, nodes, opts.Parallel); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		now := time.Now()
		opts.Log.Debug("stats sample", "lab", name, "nodes", len(nodes), "took", now.Sub(t0))
		s := restv1.StatsSample{Lab: name, Time: now.UTC(), IntervalS: now.Sub(last).Seconds(),
			Interfaces: []restv1.InterfaceStats{}}
		last = now
		for _, n := range nodes {
			s.Interfaces = append(s.Interfaces, n.cur...)
		}
		if err := fn(s); err != nil {
			return err
		}
	}
	return nil
}

// statsNodes resolves the target to the nodes and interfaces to sample.
func statsNodes(opts Options, name, target string) ([]*statsNode, error) {
	st, err := opts.Store.Load(name)
	if err != nil {
		return nil, err
	}
	nw, err := stateNetwork(st)
	if err != nil {
		return nil, fmt.Errorf("lab %s: stored topology: %w", name, err)
	}
	if target == "" {
		var out []*statsNode
		for _, n := range nw.Nodes {
			if !nsutil.Exists(Namespace(name, n.Name)) {
				return nil, fmt.Errorf("lab %s is not running: namespace %s is missing", name, Namespace(name, n.Name))
			}
			out = append(out, &statsNode{node: n, ifcs: n.Interfaces})
		}
		return out, nil
	}
	if !strings.Contains(target, ":") {
		// A node alone: the endpoint check with its first interface
		// gives the same errors (unknown node, other lab, not running).
		n := nw.Node(target)
		if n == nil || len(n.Interfaces) == 0 {
			_, err := resolveEndpoint(opts, name, target+":-")
			return nil, err
		}
		if _, err := resolveEndpoint(opts, name, endpointName(n.Interfaces[0])); err != nil {
			return nil, err
		}
		return []*statsNode{{node: n, ifcs: n.Interfaces}}, nil
	}
	e, err := resolveEndpoint(opts, name, target)
	if err != nil {
		return nil, err
	}
	return []*statsNode{{node: e.ifc.Node, ifcs: []*topo.Interface{e.ifc}}}, nil
}

func sampleAll(ctx context.Context, nodes []*statsNode, parallel int) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(parallel)
	for _, n := range nodes {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := n.sample(); err != nil {
				return fmt.Errorf("stats of %s: %w", n.node.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// sample reads all of the node's links in one dump and turns the
// difference to the previous read into rates.
func (n *statsNode) sample() error {
	links, err := n.h.LinkList()
	if err != nil {
		return err
	}
	at := time.Now()
	byName := make(map[string]netlink.Link, len(links))
	for _, l := range links {
		byName[l.Attrs().Name] = l
	}
	dt := at.Sub(n.prevAt).Seconds()
	cur := make(map[string]netlink.LinkStatistics, len(n.ifcs))
	n.cur = n.cur[:0]
	for _, ifc := range n.ifcs {
		l, ok := byName[ifc.Name]
		if !ok {
			return errors.New("interface " + ifc.Name + " is missing")
		}
		var s netlink.LinkStatistics
		if l.Attrs().Statistics != nil {
			s = *l.Attrs().Statistics
		}
		cur[ifc.Name] = s
		is := restv1.InterfaceStats{Node: n.node.Name, Interface: ifc.Name, Peer: endpointName(ifc.Peer),
			State:   strings.ToLower(l.Attrs().OperState.String()),
			RxBytes: s.RxBytes, TxBytes: s.TxBytes, RxPackets: s.RxPackets, TxPackets: s.TxPackets,
			RxDropped: s.RxDropped, TxDropped: s.TxDropped, RxErrors: s.RxErrors, TxErrors: s.TxErrors}
		if p, ok := n.prev[ifc.Name]; ok && dt > 0 {
			is.RxBps = round2(rate(p.RxBytes, s.RxBytes, dt) * 8)
			is.TxBps = round2(rate(p.TxBytes, s.TxBytes, dt) * 8)
			is.RxPps = round2(rate(p.RxPackets, s.RxPackets, dt))
			is.TxPps = round2(rate(p.TxPackets, s.TxPackets, dt))
		}
		n.cur = append(n.cur, is)
	}
	n.prev, n.prevAt = cur, at
	return nil
}

// round2 keeps two decimals: more is noise of the clock, and bulk in
// every JSON line.
func round2(v float64) float64 { return math.Round(v*100) / 100 }

// rate is the increase per second; a counter that went back (the
// interface was re-created) counts from zero.
func rate(prev, cur uint64, seconds float64) float64 {
	if cur < prev {
		return float64(cur) / seconds
	}
	return float64(cur-prev) / seconds
}
