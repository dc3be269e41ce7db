package dataplane

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// RouteProtocol marks every route sr6 installs (rtm_protocol). 86 is not
// assigned in iproute2's rt_protos; docs/dataplane.md shows how to name it.
const RouteProtocol netlink.RouteProtocol = 86

// MaxSegments is the longest segment list the kernel installs (checked on
// Linux 6.18, see TestKernelSegmentLimit): seg6_validate_srh requires
// (hdrlen+1)*8 to be the SRH's length, and hdrlen is one byte, so an SRH is
// at most 2,048 bytes, an 8-byte header and 127 16-byte segments. Longer
// lists get EINVAL (EMSGSIZE once the netlink message overflows). H.Insert
// (ModeInline) spends one of them on the packet's own destination.
const MaxSegments = 127

// SteeringMetric is the metric of steering routes. A policy overrides the
// IGP: the kernel keeps routes of different metrics side by side and uses
// the lowest, and IGP routes (IS-IS installs its cost, 10 and up by
// default) must not win over the policy.
const SteeringMetric = 1

// Mode is how a headend steers traffic into a segment list.
type Mode string

// Steering modes.
const (
	// ModeEncap is H.Encaps: a new outer IPv6 header with an SRH.
	ModeEncap Mode = "encap"
	// ModeInline is H.Insert: an SRH inserted into the IPv6 packet itself.
	ModeInline Mode = "inline"
)

// ParseMode reads a steering mode.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case ModeEncap, ModeInline:
		return Mode(s), nil
	}
	return "", fmt.Errorf("unknown mode %q; allowed values: encap, inline", s)
}

// isIPv6 rejects IPv4 and IPv4-mapped addresses, which the kernel refuses
// as segments with a bare EINVAL.
func isIPv6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }

func ipOf(a netip.Addr) net.IP { return net.IP(a.AsSlice()) }

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: ipOf(p.Addr()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func family(p netip.Prefix) int {
	if p.Addr().Is4() {
		return netlink.FAMILY_V4
	}
	return netlink.FAMILY_V6
}

// srhOrder converts a segment list in path order (first segment to visit
// first, as users and iproute2 write it) to the order of the SRH's Segment
// List, which netlink carries as is: the last segment at index 0.
func srhOrder(segs []netip.Addr) []net.IP {
	out := make([]net.IP, len(segs))
	for i, s := range segs {
		out[len(segs)-1-i] = ipOf(s)
	}
	return out
}

// SteerRoute is the headend route sending traffic for dst through segs
// (first segment first). linkIndex names the device the route hangs off;
// the kernel looks the first segment up again after encapsulation.
func SteerRoute(dst netip.Prefix, mode Mode, segs []netip.Addr, linkIndex int) (*netlink.Route, error) {
	if len(segs) == 0 {
		return nil, fmt.Errorf("steer %s: empty segment list", dst)
	}
	if _, err := ParseMode(string(mode)); err != nil {
		return nil, fmt.Errorf("steer %s: %w", dst, err)
	}
	m := nl.SEG6_IPTUN_MODE_ENCAP
	if mode == ModeInline {
		if dst.Addr().Is4() {
			return nil, fmt.Errorf("steer %s: inline mode only carries IPv6 traffic; use encap", dst)
		}
		m = nl.SEG6_IPTUN_MODE_INLINE
	}
	for _, s := range segs {
		if !isIPv6(s) {
			return nil, fmt.Errorf("steer %s: segment %s is not an IPv6 address", dst, s)
		}
	}
	if mode == ModeInline {
		// H.Insert writes the packet's own destination into Segment
		// List[0] (the last segment): the SRH handed to the kernel must
		// reserve that slot, as iproute2 does, or the kernel overwrites a
		// real segment and the packet is lost.
		segs = append(slices.Clone(segs), netip.IPv6Unspecified())
	}
	return &netlink.Route{
		Family:    family(dst),
		Dst:       ipNet(dst),
		LinkIndex: linkIndex,
		Protocol:  RouteProtocol,
		Priority:  SteeringMetric,
		Encap:     &netlink.SEG6Encap{Mode: m, Segments: srhOrder(segs)},
	}, nil
}

// Action is a seg6local behaviour (RFC 8986 names).
type Action string

// Behaviours the kernel on our machines supports (see ARCHITECTURE.md).
const (
	End         Action = "End"
	EndX        Action = "End.X"
	EndT        Action = "End.T"
	EndDX2      Action = "End.DX2"
	EndDX4      Action = "End.DX4"
	EndDX6      Action = "End.DX6"
	EndDT6      Action = "End.DT6"
	EndB6       Action = "End.B6"
	EndB6Encaps Action = "End.B6.Encaps"
)

var actionCodes = map[Action]int{
	End: nl.SEG6_LOCAL_ACTION_END, EndX: nl.SEG6_LOCAL_ACTION_END_X, EndT: nl.SEG6_LOCAL_ACTION_END_T,
	EndDX2: nl.SEG6_LOCAL_ACTION_END_DX2, EndDX4: nl.SEG6_LOCAL_ACTION_END_DX4, EndDX6: nl.SEG6_LOCAL_ACTION_END_DX6,
	EndDT6: nl.SEG6_LOCAL_ACTION_END_DT6, EndB6: nl.SEG6_LOCAL_ACTION_END_B6, EndB6Encaps: nl.SEG6_LOCAL_ACTION_END_B6_ENCAPS,
}

// Behavior is a local SID's behaviour and its parameters; which parameters
// apply depends on the action.
type Behavior struct {
	Action   Action
	NH4      netip.Addr   // End.DX4 (0.0.0.0: route the inner packet)
	NH6      netip.Addr   // End.X, End.DX6
	Table    int          // End.T, End.DT6
	OIF      int          // End.DX2 output interface index
	Segments []netip.Addr // End.B6, End.B6.Encaps
}

// LocalSIDRoute is the route that gives sid its behaviour. linkIndex is the
// device the route hangs off (the loopback for sr6's own SIDs).
func LocalSIDRoute(sid netip.Addr, b Behavior, linkIndex int) (*netlink.Route, error) {
	code, ok := actionCodes[b.Action]
	if !ok {
		return nil, fmt.Errorf("SID %s: unknown action %q; allowed values: %s", sid, b.Action, actionNames())
	}
	if !isIPv6(sid) {
		return nil, fmt.Errorf("SID %s is not an IPv6 address", sid)
	}
	e := &netlink.SEG6LocalEncap{Action: code}
	e.Flags[nl.SEG6_LOCAL_ACTION] = true
	missing := func(what string) error { return fmt.Errorf("SID %s: %s needs %s", sid, b.Action, what) }
	switch b.Action {
	case EndX, EndDX6:
		if !isIPv6(b.NH6) {
			return nil, missing("an IPv6 next hop (nh6)")
		}
		e.In6Addr, e.Flags[nl.SEG6_LOCAL_NH6] = ipOf(b.NH6), true
	case EndDX4:
		if !b.NH4.Is4() {
			return nil, missing("an IPv4 next hop (nh4; 0.0.0.0 routes the inner packet)")
		}
		e.InAddr, e.Flags[nl.SEG6_LOCAL_NH4] = ipOf(b.NH4), true
	case EndT, EndDT6:
		if b.Table <= 0 {
			return nil, missing("a routing table")
		}
		e.Table, e.Flags[nl.SEG6_LOCAL_TABLE] = b.Table, true
	case EndDX2:
		if b.OIF <= 0 {
			return nil, missing("an output interface (oif)")
		}
		e.Oif, e.Flags[nl.SEG6_LOCAL_OIF] = b.OIF, true
	case EndB6, EndB6Encaps:
		if len(b.Segments) == 0 {
			return nil, missing("a segment list")
		}
		for _, seg := range b.Segments {
			if !isIPv6(seg) {
				return nil, fmt.Errorf("SID %s: segment %s is not an IPv6 address", sid, seg)
			}
		}
		e.Segments = srhOrder(b.Segments)
		e.Flags[nl.SEG6_LOCAL_SRH] = true
	}
	return &netlink.Route{
		Family:    netlink.FAMILY_V6,
		Dst:       ipNet(netip.PrefixFrom(sid, 128)),
		LinkIndex: linkIndex,
		Protocol:  RouteProtocol,
		Encap:     e,
	}, nil
}

func actionNames() string {
	names := []string{}
	for _, a := range []Action{End, EndX, EndT, EndDX2, EndDX4, EndDX6, EndDT6, EndB6, EndB6Encaps} {
		names = append(names, string(a))
	}
	return strings.Join(names, ", ")
}

// UnreachableRoute answers packets to p with ICMP unreachable. sr6 installs
// one for each locator so that SIDs the router does not define are refused
// instead of looping, and so the IGP can advertise the locator.
func UnreachableRoute(p netip.Prefix) *netlink.Route {
	return &netlink.Route{
		Family:   family(p),
		Dst:      ipNet(p),
		Type:     unix.RTN_UNREACHABLE,
		Protocol: RouteProtocol,
	}
}

// NextHopRoute is a plain route to dst through via on linkIndex.
func NextHopRoute(dst netip.Prefix, via netip.Addr, linkIndex int) *netlink.Route {
	return &netlink.Route{
		Family:    family(dst),
		Dst:       ipNet(dst),
		Gw:        ipOf(via),
		LinkIndex: linkIndex,
		Protocol:  RouteProtocol,
	}
}

// OwnedRoutes lists the routes sr6 installed through h (both families,
// main table).
func OwnedRoutes(h *netlink.Handle) ([]netlink.Route, error) {
	filter := &netlink.Route{Protocol: RouteProtocol}
	routes, err := h.RouteListFiltered(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		return nil, fmt.Errorf("list sr6 routes: %w", err)
	}
	return routes, nil
}
