package lab

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/agent"
	"github.com/sr6net/sr6/internal/dataplane"
	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/pki"
	"github.com/sr6net/sr6/internal/supervise"
	"github.com/sr6net/sr6/internal/topo"
	"github.com/sr6net/sr6/internal/underlay"
)

// subset is what one step of a change acts on.
type subset struct {
	nodes []*topo.Node
	links []*topo.Link
}

func (d *deployer) stepNodes() []*topo.Node {
	if d.only == nil {
		return d.nw.Nodes
	}
	return d.only.nodes
}

func (d *deployer) stepLinks() []*topo.Link {
	if d.only == nil {
		return d.nw.Links
	}
	return d.only.links
}

// applyChange applies plan p (from the running lab st to the topology
// source) and leaves the rest of the lab running. It rolls forward: the
// state, saved first, records the new topology and the one it started
// from (State.Previous), every step is idempotent, and a deploy of the same
// file after a failure runs them again and finishes the change.
func applyChange(ctx context.Context, p *DeployPlan, st *State, sourceName string, source []byte, layout Layout, opts Options) (*State, error) {
	nw := p.new
	if err := checkApplicable(p, st, layout); err != nil {
		return nil, fmt.Errorf("deploy %s: %w", nw.Name, err)
	}
	p.Print(opts.Progress)
	next := *st
	next.Source, next.Topology, next.Hash, next.Pins = sourceName, string(source), topologyHash(source), p.pins
	if next.Previous == nil {
		next.Previous = &Previous{Source: st.Source, Topology: st.Topology, Pins: st.Pins}
	}
	next.Phase = PhaseUpdating
	// Old and new: destroy finds every namespace whatever step fails.
	next.Namespaces = slices.Clone(st.Namespaces)
	for _, n := range nw.Nodes {
		if ns := Namespace(nw.Name, n.Name); !slices.Contains(next.Namespaces, ns) {
			next.Namespaces = append(next.Namespaces, ns)
		}
	}
	if err := opts.Store.Save(&next); err != nil {
		return nil, err
	}
	d := &deployer{nw: nw, opts: opts, layout: layout, st: &next}
	start := time.Now()
	if err := d.applySteps(ctx, p); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("interrupted (%w) during: %w", ctx.Err(), err)
		}
		return nil, fmt.Errorf("deploy %s: the change stopped half way (%w); the lab's state records it: deploy %s again to finish it, or with --replace to start over",
			nw.Name, err, sourceName)
	}
	next.Previous, next.Phase = nil, PhaseRunning
	pruneRuntime(&next, p)
	next.Namespaces = nil
	for _, n := range nw.Nodes {
		next.Namespaces = append(next.Namespaces, Namespace(nw.Name, n.Name))
	}
	if err := opts.Store.Save(&next); err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Progress, "lab %s changed in %s\n", nw.Name, time.Since(start).Round(time.Millisecond))
	return &next, nil
}

// checkApplicable refuses, before anything changes, what a running lab
// cannot take.
func checkApplicable(p *DeployPlan, st *State, layout Layout) error {
	if p.new.Routing == topo.RoutingISIS && (len(p.addNodes)+len(p.delNodes)+len(p.addLinks)+len(p.delLinks)+len(p.metric) > 0) {
		return errors.New("adding or removing nodes and links, or changing metrics, of a lab with `routing: isis` needs its FRR daemons reconfigured, which a running lab does not do yet (loss and rate it can change): deploy with --replace")
	}
	if !st.Agents {
		return nil
	}
	withAgent, err := nodeKinds().NodesRunning(p.new, kinds.DaemonAgent)
	if err != nil {
		return err
	}
	for _, n := range withAgent {
		if slices.Contains(p.addNodes, n) {
			if _, err := pki.LoadCA(layout.PKI()); err != nil {
				return fmt.Errorf("node %s needs an agent certificate, and the lab keeps no CA key (deployed by an older sr6): deploy with --replace (%w)", n.Name, err)
			}
			break
		}
	}
	return nil
}

// faultKey is a context key for tests: a string value makes the step of
// that name fail, to test that a deploy of the same file finishes the
// change.
type faultKey struct{}

func (d *deployer) applySteps(ctx context.Context, p *DeployPlan) error {
	touched := d.touchedNodes(p)
	steps := []struct {
		name string
		only *subset
		fn   func(context.Context) error
	}{
		{"remove", nil, func(ctx context.Context) error { return d.removeOld(ctx, p) }},
		{"namespaces", &subset{nodes: p.addNodes}, d.createNamespaces},
		{"links", &subset{links: p.addLinks}, d.createLinks},
		{"interfaces", &subset{nodes: touched}, d.configureInterfaces},
		{"carrier", &subset{nodes: touched}, d.waitCarrier},
		{"routes and SIDs", &subset{nodes: p.addNodes}, d.installRoutes},
		// The underlay of a changed graph changes anywhere.
		{"route changes", nil, func(ctx context.Context) error { return d.reconcileRoutes(ctx, p) }},
		{"impairments", &subset{links: append(slices.Clone(p.impair), p.addLinks...)}, func(ctx context.Context) error {
			if err := d.clearImpairments(ctx, p.impair); err != nil {
				return err
			}
			return d.applyImpairments(ctx)
		}},
	}
	if supervised(d.st, d.nw) {
		steps = append(steps, struct {
			name string
			only *subset
			fn   func(context.Context) error
		}{"daemons", nil, func(ctx context.Context) error { return d.reloadDaemons(ctx, p) }})
	}
	fault, _ := ctx.Value(faultKey{}).(string)
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("before %s: %w", s.name, err)
		}
		if s.name == fault {
			return fmt.Errorf("%s: injected fault", s.name)
		}
		if s.only != nil && len(s.only.nodes)+len(s.only.links) == 0 {
			continue // nothing of its kind changed
		}
		t := time.Now()
		d.only = s.only
		err := s.fn(ctx)
		d.only = nil
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(d.opts.Progress, "  %-16s done in %s\n", s.name, time.Since(t).Round(time.Millisecond))
	}
	return nil
}

// touchedNodes are the nodes whose interfaces a change configures: the
// new ones and the ends of new links.
func (d *deployer) touchedNodes(p *DeployPlan) []*topo.Node {
	seen := map[*topo.Node]bool{}
	var out []*topo.Node
	add := func(n *topo.Node) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, n := range p.addNodes {
		add(n)
	}
	for _, l := range p.addLinks {
		add(l.A.Node)
		add(l.B.Node)
	}
	return out
}

// removeOld ends the processes of the removed and replaced nodes and
// deletes their namespaces (their links go with them), and deletes the
// removed links between nodes that stay. Namespaces and interfaces of
// nodes and links about to be created that an interrupted change left go
// too, so that every later step starts from nothing.
func (d *deployer) removeOld(ctx context.Context, p *DeployPlan) error {
	var namespaces []string
	for _, n := range append(slices.Clone(p.delNodes), p.addNodes...) {
		if ns := Namespace(d.nw.Name, n.Name); nsutil.Exists(ns) && !slices.Contains(namespaces, ns) {
			namespaces = append(namespaces, ns)
		}
	}
	// Killed outright: the node goes, and nothing it would tidy on a
	// SIGTERM outlives its namespace (an agent's graceful stop waits for
	// the controller's streams). The supervisor restarts what it loses
	// until it reloads: kill until nothing runs, then delete at once.
	// The lab's own daemons of the host's namespace are never among them:
	// the agent host's threads enter routers' namespaces for their work,
	// and its main thread may be in one when the processes are looked up.
	var ours []int
	for _, f := range []string{d.layout.SupervisorPid(), d.layout.AgentHostPid(), d.layout.ControllerPid()} {
		if pid, ok := supervise.Running(f); ok {
			ours = append(ours, pid)
		}
	}
	for range 10 {
		pids, err := nsutil.PIDs(namespaces...)
		if err != nil {
			return err
		}
		pids = slices.DeleteFunc(pids, func(pid int) bool { return slices.Contains(ours, pid) })
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if !slices.ContainsFunc(pids, supervise.Alive) {
				break
			}
		}
	}
	for _, ns := range namespaces {
		if err := nsutil.Delete(ns); err != nil {
			return err
		}
	}
	var ends []*topo.Interface
	for _, l := range append(slices.Clone(p.delLinks), p.addLinks...) {
		ends = append(ends, l.A, l.B)
	}
	for _, ifc := range ends {
		ns := Namespace(d.nw.Name, ifc.Node.Name)
		if slices.Contains(namespaces, ns) || !nsutil.Exists(ns) {
			continue
		}
		err := withHandle(ns, func(h *netlink.Handle) error {
			// A namespace deleted above takes its veths' peers with it,
			// but only once the kernel has torn it down, which it does
			// in the background: wait until the name is free.
			deadline := time.Now().Add(5 * time.Second)
			for {
				link, err := h.LinkByName(ifc.Name)
				var nf netlink.LinkNotFoundError
				if errors.As(err, &nf) {
					return nil
				}
				if err != nil {
					return err
				}
				// Its peer goes with it.
				if err := h.LinkDel(link); err != nil && !errors.Is(err, unix.ENODEV) && !errors.Is(err, unix.ENOENT) {
					return err
				}
				if time.Now().After(deadline) {
					return errors.New("still there after 5s")
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(5 * time.Millisecond):
				}
			}
		})
		if err != nil {
			return fmt.Errorf("delete interface %s:%s: %w", ifc.Node.Name, ifc.Name, err)
		}
	}
	return nil
}

// nodeRoutes are the plain routes deploy installs on n (see
// installRoutes).
func nodeRoutes(n *topo.Node, static map[string][]underlay.Route) []underlay.Route {
	switch {
	case !n.Has(topo.Underlay):
		return underlay.HostRoutes(n)
	case static != nil:
		return static[n.Name]
	default:
		return underlay.Attached(n)
	}
}

// reconcileRoutes moves every node that stays from the routes and SIDs
// of the old plan to those of the new one: it replaces the routes that
// are new or whose next hop changed, installs the new SIDs and deletes
// what the new plan no longer has. Routes that stay are not touched, and
// neither is a policy's steering route (another metric), which its agent
// owns.
func (d *deployer) reconcileRoutes(ctx context.Context, p *DeployPlan) error {
	var oldStatic, newStatic map[string][]underlay.Route
	if p.old.Routing == topo.RoutingStatic {
		oldStatic, newStatic = underlay.Static(p.old), underlay.Static(p.new)
	}
	reg := nodeKinds()
	var kept []*topo.Node
	for _, n := range p.new.Nodes {
		if !slices.Contains(p.addNodes, n) {
			kept = append(kept, n)
		}
	}
	return d.eachNode(ctx, kept, func(n *topo.Node) error {
		o := p.old.Node(n.Name)
		was := map[netip.Prefix]underlay.Route{}
		for _, r := range nodeRoutes(o, oldStatic) {
			was[r.Dst] = r
		}
		// Routes through an interface created again (a replaced link)
		// went with the old one, even where the plan keeps them.
		created := map[string]bool{}
		for _, l := range p.addLinks {
			for _, ifc := range []*topo.Interface{l.A, l.B} {
				if ifc.Node == n {
					created[ifc.Name] = true
				}
			}
		}
		want := map[netip.Prefix]bool{}
		var changed []underlay.Route
		for _, r := range nodeRoutes(n, newStatic) {
			want[r.Dst] = true
			if w, ok := was[r.Dst]; !ok || w != r || created[r.Dev] {
				changed = append(changed, r)
			}
		}
		var stale []netip.Prefix
		for _, r := range nodeRoutes(o, oldStatic) {
			if !want[r.Dst] {
				stale = append(stale, r.Dst)
			}
		}
		var newSIDs []kinds.LocalSID
		if n.Has(topo.SRv6) {
			nk, err := reg.Of(n)
			if err != nil {
				return err
			}
			had := map[netip.Addr]string{}
			if o.Has(topo.SRv6) {
				ok, err := reg.Of(o)
				if err != nil {
					return err
				}
				for _, s := range ok.LocalSIDs(o) {
					had[s.SID] = fmt.Sprint(s.Behavior)
				}
			}
			wantSID := map[netip.Addr]bool{}
			for _, s := range nk.LocalSIDs(n) {
				wantSID[s.SID] = true
				if b, ok := had[s.SID]; !ok || b != fmt.Sprint(s.Behavior) || len(created) > 0 {
					newSIDs = append(newSIDs, s)
				}
			}
			for sid := range had {
				if !wantSID[sid] {
					stale = append(stale, netip.PrefixFrom(sid, 128))
				}
			}
		}
		if len(changed)+len(stale)+len(newSIDs) == 0 {
			return nil
		}
		return withHandle(d.ns(n), func(h *netlink.Handle) error {
			for _, dst := range stale {
				if err := delOwnedRoute(h, dst); err != nil {
					return err
				}
			}
			if len(newSIDs) > 0 {
				if err := installSIDs(h, n, newSIDs); err != nil {
					return err
				}
			}
			return addRoutes(h, changed)
		})
	})
}

// delOwnedRoute deletes the routes to dst sr6 installed, but not a
// policy's steering route (another metric, an encapsulation), which its
// agent owns.
func delOwnedRoute(h *netlink.Handle, dst netip.Prefix) error {
	family := netlink.FAMILY_V6
	if dst.Addr().Is4() {
		family = netlink.FAMILY_V4
	}
	filter := &netlink.Route{Dst: prefixNet(dst), Protocol: dataplane.RouteProtocol}
	routes, err := h.RouteListFiltered(family, filter, netlink.RT_FILTER_DST|netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return fmt.Errorf("list routes to %s: %w", dst, err)
	}
	for _, r := range routes {
		if r.Priority == dataplane.SteeringMetric {
			continue
		}
		if _, seg6 := r.Encap.(*netlink.SEG6Encap); seg6 {
			continue
		}
		if err := h.RouteDel(&r); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("delete route %s: %w", dst, err)
		}
	}
	return nil
}

// clearImpairments removes the loss chains and rate qdiscs of links
// whose impairments change, before applyImpairments sets the new ones.
func (d *deployer) clearImpairments(ctx context.Context, links []*topo.Link) error {
	byNode := map[*topo.Node][]string{}
	var nodes []*topo.Node
	for _, l := range links {
		for _, ifc := range []*topo.Interface{l.A, l.B} {
			if _, ok := byNode[ifc.Node]; !ok {
				nodes = append(nodes, ifc.Node)
			}
			byNode[ifc.Node] = append(byNode[ifc.Node], ifc.Name)
		}
	}
	return d.eachNode(ctx, nodes, func(n *topo.Node) error {
		return clearImpair(d.ns(n), byNode[n])
	})
}

func clearImpair(ns string, ifaces []string) error {
	nsh, err := nsutil.Handle(ns)
	if err != nil {
		return err
	}
	defer nsh.Close()
	c, err := nftables.New(nftables.WithNetNSFd(int(nsh)))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyNetdev)
	if err != nil {
		return fmt.Errorf("nftables: list chains: %w", err)
	}
	del := 0
	for _, ch := range chains {
		if ch.Table.Name != ImpairTable {
			continue
		}
		for _, ifc := range ifaces {
			if ch.Name == LossChain(ifc) {
				c.FlushChain(ch)
				c.DelChain(ch)
				del++
			}
		}
	}
	if del > 0 {
		if err := c.Flush(); err != nil {
			return fmt.Errorf("nftables: delete loss chains: %w", err)
		}
	}
	return withHandle(ns, func(h *netlink.Handle) error {
		for _, ifc := range ifaces {
			link, err := h.LinkByName(ifc)
			if err != nil {
				return err
			}
			qs, err := h.QdiscList(link)
			if err != nil {
				return err
			}
			for _, q := range qs {
				if _, tbf := q.(*netlink.Tbf); tbf && q.Attrs().Parent == netlink.HANDLE_ROOT {
					if err := h.QdiscDel(q); err != nil {
						return fmt.Errorf("rate on %s: %w", ifc, err)
					}
				}
			}
		}
		return nil
	})
}

// reloadDaemons gives the new routers that run agents their
// certificates, saves the state and makes the lab's supervisor move to the
// new set of daemons (SIGHUP; see Supervise): it stops those of removed
// nodes, starts those of new ones, restarts the controller on the new
// topology and leaves the rest running; then it waits until all are ready.
func (d *deployer) reloadDaemons(ctx context.Context, p *DeployPlan) error {
	if d.st.Agents {
		withAgent, err := nodeKinds().NodesRunning(d.nw, kinds.DaemonAgent)
		if err != nil {
			return err
		}
		var ca *pki.CA
		for _, n := range withAgent {
			if !slices.Contains(p.addNodes, n) {
				continue
			}
			if ca == nil {
				if ca, err = pki.LoadCA(d.layout.PKI()); err != nil {
					return err
				}
			}
			if _, err := ca.Issue(d.layout.PKI(), n.Name, true); err != nil {
				return err
			}
			if err := os.MkdirAll(d.layout.Node(n.Name), 0o755); err != nil {
				return err
			}
			// A replaced node's agent starts from nothing.
			for _, f := range agent.StateFiles(d.layout.AgentState(n.Name)) {
				_ = os.Remove(f)
			}
		}
	}
	if err := d.opts.Store.Save(d.st); err != nil {
		return err
	}
	l := d.layout
	// The agent host that runs now has read the old state; one started
	// after this point reads the new one itself (and a SIGHUP before it
	// handles the signal would end it).
	hostBefore, _ := supervise.Running(l.AgentHostPid())
	pid, running := supervise.Running(l.SupervisorPid())
	if !running {
		var err error
		if pid, err = startSupervisor(d.opts.Binary, SupervisorArgs(d.opts.Store.Dir, d.nw.Name), l); err != nil {
			return err
		}
	} else if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		return fmt.Errorf("reload the supervisor (pid %d): %w", pid, err)
	}
	// The status of the old set carries the supervisor's pid too: wait for
	// the one of this topology.
	deadline := time.Now().Add(readyTimeout)
	restarted := !running
	for {
		if s, err := ReadDaemonsStatus(l); err == nil && s.Supervisor == pid && s.Hash == d.st.Hash {
			break
		}
		if p, ok := supervise.Running(l.SupervisorPid()); !ok || p != pid {
			if restarted {
				return fmt.Errorf("the lab's supervisor (pid %d) exited: %s", pid, tail(l.SupervisorLog(), 3))
			}
			// A supervisor of an older sr6 ends on SIGHUP, leaving its
			// daemons running: a new one adopts them.
			restarted = true
			var err error
			if pid, err = startSupervisor(d.opts.Binary, SupervisorArgs(d.opts.Store.Dir, d.nw.Name), l); err != nil {
				return err
			}
			continue
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the lab's supervisor (pid %d) did not reload within %s (log: %s)", pid, readyTimeout, l.SupervisorLog())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	// The supervisor keeps a running agent host (its arguments name only
	// the lab): it reads the lab's state again on SIGHUP and serves the
	// routers of the new topology, leaving the agents of those that stay
	// as they are.
	if d.st.Agents {
		if hostPid, ok := supervise.Running(l.AgentHostPid()); ok && hostPid == hostBefore {
			if err := syscall.Kill(hostPid, syscall.SIGHUP); err != nil {
				return fmt.Errorf("reload the agent host (pid %d): %w", hostPid, err)
			}
		}
	}
	after, err := waitDaemons(ctx, l, pid, readyTimeout)
	if err != nil {
		return d.withLogTails(err, after)
	}
	return nil
}

// deployChange deploys the topology source onto the running lab old:
// only the difference (see PlanDeploy), or the rest of a change that
// stopped half way.
func deployChange(ctx context.Context, old *State, sourceName string, source []byte, layout Layout, opts Options) (*State, error) {
	if old.Phase == PhaseUpdating && old.Hash != topologyHash(source) {
		return nil, fmt.Errorf("deploy %s: %w", old.Name, halfWayError(old))
	}
	spec, err := topo.Parse(sourceName, source, topo.WithKinds(nodeKinds()))
	if err != nil {
		return nil, err
	}
	p, err := planChange(old, spec)
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w", old.Name, err)
	}
	if p.UpToDate {
		// Comments or order changed, nothing that runs: the new text is
		// what the lab is deployed from.
		next := *old
		next.Source, next.Topology, next.Hash, next.Pins = sourceName, string(source), topologyHash(source), p.pins
		if err := opts.Store.Save(&next); err != nil {
			return nil, err
		}
		p.Print(opts.Progress)
		return &next, nil
	}
	return applyChange(ctx, p, old, sourceName, source, layout, opts)
}

// pruneRuntime drops the runtime impairments and down links (`sr6 lab
// impair`, `sr6 lab link set`) of interfaces the changed topology no
// longer has, or whose link was made again: a new veth starts up and
// unimpaired, and inspect must not show what is not there.
func pruneRuntime(st *State, p *DeployPlan) {
	has := map[string]bool{}
	for _, l := range p.new.Links {
		has[endpointName(l.A)], has[endpointName(l.B)] = true, true
	}
	for _, l := range p.addLinks { // new, or made again
		has[endpointName(l.A)], has[endpointName(l.B)] = false, false
	}
	st.Impairments = slices.DeleteFunc(st.Impairments, func(i restv1.Impairment) bool {
		return !has[i.Node+":"+i.Interface]
	})
	st.LinksDown = slices.DeleteFunc(st.LinksDown, func(end string) bool { return !has[end] })
}
