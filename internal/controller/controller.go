package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/dataplane"
	"github.com/sr6net/sr6/internal/intent"
	"github.com/sr6net/sr6/internal/pathcomp"
	"github.com/sr6net/sr6/internal/pm/bus"
	"github.com/sr6net/sr6/internal/pm/processor"
	"github.com/sr6net/sr6/internal/store"
	"github.com/sr6net/sr6/internal/topo"
	"github.com/sr6net/sr6/internal/underlay"
)

// policyPrefix is where policies live in the store, one key each.
const policyPrefix = "policies/"

// Pusher delivers a node's desired state to its agent and returns what
// became of its routes. The controller calls it from one goroutine per node
// at most; Agents implements it. An error means the agent was not reached
// (or refused the whole state); routes the kernel refused are in Applied.
// The state is shared: a Pusher must not change it.
type Pusher interface {
	Push(ctx context.Context, node string, st *intent.State) (Applied, error)
}

// DefaultMarkMask carries the alternate-marking color in the top bit of
// the IPv6 Flow Label. RFC 9341 leaves the choice to the operator: Traffic
// Class bits 0-1 are ECN (a color there would turn packets into ECN-capable
// or congestion-marked ones) and the others are DSCP (a color there changes
// the packets' class); the Flow Label only feeds ECMP hashing, and sr6's
// segment lists never rely on ECMP. SetMarkMask changes it.
const DefaultMarkMask = 1 << 19

// Controller computes and pushes the network's SRv6 state.
type Controller struct {
	nw    *topo.Network
	store store.Store
	push  Pusher
	log   *slog.Logger

	// graph mapping: underlay nodes (routers) and core links only.
	routerID map[*topo.Node]pathcomp.NodeID
	linkID   map[*topo.Link]pathcomp.LinkID
	links    []*topo.Link // by LinkID
	routers  []*topo.Node // by NodeID
	base     *pathcomp.Graph
	sids     map[netip.Addr]pathcomp.Segment // End and End.X SIDs, for explicit segment lists

	mu       sync.Mutex
	down     map[*topo.Link]bool // links reported down by agents
	policies map[string]Policy
	// disjointRefs counts, per policy name, the policies disjoint from it
	// (kept by putPolicyLocked and dropPolicyLocked), so that an update
	// need not scan every policy to find out.
	disjointRefs map[string]int
	status       map[string]Status
	paths        map[string][]pathcomp.LinkID
	desired      map[string]*intent.State                   // node -> desired state; never changed once built
	routes       map[string]map[string][]dataplane.Steering // policy -> node -> steering
	static       map[string][]underlay.Route                // static underlay on the live graph
	claims       map[string]string                          // "headend prefix" -> policy
	byNode       map[string]map[string][]dataplane.Steering // node -> policy -> steering
	versions     map[string]uint64                          // node -> times its desired state was rebuilt
	revs         map[string]int64                           // policy -> store revision in effect

	// Held-down policies: waiting["node prefix"] are the policies down
	// because another one steers that prefix there (waitsOn the reverse),
	// so that a change recomputes only the policies it can bring up.
	waiting map[string]map[string]bool
	waitsOn map[string][]string
	// reserved are the "node prefix" keys of policies being written (from
	// the conflict check to the update in memory), so that two writes of
	// different names cannot both take one prefix.
	reserved   map[string]string
	recomputes int // full recomputations (recomputeLocked), for tests

	agents  map[string]*agentReport // node -> what its agent last reported
	streams map[string]linkStream   // node -> its agent's link stream (GET /v1/nodes)
	since   map[string]uint64       // policy -> generation from which its steering is as it is now
	shown   map[string]Status       // policy -> status last shown by the API

	sessions     map[string]Session // loss-measurement sessions
	markMask     uint32             // header bit carrying the alternate-marking color
	clocksSynced bool               // nodes' clocks agree: STAMP reports one-way delays
	pm           *processor.Processor
	bus          bus.Bus // measurement records go through it when set

	// policyLocks serialise the writes to one policy name, from the store
	// write to the update in memory, so that two writes to one name take
	// effect in the order the store took them; writes to different names
	// run side by side, so the store can commit them together.
	policyLocks [64]sync.Mutex
	// writeMu serialises session starts and stops (their checks span every
	// session).
	writeMu    sync.Mutex
	generation uint64
	changed    chan struct{} // wakes the pusher
}

// New builds a controller for nw with desired state in st, delivering
// through push.
func New(nw *topo.Network, st store.Store, push Pusher, log *slog.Logger) (*Controller, error) {
	if log == nil {
		log = slog.Default()
	}
	c := &Controller{nw: nw, store: st, push: push, log: log,
		routerID: map[*topo.Node]pathcomp.NodeID{}, linkID: map[*topo.Link]pathcomp.LinkID{},
		down: map[*topo.Link]bool{}, policies: map[string]Policy{}, disjointRefs: map[string]int{}, status: map[string]Status{},
		paths: map[string][]pathcomp.LinkID{}, desired: map[string]*intent.State{},
		routes: map[string]map[string][]dataplane.Steering{}, claims: map[string]string{},
		byNode: map[string]map[string][]dataplane.Steering{}, versions: map[string]uint64{}, revs: map[string]int64{},
		changed: make(chan struct{}, 1), sessions: map[string]Session{}, markMask: DefaultMarkMask,
		pm: processor.New(st, log, 3600), waiting: map[string]map[string]bool{}, waitsOn: map[string][]string{},
		reserved: map[string]string{}, agents: map[string]*agentReport{}, since: map[string]uint64{}, shown: map[string]Status{}}
	var nodes []pathcomp.Node
	for _, r := range nw.NodesWith(topo.Underlay) {
		c.routerID[r] = pathcomp.NodeID(len(c.routers))
		c.routers = append(c.routers, r)
		nodes = append(nodes, pathcomp.Node{Name: r.Name})
	}
	var links []pathcomp.Link
	for _, l := range nw.Links {
		if !l.IsCore() {
			continue
		}
		c.linkID[l] = pathcomp.LinkID(len(c.links))
		c.links = append(c.links, l)
		links = append(links, pathcomp.Link{Name: l.String(), A: c.routerID[l.A.Node], B: c.routerID[l.B.Node],
			IGP: uint32(l.Metric), Latency: l.Latency, Up: true})
	}
	c.sids = map[netip.Addr]pathcomp.Segment{}
	for _, r := range c.routers {
		c.sids[r.SIDs.End] = pathcomp.Segment{Node: c.routerID[r], Adj: pathcomp.NoLink}
		for _, ifc := range r.Interfaces {
			if id, ok := c.linkID[ifc.Link]; ok && ifc.AdjSID.IsValid() {
				c.sids[ifc.AdjSID] = pathcomp.Segment{Node: c.routerID[r], Adj: id}
			}
		}
	}
	g, err := pathcomp.NewGraph(nodes, links)
	if err != nil {
		return nil, fmt.Errorf("controller graph: %w", err)
	}
	c.base = g
	return c, nil
}

// Load reads the policies from the store and computes everything.
func (c *Controller) Load(ctx context.Context) error {
	kvs, err := c.store.List(ctx, policyPrefix)
	if err != nil {
		return fmt.Errorf("load policies: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.policies, c.disjointRefs = map[string]Policy{}, map[string]int{}
	c.revs = map[string]int64{}
	for _, kv := range kvs {
		var p Policy
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			c.log.Warn("skipping unreadable policy", "key", kv.Key, "err", err)
			continue
		}
		c.putPolicyLocked(p)
		c.revs[p.Name] = kv.Revision
	}
	skvs, err := c.store.List(ctx, sessionPrefix)
	if err != nil {
		return fmt.Errorf("load sessions: %w", err)
	}
	c.sessions = map[string]Session{}
	for _, kv := range skvs {
		var s Session
		if err := json.Unmarshal(kv.Value, &s); err == nil {
			c.sessions[s.Name] = s
		}
	}
	if err := c.pm.Load(ctx); err != nil {
		return err
	}
	c.recomputeLocked()
	return nil
}

// liveGraph is the base graph with the links agents reported down.
func (c *Controller) liveGraphLocked() *pathcomp.Graph {
	if len(c.down) == 0 {
		return c.base
	}
	up := map[pathcomp.LinkID]bool{}
	for l := range c.down {
		if id, ok := c.linkID[l]; ok {
			up[id] = false
		}
	}
	return c.base.WithLinkState(up)
}

// recomputeLocked recomputes every policy and every node's desired state
// and wakes the pusher. Policies are computed in name order, so a
// disjoint_from reference to an earlier name sees its fresh path; a
// reference to a later one sees the previous path (documented).
func (c *Controller) recomputeLocked() {
	c.recomputes++
	g := c.liveGraphLocked()
	names := make([]string, 0, len(c.policies))
	for n := range c.policies {
		names = append(names, n)
	}
	sort.Strings(names)
	owner := map[string]string{} // "node prefix" -> policy
	c.routes = map[string]map[string][]dataplane.Steering{}
	c.byNode = map[string]map[string][]dataplane.Steering{}
	c.claims = map[string]string{}
	for _, name := range names {
		c.claimLocked(name, false)
	}
	c.waiting, c.waitsOn = map[string]map[string]bool{}, map[string][]string{}
	set := func(name string) {
		c.setLocked(name, g, func(key string) (string, bool) { o, ok := owner[key]; return o, ok })
		for node, rs := range c.routes[name] {
			for _, r := range rs {
				owner[claimKey(node, r.Prefix)] = name
			}
		}
	}
	// Policies disjoint from another are computed after all others, and
	// again while their paths still move (chains of them), so each sees
	// the current path of the policy it avoids.
	var dependents []string
	for _, name := range names {
		if c.policies[name].DisjointFrom != "" {
			dependents = append(dependents, name)
			continue
		}
		set(name)
	}
	for pass := 0; pass < 4 && len(dependents) > 0; pass++ {
		moved := false
		for _, name := range dependents {
			before := c.paths[name]
			set(name)
			moved = moved || pass == 0 || !slices.Equal(before, c.paths[name])
		}
		if !moved {
			break
		}
	}
	for name := range c.status {
		if _, ok := c.policies[name]; !ok {
			c.forgetLocked(name)
		}
	}
	c.static = nil
	if c.nw.Routing == topo.RoutingStatic {
		c.static = underlay.StaticUp(c.nw, func(l *topo.Link) bool { return !c.down[l] })
	}
	c.rebuildLocked(c.routers)
}

// setLocked computes policy name on g and records its status, path and
// steering routes, unless owner names another policy already steering one
// of its prefixes at the same node: the kernel has one route per prefix,
// so the second policy is reported down instead.
func (c *Controller) setLocked(name string, g *pathcomp.Graph, owner func(key string) (string, bool)) {
	st, routes, path := c.computeLocked(g, c.policies[name])
	c.unwaitLocked(name)
	var held []string
	for node, rs := range routes {
		for _, r := range rs {
			k := claimKey(node, r.Prefix)
			if other, ok := owner(k); ok && other != name {
				st = Status{State: StateDown, Reason: fmt.Sprintf("%s is already steered at %s by policy %s", r.Prefix, node, other)}
				held = append(held, k)
			}
		}
	}
	if len(held) > 0 {
		routes, path = nil, nil
		for _, k := range held {
			if c.waiting[k] == nil {
				c.waiting[k] = map[string]bool{}
			}
			c.waiting[k][name] = true
		}
		c.waitsOn[name] = held
	}
	c.noteRoutesLocked(name, c.routes[name], routes)
	for node := range c.routes[name] {
		delete(c.byNode[node], name)
	}
	for node, rs := range routes {
		if c.byNode[node] == nil {
			c.byNode[node] = map[string][]dataplane.Steering{}
		}
		c.byNode[node][name] = rs
	}
	st.Updated = time.Now().UTC()
	if old, ok := c.status[name]; ok && old.State == st.State && sameStrings(old.Segments, st.Segments) && old.Reason == st.Reason {
		st.Updated = old.Updated
	}
	c.status[name], c.paths[name], c.routes[name] = st, path, routes
}

// rebuildLocked rebuilds the desired state of nodes from the policies'
// steering routes and wakes the pusher.
func (c *Controller) rebuildLocked(nodes []*topo.Node) {
	c.generation++
	for _, r := range nodes {
		names := make([]string, 0, len(c.byNode[r.Name]))
		for n := range c.byNode[r.Name] {
			names = append(names, n)
		}
		sort.Strings(names)
		var steering []dataplane.Steering
		for _, n := range names {
			steering = append(steering, c.byNode[r.Name][n]...)
		}
		c.desired[r.Name] = c.nodeStateLocked(r, steering, c.static[r.Name])
		c.versions[r.Name]++
	}
	c.kick()
}

// updateLocked brings one added, replaced or deleted policy into effect.
// Only the nodes whose steering it changes are rebuilt, and besides it only
// the policies held down by a prefix it stopped steering are recomputed,
// which keeps bulk provisioning linear; a policy others are disjoint from
// changes their paths too, so that case recomputes everything.
func (c *Controller) updateLocked(name string) {
	if c.disjointRefs[name] > 0 {
		c.recomputeLocked()
		return
	}
	affected := map[string]bool{}
	before := map[string]bool{} // "node prefix" it steered
	for node, rs := range c.routes[name] {
		affected[node] = true
		for _, r := range rs {
			before[claimKey(node, r.Prefix)] = true
		}
	}
	g := c.liveGraphLocked()
	if _, ok := c.policies[name]; ok {
		c.setLocked(name, g, c.installedOwner)
		for node, rs := range c.routes[name] {
			affected[node] = true
			for _, r := range rs {
				delete(before, claimKey(node, r.Prefix))
			}
		}
	} else {
		for node := range c.routes[name] {
			delete(c.byNode[node], name)
		}
		c.forgetLocked(name)
	}
	// A policy held down by a prefix this one no longer steers may come
	// up now: recompute those, in name order (the first one takes it).
	var wake []string
	for k := range before {
		for w := range c.waiting[k] {
			if _, ok := c.policies[w]; ok && !slices.Contains(wake, w) {
				wake = append(wake, w)
			}
		}
	}
	sort.Strings(wake)
	for _, w := range wake {
		for node := range c.routes[w] {
			affected[node] = true
		}
		c.setLocked(w, g, c.installedOwner)
		// Up now, it holds the prefix against new policies too.
		c.claimLocked(w, false)
		for node := range c.routes[w] {
			affected[node] = true
		}
	}
	var nodes []*topo.Node
	for _, r := range c.routers {
		// A measured policy's tail is not among the nodes it steers at.
		if affected[r.Name] || len(c.sessions) > 0 {
			nodes = append(nodes, r)
		}
	}
	c.rebuildLocked(nodes)
}

// nodeStateLocked is router r's whole desired state.
func (c *Controller) nodeStateLocked(r *topo.Node, steering []dataplane.Steering, static []underlay.Route) *intent.State {
	steering = append(steering, c.probeSteeringLocked(r.Name)...)
	st := &intent.State{State: dataplane.State{Steering: steering}, Generation: c.generation, PM: c.pmListsLocked(r.Name)}
	st.SIDs = append(st.SIDs,
		dataplane.LocalSID{SID: r.SIDs.End, Behavior: dataplane.Behavior{Action: dataplane.End}},
		dataplane.LocalSID{SID: r.SIDs.DX4, Behavior: dataplane.Behavior{Action: dataplane.EndDX4, NH4: netip.IPv4Unspecified()}},
		dataplane.LocalSID{SID: r.SIDs.DT6, Behavior: dataplane.Behavior{Action: dataplane.EndDT6, Table: 254}})
	for _, ifc := range r.Interfaces {
		if ifc.AdjSID.IsValid() {
			st.SIDs = append(st.SIDs, dataplane.LocalSID{SID: ifc.AdjSID,
				Behavior: dataplane.Behavior{Action: dataplane.EndX, NH6: ifc.Peer.Addr6.Addr()}})
		}
	}
	st.Underlay = append(st.Underlay, dataplane.UnderlayRoute{Prefix: r.Locator, Unreachable: true})
	steered := map[netip.Prefix]bool{}
	for _, s := range steering {
		steered[s.Prefix] = true
	}
	for _, u := range static {
		// A steered prefix leaves this node through its policy, not the
		// underlay (one kernel route per prefix).
		if !steered[u.Dst] {
			st.Underlay = append(st.Underlay, dataplane.UnderlayRoute{Prefix: u.Dst, Via: u.Via, Dev: u.Dev})
		}
	}
	return st
}

// computeLocked computes policy p on g: its status, its steering routes
// by node, and the links of its path.
func (c *Controller) computeLocked(g *pathcomp.Graph, p Policy) (Status, map[string][]dataplane.Steering, []pathcomp.LinkID) {
	down := func(format string, args ...any) (Status, map[string][]dataplane.Steering, []pathcomp.LinkID) {
		return Status{State: StateDown, Reason: fmt.Sprintf(format, args...)}, nil, nil
	}
	r, err := c.resolve(p)
	if err != nil {
		return down("invalid: %v", err)
	}
	src, dst := c.routerID[r.headend], c.routerID[r.endpoint]
	var path pathcomp.Path
	var segs []pathcomp.Segment
	if len(r.explicit) > 0 {
		segs = append(segs, r.explicit...)
		if last := segs[len(segs)-1]; last.Node != dst || last.Adj != pathcomp.NoLink {
			segs = append(segs, pathcomp.Segment{Node: dst, Adj: -1})
		}
		if path, err = g.Expand(src, segs); err != nil {
			return down("explicit segments: %v", err)
		}
	} else {
		cons := pathcomp.Constraints{Metric: r.metric}
		for _, n := range r.include {
			cons.Include = append(cons.Include, c.routerID[n])
		}
		for _, n := range r.exclNode {
			cons.ExcludeNodes = append(cons.ExcludeNodes, c.routerID[n])
		}
		for _, l := range r.exclLink {
			if id, ok := c.linkID[l]; ok {
				cons.ExcludeLinks = append(cons.ExcludeLinks, id)
			}
		}
		if p.DisjointFrom != "" {
			other, ok := c.paths[p.DisjointFrom]
			if _, exists := c.policies[p.DisjointFrom]; !exists {
				return down("disjoint_from: no policy %q", p.DisjointFrom)
			}
			if ok {
				cons.DisjointLinks = other
			}
		}
		if path, err = g.Compute(src, dst, cons); err != nil {
			return down("%v", err)
		}
		if segs, err = g.Segments(path, p.PerHop); err != nil {
			return down("segments: %v", err)
		}
	}
	sids := c.sidsOf(segs)
	// The last segment reaches the endpoint; its SID is replaced by the
	// endpoint's service SID (or its End for H.Insert, where the packet's
	// own destination follows).
	if n := len(segs); n > 0 && segs[n-1].Adj < 0 && segs[n-1].Node == dst {
		sids = sids[:n-1]
	}
	st := Status{State: StateUp, Cost: path.Cost}
	for _, id := range path.Nodes {
		st.Path = append(st.Path, c.routers[id].Name)
	}
	v6 := append(append([]netip.Addr{}, sids...), r.endpoint.SIDs.DT6)
	mode := dataplane.ModeEncap
	if r.mode == restv1.ModeInline {
		v6 = append(append([]netip.Addr{}, sids...), r.endpoint.SIDs.End)
		mode = dataplane.ModeInline
	}
	v4 := append(append([]netip.Addr{}, sids...), r.endpoint.SIDs.DX4)
	// A computed list (per_hop on a long path) can outgrow the SRH: the
	// kernel would refuse it.
	if len(v6) > maxSegments(r.mode) {
		return down("its segment list has %d SIDs; the kernel installs at most %d in %s mode", len(v6), maxSegments(r.mode), r.mode)
	}
	for _, a := range v6 {
		st.Segments = append(st.Segments, a.String())
	}
	// The routes of one policy share its segment lists: desired states are
	// never changed once built.
	var routes []dataplane.Steering
	for _, pf := range r.prefixes {
		if pf.Addr().Is4() {
			routes = append(routes, dataplane.Steering{Prefix: pf, Mode: dataplane.ModeEncap, Segments: v4, Policy: p.Name})
		} else {
			routes = append(routes, dataplane.Steering{Prefix: pf, Mode: mode, Segments: v6, Policy: p.Name})
		}
	}
	return st, map[string][]dataplane.Steering{r.headend.Name: routes}, path.Links
}

// unwaitLocked forgets that policy name waits for a prefix.
func (c *Controller) unwaitLocked(name string) {
	for _, k := range c.waitsOn[name] {
		delete(c.waiting[k], name)
		if len(c.waiting[k]) == 0 {
			delete(c.waiting, k)
		}
	}
	delete(c.waitsOn, name)
}

// forgetLocked drops what was computed for a deleted policy.
func (c *Controller) forgetLocked(name string) {
	c.unwaitLocked(name)
	delete(c.status, name)
	delete(c.paths, name)
	delete(c.routes, name)
	delete(c.since, name)
	delete(c.shown, name)
}

// installedOwner names the policy whose steering route for key ("node
// prefix") is in the desired state.
func (c *Controller) installedOwner(key string) (string, bool) {
	node, pf, _ := strings.Cut(key, " ")
	prefix, err := netip.ParsePrefix(pf)
	if err != nil {
		return "", false
	}
	for name, rs := range c.byNode[node] {
		for _, r := range rs {
			if r.Prefix == prefix {
				return name, true
			}
		}
	}
	return "", false
}

// conflictLocked tells which other policy already steers one of r's
// prefixes at r's headend, or is being written with it.
func (c *Controller) conflictLocked(r *resolved) error {
	for i, pf := range r.prefixes {
		k := claimKey(r.headend.Name, pf)
		other, ok := c.claims[k]
		if !ok || other == r.p.Name {
			other, ok = c.reserved[k]
		}
		if ok && other != r.p.Name {
			field := fmt.Sprintf("prefixes[%d]", i)
			if r.p.To != "" {
				field = "to"
			}
			return conflict(field, "%s is already steered at %s by policy %s", pf, r.headend.Name, other)
		}
	}
	return nil
}

// reserveLocked reserves r's prefixes at its headend for the write of r's
// policy; call the result, with c.mu held, to release them.
func (c *Controller) reserveLocked(r *resolved) func() {
	var keys []string
	for _, pf := range r.prefixes {
		k := claimKey(r.headend.Name, pf)
		if _, taken := c.reserved[k]; !taken {
			c.reserved[k] = r.p.Name
			keys = append(keys, k)
		}
	}
	return func() {
		for _, k := range keys {
			delete(c.reserved, k)
		}
	}
}

func claimKey(node string, p netip.Prefix) string { return node + " " + p.String() }

// claimLocked records (or with drop, forgets) the prefixes policy name
// steers at its headend, for conflictLocked.
func (c *Controller) claimLocked(name string, drop bool) {
	p, ok := c.policies[name]
	if !ok {
		return
	}
	r, err := c.resolve(p)
	if err != nil {
		return
	}
	for _, pf := range r.prefixes {
		k := claimKey(r.headend.Name, pf)
		switch {
		case drop && c.claims[k] == name:
			delete(c.claims, k)
		case !drop:
			if _, taken := c.claims[k]; !taken {
				c.claims[k] = name
			}
		}
	}
}

// sidsOf maps path segments to SIDs: node segments to End, adjacency
// segments to the End.X of the node's interface on that link.
func (c *Controller) sidsOf(segs []pathcomp.Segment) []netip.Addr {
	out := make([]netip.Addr, 0, len(segs))
	for _, s := range segs {
		n := c.routers[s.Node]
		if s.Adj < 0 {
			out = append(out, n.SIDs.End)
			continue
		}
		l := c.links[s.Adj]
		ifc := l.A
		if l.B.Node == n {
			ifc = l.B
		}
		out = append(out, ifc.AdjSID)
	}
	return out
}

// AddPolicy validates p, stores it and recomputes. A policy with the same
// name is an error unless replace is set.
// The conflict check and the reservation of the policy's prefixes happen
// under one lock, so of two writes for one prefix and headend exactly one
// wins; the other gets a conflict (409).
func (c *Controller) AddPolicy(ctx context.Context, p Policy, replace bool) (PolicyView, error) {
	r, err := c.resolve(p)
	if err != nil {
		return PolicyView{}, err
	}
	data, err := json.Marshal(p)
	if err != nil {
		return PolicyView{}, err
	}
	unlock := c.lockPolicy(p.Name)
	defer unlock()
	c.mu.Lock()
	_, disjointOK := c.policies[p.DisjointFrom]
	err = c.conflictLocked(r)
	if p.DisjointFrom != "" && !disjointOK {
		err = bad("disjoint_from", nil, "no policy %q", p.DisjointFrom)
	}
	if err != nil {
		c.mu.Unlock()
		return PolicyView{}, err
	}
	release := c.reserveLocked(r)
	c.mu.Unlock()
	var rev int64
	if replace {
		rev, err = c.store.Put(ctx, policyPrefix+p.Name, data)
	} else if rev, err = c.store.Create(ctx, policyPrefix+p.Name, data); errors.Is(err, store.ErrExists) {
		err = conflict("name", "policy %q already exists", p.Name)
	} else if err != nil {
		err = fmt.Errorf("store policy %s: %w", p.Name, err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	release()
	if err != nil {
		return PolicyView{}, err
	}
	if rev > c.revs[p.Name] {
		c.revs[p.Name] = rev
		c.setPolicyLocked(p)
	}
	return PolicyView{Policy: p, Status: c.viewLocked(p.Name)}, nil
}

// lockPolicy takes the lock of name's stripe; call the result to release.
func (c *Controller) lockPolicy(name string) func() {
	h := fnv.New32a()
	h.Write([]byte(name))
	m := &c.policyLocks[h.Sum32()%uint32(len(c.policyLocks))]
	m.Lock()
	return m.Unlock
}

// DeletePolicy removes policy name.
func (c *Controller) DeletePolicy(ctx context.Context, name string) error {
	unlock := c.lockPolicy(name)
	defer unlock()
	if err := c.store.Delete(ctx, policyPrefix+name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("policy", name)
		}
		return fmt.Errorf("delete policy %s: %w", name, err)
	}
	c.mu.Lock()
	c.deletePolicyLocked(name)
	c.mu.Unlock()
	return nil
}

// Policies lists the policies with their status, by name.
func (c *Controller) Policies() []PolicyView {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]PolicyView, 0, len(c.policies))
	for name, p := range c.policies {
		out = append(out, PolicyView{Policy: p, Status: c.viewLocked(name)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// PolicyByName returns one policy with its status.
func (c *Controller) PolicyByName(name string) (PolicyView, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.policies[name]
	if !ok {
		return PolicyView{}, notFound("policy", name)
	}
	return PolicyView{Policy: p, Status: c.viewLocked(name)}, nil
}

// LinkEvent records that node's interface went up or down and recomputes
// when that changes a link's state.
func (c *Controller) LinkEvent(node, iface string, up bool) {
	n := c.nw.Node(node)
	if n == nil {
		return
	}
	ifc := n.Iface(iface)
	if ifc == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down[ifc.Link] == !up {
		return
	}
	if up {
		delete(c.down, ifc.Link)
	} else {
		c.down[ifc.Link] = true
	}
	c.log.Info("link state", "link", ifc.Link.String(), "up", up, "reported_by", node)
	c.recomputeLocked()
}

// Desired returns a node's current desired state (nil for unknown nodes).
// It is shared: callers must not change it.
func (c *Controller) Desired(node string) *intent.State {
	st, _ := c.desiredVersion(node)
	return st
}

// desiredVersion returns a node's desired state and how many times it was
// rebuilt: the pusher compares versions instead of whole states.
func (c *Controller) desiredVersion(node string) (*intent.State, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.desired[node], c.versions[node]
}

// Changed is signalled whenever desired state changes.
func (c *Controller) Changed() <-chan struct{} { return c.changed }

// Topology returns the planned network with live link states.
func (c *Controller) Topology() TopologyView {
	c.mu.Lock()
	defer c.mu.Unlock()
	return topologyView(c.nw, func(l *topo.Link) bool { return !c.down[l] })
}

// SetClocksSynced declares that the nodes' clocks agree (true of a lab,
// whose namespaces share the host's clock), so STAMP reports one-way
// delays.
func (c *Controller) SetClocksSynced(v bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clocksSynced = v
}

// SetBus routes measurement records through b (see Process).
func (c *Controller) SetBus(b bus.Bus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bus = b
}

// SetMarkMask chooses the IPv6 header bit carrying the color (see
// marking.TrafficClassBit and marking.FlowLabelBit).
func (c *Controller) SetMarkMask(mask uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.markMask = mask
}

// Follow applies the store's changes to the policies, so that
// controllers sharing a store (etcd) converge on the same policies. Its own
// writes come back too and change nothing. If the watch ends early (a
// slow watcher, a lost connection) it reloads everything and watches again.
func (c *Controller) Follow(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		events, err := c.store.Watch(ctx, policyPrefix)
		if err == nil {
			err = c.Load(ctx)
		}
		if err != nil {
			c.log.Warn("follow store: retrying", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		for ev := range events {
			c.applyEvent(ev)
		}
	}
	return nil
}

func (c *Controller) applyEvent(ev store.Event) {
	name := strings.TrimPrefix(ev.KV.Key, policyPrefix)
	c.mu.Lock()
	defer c.mu.Unlock()
	// Events older than what is in effect (our own writes, applied
	// directly, come back later) change nothing.
	if ev.KV.Revision <= c.revs[name] {
		return
	}
	c.revs[name] = ev.KV.Revision
	if ev.Type == store.Delete {
		if _, ok := c.policies[name]; ok {
			c.deletePolicyLocked(name)
		}
		return
	}
	var p Policy
	if err := json.Unmarshal(ev.KV.Value, &p); err != nil || p.Name != name {
		c.log.Warn("skipping unreadable policy", "key", ev.KV.Key, "err", err)
		return
	}
	if old, ok := c.policies[name]; ok && reflect.DeepEqual(old, p) {
		return
	}
	c.setPolicyLocked(p)
}

func (c *Controller) setPolicyLocked(p Policy) {
	c.claimLocked(p.Name, true)
	c.putPolicyLocked(p)
	c.claimLocked(p.Name, false)
	c.updateLocked(p.Name)
}

func (c *Controller) deletePolicyLocked(name string) {
	c.claimLocked(name, true)
	c.dropPolicyLocked(name)
	c.updateLocked(name)
}

// putPolicyLocked and dropPolicyLocked are the only writers of c.policies.
func (c *Controller) putPolicyLocked(p Policy) {
	c.dropPolicyLocked(p.Name)
	c.policies[p.Name] = p
	if p.DisjointFrom != "" {
		c.disjointRefs[p.DisjointFrom]++
	}
}

func (c *Controller) dropPolicyLocked(name string) {
	old, ok := c.policies[name]
	if !ok {
		return
	}
	delete(c.policies, name)
	if old.DisjointFrom != "" {
		if c.disjointRefs[old.DisjointFrom]--; c.disjointRefs[old.DisjointFrom] <= 0 {
			delete(c.disjointRefs, old.DisjointFrom)
		}
	}
}
