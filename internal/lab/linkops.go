package lab

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/topo"
	"github.com/sr6net/sr6/internal/underlay"
)

// ResolveLab returns the lab a runtime operation acts on: name when given
// (checked against the name rule), else the only lab of the store. With
// none or several, the error says which to name.
func ResolveLab(opts Options, name string) (string, error) {
	opts.defaults()
	if name != "" {
		return name, CheckName(name)
	}
	names, err := opts.Store.List()
	if err != nil {
		return "", err
	}
	switch len(names) {
	case 1:
		return names[0], nil
	case 0:
		return "", fmt.Errorf("no lab is deployed in %s (labs are looked up in --state-dir)", opts.Store.Dir)
	}
	sort.Strings(names)
	return "", fmt.Errorf("%d labs are deployed (%s): name one (LAB argument or --lab)", len(names), strings.Join(names, ", "))
}

// labEndpoint is one interface of a deployed lab, as the topology plans
// it.
type labEndpoint struct {
	st  *State
	nw  *topo.Network
	ifc *topo.Interface
}

func (e *labEndpoint) ns() string           { return Namespace(e.st.Name, e.ifc.Node.Name) }
func (e *labEndpoint) peerNS() string       { return Namespace(e.st.Name, e.ifc.Peer.Node.Name) }
func (e *labEndpoint) String() string       { return endpointName(e.ifc) }
func endpointName(i *topo.Interface) string { return i.Node.Name + ":" + i.Name }

// resolveEndpoint finds "node:interface" in lab name's stored topology.
// An unknown node or interface is refused with the valid ones listed (and
// a node of another lab of the store said to be one), a node whose
// namespace is gone with what to do.
func resolveEndpoint(opts Options, name, endpoint string) (*labEndpoint, error) {
	ep, err := topo.ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	st, err := opts.Store.Load(name)
	if err != nil {
		return nil, err
	}
	nw, err := stateNetwork(st)
	if err != nil {
		return nil, fmt.Errorf("lab %s: stored topology: %w", name, err)
	}
	n := nw.Node(ep.Node)
	if n == nil {
		var nodes []string
		for _, n := range nw.Nodes {
			nodes = append(nodes, n.Name)
		}
		msg := fmt.Sprintf("lab %s has no node %s (its nodes: %s)", name, ep.Node, strings.Join(nodes, ", "))
		if others := labsWithNode(opts, name, ep.Node); len(others) > 0 {
			msg += fmt.Sprintf("; %s is a node of lab %s", ep.Node, strings.Join(others, ", "))
		}
		return nil, errors.New(msg)
	}
	ifc := n.Iface(ep.Iface)
	if ifc == nil {
		var names []string
		for _, i := range n.Interfaces {
			names = append(names, i.Name)
		}
		return nil, fmt.Errorf("node %s of lab %s has no interface %s (its interfaces: %s)", n.Name, name, ep.Iface,
			strings.Join(names, ", "))
	}
	e := &labEndpoint{st: st, nw: nw, ifc: ifc}
	for _, ns := range []string{e.ns(), e.peerNS()} {
		if !nsutil.Exists(ns) {
			return nil, fmt.Errorf("lab %s is not running: namespace %s is missing (sr6 lab deploy again, or destroy it)", name, ns)
		}
	}
	return e, nil
}

// labsWithNode lists the other labs of the store that have a node called
// node, for the error of a user who named the wrong lab.
func labsWithNode(opts Options, except, node string) []string {
	names, _ := opts.Store.List()
	var out []string
	for _, l := range names {
		if l == except {
			continue
		}
		if st, err := opts.Store.Load(l); err == nil && slices.Contains(st.Namespaces, Namespace(l, node)) {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return out
}

// rerouting says who moves traffic off a link set down (and back onto it
// when it is up again) in this lab, and what that means, in a sentence.
func rerouting(st *State, nw *topo.Network, up bool) (who, note string) {
	switch {
	case st.Controller != "" && up:
		return restv1.RerouteController, "the agents report it up and the lab's controller moves policies and the underlay back onto it"
	case st.Controller != "":
		return restv1.RerouteController, "the agents report it down and the lab's controller re-routes policies and the underlay around it, as for a real failure"
	case nw.Routing == topo.RoutingISIS && up:
		return restv1.RerouteISIS, "IS-IS brings the underlay back onto it (no controller: policies are not re-computed)"
	case nw.Routing == topo.RoutingISIS:
		return restv1.RerouteISIS, "IS-IS re-routes the underlay around it (no controller: policies are not re-computed)"
	case up:
		return restv1.RerouteNone, "the static routes over it are back"
	}
	return restv1.RerouteNone, "static routing without a controller: nothing re-routes, traffic over this link is lost until it is up again"
}

// SetLink sets both ends of the link at endpoint ("node:interface") of lab
// name administratively down or up, as cutting or mending a cable would:
// the agents see the carrier change and the controller (or IS-IS)
// re-routes. Up waits for the carrier at both ends and puts back the
// deploy-time routes the kernel removed with the link on the nodes the
// controller does not program (hosts always, routers without a
// controller). The lab's state records the links that are down.
func SetLink(ctx context.Context, name, endpoint string, up bool, opts Options) (*restv1.LinkState, error) {
	opts.defaults()
	if err := checkRoot(); err != nil {
		return nil, err
	}
	unlock, err := opts.Store.Lock(name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	e, err := resolveEndpoint(opts, name, endpoint)
	if err != nil {
		return nil, err
	}
	l := e.ifc.Link
	ends := []*topo.Interface{l.A, l.B}
	set := func(ifc *topo.Interface, up bool) error {
		return withHandle(Namespace(name, ifc.Node.Name), func(h *netlink.Handle) error {
			link, err := h.LinkByName(ifc.Name)
			if err != nil {
				return fmt.Errorf("%s: %w", endpointName(ifc), err)
			}
			if up {
				err = h.LinkSetUp(link)
			} else {
				err = h.LinkSetDown(link)
			}
			if err != nil {
				return fmt.Errorf("set %s %s: %w", endpointName(ifc), map[bool]string{true: "up", false: "down"}[up], err)
			}
			return nil
		})
	}
	for i, ifc := range ends {
		if err := set(ifc, up); err != nil {
			// Both ends or neither: the first one goes back.
			if i == 1 {
				err = errors.Join(err, set(ends[0], !up))
			}
			return nil, err
		}
	}
	state := restv1.LinkDown
	if up {
		state = restv1.LinkUp
		if err := linkUpRepair(ctx, e, ends); err != nil {
			return nil, err
		}
	}
	key := endpointName(l.A)
	e.st.LinksDown = slices.DeleteFunc(e.st.LinksDown, func(s string) bool { return s == key })
	if !up {
		e.st.LinksDown = append(e.st.LinksDown, key)
		sort.Strings(e.st.LinksDown)
	}
	if err := opts.Store.Save(e.st); err != nil {
		return nil, err
	}
	who, note := rerouting(e.st, e.nw, up)
	opts.Log.Debug("link set", "lab", name, "link", key+" - "+endpointName(l.B), "state", state)
	return &restv1.LinkState{Lab: name, Endpoints: [2]string{endpointName(l.A), endpointName(l.B)},
		State: state, Rerouting: who, Note: note}, nil
}

// linkUpRepair waits until both ends of a link set up have their carrier
// and installs again the routes of the nodes nobody else re-programs:
// setting an interface down makes the kernel delete the routes through
// it, and a host (or a router of a lab without a controller) has no agent
// to put them back.
func linkUpRepair(ctx context.Context, e *labEndpoint, ends []*topo.Interface) error {
	var static map[string][]underlay.Route
	if e.nw.Routing == topo.RoutingStatic {
		static = underlay.Static(e.nw)
	}
	reg := nodeKinds()
	for _, ifc := range ends {
		n := ifc.Node
		err := withHandle(Namespace(e.st.Name, n.Name), func(h *netlink.Handle) error {
			if err := waitOperUp(ctx, h, ifc.Name, 10*time.Second); err != nil {
				return err
			}
			k, err := reg.Of(n)
			if err != nil {
				return err
			}
			if e.st.Controller != "" {
				ds, err := reg.Daemons(e.nw, n)
				if err != nil {
					return err
				}
				if slices.Contains(ds, kinds.DaemonAgent) {
					return nil // the controller programs it through its agent
				}
			}
			return installNodeRoutes(h, Namespace(e.st.Name, n.Name), n, k, static)
		})
		if err != nil {
			return fmt.Errorf("link %s up: node %s: %w", endpointName(ends[0]), n.Name, err)
		}
	}
	return nil
}

func waitOperUp(ctx context.Context, h *netlink.Handle, iface string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		link, err := h.LinkByName(iface)
		if err != nil {
			return fmt.Errorf("interface %s: %w", iface, err)
		}
		if link.Attrs().OperState == netlink.OperUp {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("interface %s is still %s after %s", iface, link.Attrs().OperState, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func checkRoot() error {
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	return nil
}

// ErrNoNetem is returned when an impairment needs a delay or jitter and
// the kernel has no netem queueing discipline.
var ErrNoNetem = errors.New("delay and jitter need the kernel's netem queueing discipline (module sch_netem, CONFIG_NET_SCH_NETEM), which this kernel does not have")

// maxDelayUs bounds delay and jitter (10 s, topo.ParseLatency's range).
const maxDelayUs = 10_000_000

// CheckImpairment tells why imp cannot be applied, naming the field, or
// nil. Node, Interface and Source are not looked at.
func CheckImpairment(imp restv1.Impairment) error {
	switch {
	case math.IsNaN(imp.LossPercent) || imp.LossPercent < 0 || imp.LossPercent > 100:
		return fmt.Errorf("loss %g%% must be a percentage from 0%% to 100%%", imp.LossPercent)
	case math.Abs(math.Round(imp.LossPercent*100)-imp.LossPercent*100) > 1e-6:
		return fmt.Errorf("loss %g%% has more than two decimals (loss is drawn in steps of 0.01%%)", imp.LossPercent)
	case imp.RateBps != 0 && (imp.RateBps < 8000 || imp.RateBps > 4e12):
		return fmt.Errorf("rate %d bit/s is out of range: 8kbit to 4tbit", imp.RateBps)
	case imp.DelayUs > maxDelayUs:
		return fmt.Errorf("delay %dus is out of range: 0 to 10s", imp.DelayUs)
	case imp.JitterUs > maxDelayUs:
		return fmt.Errorf("jitter %dus is out of range: 0 to 10s", imp.JitterUs)
	case imp.JitterUs > 0 && imp.DelayUs == 0:
		return errors.New("jitter needs a delay (the delay varies by up to the jitter either way)")
	}
	return nil
}

// Impair sets the impairment of the egress of endpoint ("node:interface")
// of lab name to imp (its Node, Interface and Source are ignored): the
// packets that interface sends, as containerlab's `tools netem set` does;
// set the peer's too for both directions. It replaces whatever was there
// (the topology's or an earlier Impair): the fields left zero are then
// unset, and an impairment of all zeros clears the interface. Applying the
// same one twice changes nothing. Loss is an nftables random drop, rate a
// tbf qdisc, delay and jitter a netem qdisc (with the rate in it); a
// kernel without netem gets ErrNoNetem. Bad input, and a kernel that
// refuses, change nothing. It returns the interface's impairment as
// recorded in the lab's state and shown by Inspect.
func Impair(ctx context.Context, name, endpoint string, imp restv1.Impairment, opts Options) (*restv1.Impairment, error) {
	opts.defaults()
	if err := CheckImpairment(imp); err != nil {
		return nil, err
	}
	if err := checkRoot(); err != nil {
		return nil, err
	}
	unlock, err := opts.Store.Lock(name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	e, err := resolveEndpoint(opts, name, endpoint)
	if err != nil {
		return nil, err
	}
	imp.Node, imp.Interface, imp.Source = e.ifc.Node.Name, e.ifc.Name, restv1.ImpairRuntime
	prev := effectiveImpairments(e.st, e.nw)[e.String()]
	nsh, err := nsutil.Handle(e.ns())
	if err != nil {
		return nil, err
	}
	defer nsh.Close()
	err = withHandle(e.ns(), func(h *netlink.Handle) error {
		link, err := h.LinkByName(e.ifc.Name)
		if err != nil {
			return fmt.Errorf("%s: %w", e, err)
		}
		// The queueing discipline goes first: it is the step a kernel
		// may refuse (no netem), and then nothing has changed yet.
		if err := setQdisc(h, link, imp); err != nil {
			return err
		}
		if err := setLoss(int(nsh), e.ifc.Name, imp.LossPercent); err != nil {
			if rerr := setQdisc(h, link, prev); rerr != nil {
				err = errors.Join(err, fmt.Errorf("restore the previous rate or delay: %w", rerr))
			}
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("impair %s of lab %s: %w", e, name, err)
	}
	key := e.String()
	e.st.Impairments = slices.DeleteFunc(e.st.Impairments, func(i restv1.Impairment) bool {
		return i.Node+":"+i.Interface == key
	})
	// A cleared interface is recorded only where it overrides the
	// topology's impairment.
	if !imp.None() || topologyImpairments(e.nw)[key] != nil {
		e.st.Impairments = append(e.st.Impairments, imp)
	}
	if err := opts.Store.Save(e.st); err != nil {
		return nil, err
	}
	opts.Log.Debug("impairment set", "lab", name, "interface", key, "loss", imp.LossPercent, "rate", imp.RateBps,
		"delay_us", imp.DelayUs, "jitter_us", imp.JitterUs)
	return &imp, nil
}

// setQdisc makes the root queueing discipline of link what imp asks:
// netem for a delay (with the rate), tbf for a rate alone, the default
// otherwise.
func setQdisc(h *netlink.Handle, link netlink.Link, imp restv1.Impairment) error {
	switch {
	case imp.DelayUs > 0:
		// Handle 0 lets the kernel replace a root qdisc of another kind
		// (tbf 1:) instead of refusing to change it into netem.
		q := netlink.NewNetem(netlink.QdiscAttrs{LinkIndex: link.Attrs().Index, Parent: netlink.HANDLE_ROOT},
			netlink.NetemQdiscAttrs{Latency: imp.DelayUs, Jitter: imp.JitterUs, Rate64: imp.RateBps / 8, Limit: 10000})
		if err := h.QdiscReplace(q); err != nil {
			if errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("%w (the kernel answered: %v); nothing was changed", ErrNoNetem, err)
			}
			return fmt.Errorf("netem delay on %s: %w", link.Attrs().Name, err)
		}
		return nil
	case imp.RateBps > 0:
		if err := impairRate(h, link.Attrs().Name, imp.RateBps); err != nil {
			return fmt.Errorf("rate on %s: %w", link.Attrs().Name, err)
		}
		return nil
	}
	qs, err := h.QdiscList(link)
	if err != nil {
		return fmt.Errorf("qdiscs of %s: %w", link.Attrs().Name, err)
	}
	for _, q := range qs {
		a := q.Attrs()
		if a.Parent == netlink.HANDLE_ROOT && (q.Type() == "tbf" || q.Type() == "netem") {
			if err := h.QdiscDel(q); err != nil {
				return fmt.Errorf("remove %s qdisc of %s: %w", q.Type(), link.Attrs().Name, err)
			}
		}
	}
	return nil
}

// topologyImpairments are the topology file's loss and rate, on the egress
// of both ends of each link, by "node:interface".
func topologyImpairments(nw *topo.Network) map[string]*restv1.Impairment {
	out := map[string]*restv1.Impairment{}
	for _, l := range nw.Links {
		if l.Loss == 0 && l.Rate == 0 {
			continue
		}
		for _, ifc := range []*topo.Interface{l.A, l.B} {
			out[endpointName(ifc)] = &restv1.Impairment{Node: ifc.Node.Name, Interface: ifc.Name,
				LossPercent: l.Loss, RateBps: l.Rate, Source: restv1.ImpairTopology}
		}
	}
	return out
}

// effectiveImpairments are the impairments in force, by
// "node:interface": the topology's, replaced by those set at runtime;
// interfaces without any are absent.
func effectiveImpairments(st *State, nw *topo.Network) map[string]restv1.Impairment {
	out := map[string]restv1.Impairment{}
	for k, v := range topologyImpairments(nw) {
		out[k] = *v
	}
	for _, i := range st.Impairments {
		key := i.Node + ":" + i.Interface
		if i.None() {
			delete(out, key)
		} else {
			out[key] = i
		}
	}
	return out
}

// FormatImpairment prints an impairment the way the flags of `sr6 lab
// impair` take it: "loss 5% rate 10mbit delay 10ms jitter 1ms".
func FormatImpairment(i restv1.Impairment) string {
	var parts []string
	if i.LossPercent > 0 {
		parts = append(parts, fmt.Sprintf("loss %g%%", i.LossPercent))
	}
	if i.RateBps > 0 {
		parts = append(parts, "rate "+topo.FormatRate(i.RateBps))
	}
	if i.DelayUs > 0 {
		parts = append(parts, "delay "+(time.Duration(i.DelayUs)*time.Microsecond).String())
	}
	if i.JitterUs > 0 {
		parts = append(parts, "jitter "+(time.Duration(i.JitterUs)*time.Microsecond).String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}
