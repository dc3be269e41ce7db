package dataplane

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// State is the sr6-owned part of a node's main routing table: steering
// routes, local SIDs and (for networks whose underlay sr6 computes) plain
// routes. Reconcile makes the kernel equal to a State.
type State struct {
	Steering []Steering
	SIDs     []LocalSID
	Underlay []UnderlayRoute
}

// Steering is a headend route.
type Steering struct {
	Prefix   netip.Prefix
	Mode     Mode
	Segments []netip.Addr // path order
	Policy   string       // owner; not stored in the kernel
}

// LocalSID is a SID with its behaviour. OIFName names Behavior.OIF.
type LocalSID struct {
	SID      netip.Addr
	Behavior Behavior
	OIFName  string
}

// UnderlayRoute is a plain route; Unreachable ones have no next hop.
type UnderlayRoute struct {
	Prefix      netip.Prefix
	Via         netip.Addr
	Dev         string
	Unreachable bool
}

// SIDDevice is the interface local SIDs and steering routes hang off. It
// cannot be the loopback: IPv6 turns routes through lo into reject routes,
// so SIDs on lo drop every packet. Dummy and VRF devices are missing from
// some kernels, so it is one end of a veth pair whose other end
// (SIDDevicePeer) stays in the same namespace: both ends up, it never loses
// carrier.
const (
	SIDDevice     = "sr6"
	SIDDevicePeer = "sr6-peer"
)

// EnsureSIDDevice creates the SID device if it is missing and sets it up.
func EnsureSIDDevice(h *netlink.Handle) (netlink.Link, error) {
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: SIDDevice}, PeerName: SIDDevicePeer}
	if err := h.LinkAdd(veth); err != nil && !errors.Is(err, unix.EEXIST) {
		return nil, fmt.Errorf("SID device: %w", err)
	}
	var dev netlink.Link
	for _, name := range []string{SIDDevicePeer, SIDDevice} {
		link, err := h.LinkByName(name)
		if err != nil {
			return nil, fmt.Errorf("SID device: %w", err)
		}
		if err := h.LinkSetUp(link); err != nil {
			return nil, fmt.Errorf("SID device %s up: %w", name, err)
		}
		dev = link
	}
	return dev, nil
}

// defaultIPv6Metric is the metric the kernel gives IPv6 routes added
// without one.
const defaultIPv6Metric = 1024

// Diff counts what Reconcile changed and lists the routes the kernel
// refused.
type Diff struct {
	Added, Replaced, Removed, Unchanged int
	// Refused are the desired routes the kernel would not install (or an
	// unwanted one it would not remove), each with the kernel's error; the
	// other routes were reconciled all the same.
	Refused []RouteError
}

// RouteError is one route the kernel refused. Its text names the route
// without its whole segment list: a list the kernel refuses can be
// thousands of SIDs long, and the error is logged.
type RouteError struct {
	Prefix netip.Prefix
	Metric int
	Remove bool  // the route was unwanted and its removal failed
	Err    error // the kernel's error
}

func (e *RouteError) Error() string {
	verb := "install"
	if e.Remove {
		verb = "remove"
	}
	return fmt.Sprintf("%s %s metric %d: %v", verb, e.Prefix, e.Metric, e.Err)
}

func (e *RouteError) Unwrap() error { return e.Err }

// links resolves interface names and indexes once per operation.
type links struct {
	h      *netlink.Handle
	byName map[string]int
	byIdx  map[int]string
}

func newLinks(h *netlink.Handle) (*links, error) {
	all, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	l := &links{h: h, byName: map[string]int{}, byIdx: map[int]string{}}
	for _, link := range all {
		l.byName[link.Attrs().Name] = link.Attrs().Index
		l.byIdx[link.Attrs().Index] = link.Attrs().Name
	}
	return l, nil
}

func (l *links) index(name string) (int, error) {
	i, ok := l.byName[name]
	if !ok {
		return 0, fmt.Errorf("no interface %s", name)
	}
	return i, nil
}

// routes turns a State into kernel routes.
func (s State) routes(l *links) ([]*netlink.Route, error) {
	sidDev, err := l.index(SIDDevice)
	if err != nil {
		return nil, fmt.Errorf("SID device missing: %w", err)
	}
	var out []*netlink.Route
	for _, st := range s.Steering {
		r, err := SteerRoute(st.Prefix, st.Mode, st.Segments, sidDev)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	for _, sid := range s.SIDs {
		b := sid.Behavior
		if sid.OIFName != "" {
			if b.OIF, err = l.index(sid.OIFName); err != nil {
				return nil, fmt.Errorf("SID %s: %w", sid.SID, err)
			}
		}
		r, err := LocalSIDRoute(sid.SID, b, sidDev)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	for _, u := range s.Underlay {
		if u.Unreachable {
			out = append(out, UnreachableRoute(u.Prefix))
			continue
		}
		dev, err := l.index(u.Dev)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", u.Prefix, err)
		}
		out = append(out, NextHopRoute(u.Prefix, u.Via, dev))
	}
	return out, nil
}

// routeKey identifies a route the way the kernel does within a table:
// destination and metric. A steering route (metric SteeringMetric) and an
// underlay route to the same prefix are two routes, and replacing one must
// never be taken for replacing the other.
func routeKey(r *netlink.Route) string {
	dst := "::/0"
	switch {
	case r.Dst != nil:
		dst = r.Dst.String()
	case r.Family == netlink.FAMILY_V4:
		dst = "0.0.0.0/0"
	}
	return fmt.Sprintf("%s metric %d", dst, metricOf(r))
}

// metricOf is r's metric as the kernel stores it: IPv6 routes added
// without one get defaultIPv6Metric.
func metricOf(r *netlink.Route) int {
	if r.Priority == 0 && r.Family == netlink.FAMILY_V6 {
		return defaultIPv6Metric
	}
	return r.Priority
}

// describe renders everything about r that Reconcile manages, so a desired
// route and one read back from the kernel compare as strings.
func describe(r *netlink.Route) string {
	var b strings.Builder
	// The kernel reports a unicast route requested with type 0 as
	// RTN_UNICAST, and hangs IPv6 unreachable routes off lo whatever was
	// asked: normalise both, or every Apply would replace them again.
	typ, dev := r.Type, r.LinkIndex
	if typ == 0 {
		typ = unix.RTN_UNICAST
	}
	if typ == unix.RTN_UNREACHABLE {
		dev = 0
	}
	fmt.Fprintf(&b, "%s type=%d dev=%d", routeKey(r), typ, dev)
	if r.Gw != nil {
		fmt.Fprintf(&b, " via=%s", r.Gw)
	}
	switch e := r.Encap.(type) {
	case *netlink.SEG6Encap:
		fmt.Fprintf(&b, " seg6 mode=%d segs=%v", e.Mode, e.Segments)
	case *netlink.SEG6LocalEncap:
		fmt.Fprintf(&b, " seg6local action=%d", e.Action)
		if e.Flags[nl.SEG6_LOCAL_TABLE] {
			fmt.Fprintf(&b, " table=%d", e.Table)
		}
		if e.Flags[nl.SEG6_LOCAL_NH4] {
			fmt.Fprintf(&b, " nh4=%s", e.InAddr)
		}
		if e.Flags[nl.SEG6_LOCAL_NH6] {
			fmt.Fprintf(&b, " nh6=%s", e.In6Addr)
		}
		if e.Flags[nl.SEG6_LOCAL_OIF] {
			fmt.Fprintf(&b, " oif=%d", e.Oif)
		}
		if e.Flags[nl.SEG6_LOCAL_SRH] {
			fmt.Fprintf(&b, " srh=%v", e.Segments)
		}
	}
	return b.String()
}

// ownedRoutes lists sr6's routes in the main table of both families.
func ownedRoutes(h *netlink.Handle) ([]netlink.Route, error) {
	filter := &netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN}
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_PROTOCOL|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list sr6 routes: %w", err)
	}
	return routes, nil
}

// Reconcile makes the sr6-owned routes of the namespace h is bound to equal
// to desired: it adds what is missing, replaces what differs and removes
// what sr6 owns but no longer wants. A route the kernel refuses does not
// stop the others: it is listed in Diff.Refused and in the joined error
// (one *RouteError each); any other error means nothing was reconciled. Routes of other owners (the kernel,
// routing daemons, the administrator) are never touched. It is idempotent
// and restart-safe: the kernel is the only memory.
func Reconcile(h *netlink.Handle, desired State) (Diff, error) {
	var d Diff
	l, err := newLinks(h)
	if err != nil {
		return d, err
	}
	want, err := desired.routes(l)
	if err != nil {
		return d, err
	}
	have, err := ownedRoutes(h)
	if err != nil {
		return d, err
	}
	current := map[string]string{}
	for i := range have {
		current[routeKey(&have[i])] = describe(&have[i])
	}
	wanted := map[string]bool{}
	var errs []error
	for _, r := range want {
		key := routeKey(r)
		if wanted[key] {
			re := &RouteError{Prefix: prefixOf(r), Metric: metricOf(r), Err: errors.New("wanted twice")}
			d.Refused = append(d.Refused, *re)
			errs = append(errs, re)
			continue
		}
		wanted[key] = true
		old, ok := current[key]
		if ok && old == describe(r) {
			d.Unchanged++
			continue
		}
		if err := h.RouteReplace(r); err != nil {
			re := &RouteError{Prefix: prefixOf(r), Metric: metricOf(r), Err: err}
			d.Refused = append(d.Refused, *re)
			errs = append(errs, re)
			continue
		}
		if ok {
			d.Replaced++
		} else {
			d.Added++
		}
	}
	for i := range have {
		r := &have[i]
		if wanted[routeKey(r)] {
			continue
		}
		if err := h.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) {
			re := &RouteError{Prefix: prefixOf(r), Metric: metricOf(r), Remove: true, Err: err}
			d.Refused = append(d.Refused, *re)
			errs = append(errs, re)
			continue
		}
		d.Removed++
	}
	return d, errors.Join(errs...)
}

var actionNamesByCode = func() map[int]Action {
	m := map[int]Action{}
	for a, c := range actionCodes {
		m[c] = a
	}
	return m
}()

func addrOf(ip net.IP) netip.Addr {
	a, _ := netip.AddrFromSlice(ip)
	return a.Unmap()
}

func prefixOf(r *netlink.Route) netip.Prefix {
	if r.Dst == nil {
		if r.Family == netlink.FAMILY_V4 {
			return netip.MustParsePrefix("0.0.0.0/0")
		}
		return netip.MustParsePrefix("::/0")
	}
	ones, _ := r.Dst.Mask.Size()
	a, _ := netip.AddrFromSlice(r.Dst.IP)
	if r.Family == netlink.FAMILY_V4 {
		a = a.Unmap()
	}
	return netip.PrefixFrom(a, ones)
}

// pathOrder undoes srhOrder, dropping the slot H.Insert reserves.
func pathOrder(srh []net.IP, mode Mode) []netip.Addr {
	out := make([]netip.Addr, 0, len(srh))
	for i := len(srh) - 1; i >= 0; i-- {
		out = append(out, addrOf(srh[i]))
	}
	if mode == ModeInline && len(out) > 0 && out[len(out)-1].IsUnspecified() {
		out = out[:len(out)-1]
	}
	return out
}

// ReadState reads back the sr6-owned routes of the namespace h is bound
// to, sorted by prefix.
func ReadState(h *netlink.Handle) (State, error) {
	var s State
	l, err := newLinks(h)
	if err != nil {
		return s, err
	}
	routes, err := ownedRoutes(h)
	if err != nil {
		return s, err
	}
	for i := range routes {
		r := &routes[i]
		switch e := r.Encap.(type) {
		case *netlink.SEG6Encap:
			mode := ModeEncap
			if e.Mode == nl.SEG6_IPTUN_MODE_INLINE {
				mode = ModeInline
			}
			s.Steering = append(s.Steering, Steering{Prefix: prefixOf(r), Mode: mode, Segments: pathOrder(e.Segments, mode)})
		case *netlink.SEG6LocalEncap:
			b := Behavior{Action: actionNamesByCode[e.Action], Table: e.Table}
			if e.Flags[nl.SEG6_LOCAL_NH4] {
				b.NH4 = addrOf(e.InAddr)
			}
			if e.Flags[nl.SEG6_LOCAL_NH6] {
				b.NH6 = addrOf(e.In6Addr)
			}
			if e.Flags[nl.SEG6_LOCAL_SRH] {
				b.Segments = pathOrder(e.Segments, ModeEncap)
			}
			sid := LocalSID{SID: prefixOf(r).Addr(), Behavior: b}
			if e.Flags[nl.SEG6_LOCAL_OIF] {
				sid.Behavior.OIF, sid.OIFName = e.Oif, l.byIdx[e.Oif]
			}
			s.SIDs = append(s.SIDs, sid)
		default:
			u := UnderlayRoute{Prefix: prefixOf(r), Unreachable: r.Type == unix.RTN_UNREACHABLE}
			if !u.Unreachable {
				u.Dev = l.byIdx[r.LinkIndex]
			}
			if r.Gw != nil {
				u.Via = addrOf(r.Gw)
			}
			s.Underlay = append(s.Underlay, u)
		}
	}
	sortByPrefixText(s.Steering, func(st Steering) netip.Prefix { return st.Prefix })
	sort.Slice(s.SIDs, func(i, j int) bool { return s.SIDs[i].SID.Less(s.SIDs[j].SID) })
	sortByPrefixText(s.Underlay, func(u UnderlayRoute) netip.Prefix { return u.Prefix })
	return s, nil
}

// sortByPrefixText sorts routes by the text of their prefixes, formatting
// each prefix once: formatting in the comparison cost a thousand-router
// lab's agents most of their CPU (3,000 underlay routes each, read back at
// every GetState).
func sortByPrefixText[T any](routes []T, prefix func(T) netip.Prefix) {
	keys := make([]string, len(routes))
	idx := make([]int, len(routes))
	for i, r := range routes {
		keys[i], idx[i] = prefix(r).String(), i
	}
	sort.SliceStable(idx, func(a, b int) bool { return keys[idx[a]] < keys[idx[b]] })
	sorted := make([]T, len(routes))
	for i, j := range idx {
		sorted[i] = routes[j]
	}
	copy(routes, sorted)
}
