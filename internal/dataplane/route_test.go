package dataplane

import (
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

var (
	segA = netip.MustParseAddr("fc00:0:1::1")
	segB = netip.MustParseAddr("fc00:0:2::1")
	segC = netip.MustParseAddr("fc00:0:3::d6")
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// ips converts addresses to the 16-byte net.IP form netlink carries.
func ips(as ...netip.Addr) []net.IP {
	out := make([]net.IP, len(as))
	for i, a := range as {
		out[i] = net.IP(a.AsSlice())
	}
	return out
}

func ipEqual(a, b []net.IP) bool {
	return slices.EqualFunc(a, b, func(x, y net.IP) bool { return x.Equal(y) && len(x) == len(y) })
}

func wantErr(t *testing.T, err error, contains []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error, want one containing %q", contains)
	}
	for _, c := range contains {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("error %q does not contain %q", err, c)
		}
	}
}

func TestParseMode(t *testing.T) {
	tests := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"encap", ModeEncap, false},
		{"inline", ModeInline, false},
		{"", "", true},
		{"Encap", "", true},
		{"insert", "", true},
		{" encap", "", true},
		{"encap,inline", "", true},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseMode(%q) = %q, want an error", tt.in, got)
				continue
			}
			for _, c := range []string{`"` + tt.in + `"`, "allowed values: encap, inline"} {
				if !strings.Contains(err.Error(), c) {
					t.Errorf("ParseMode(%q) error %q does not contain %q", tt.in, err, c)
				}
			}
			if got != "" {
				t.Errorf("ParseMode(%q) = %q with an error, want empty", tt.in, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMode(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestSteerRoute(t *testing.T) {
	tests := []struct {
		name   string
		dst    string
		mode   Mode
		segs   []netip.Addr
		family int
		// wantMode is the netlink SEG6 mode; ignored when errs is set.
		wantMode int
		errs     []string // substrings of the expected error
	}{
		{name: "encap IPv4", dst: "10.0.2.0/24", mode: ModeEncap, segs: []netip.Addr{segA, segB},
			family: netlink.FAMILY_V4, wantMode: nl.SEG6_IPTUN_MODE_ENCAP},
		{name: "encap IPv6", dst: "fd00:0:2:2::/64", mode: ModeEncap, segs: []netip.Addr{segA, segB, segC},
			family: netlink.FAMILY_V6, wantMode: nl.SEG6_IPTUN_MODE_ENCAP},
		{name: "encap one segment", dst: "fd00:0:2:2::/64", mode: ModeEncap, segs: []netip.Addr{segC},
			family: netlink.FAMILY_V6, wantMode: nl.SEG6_IPTUN_MODE_ENCAP},
		{name: "encap IPv4 host route", dst: "10.0.2.2/32", mode: ModeEncap, segs: []netip.Addr{segA},
			family: netlink.FAMILY_V4, wantMode: nl.SEG6_IPTUN_MODE_ENCAP},
		{name: "inline IPv6", dst: "fd00:0:2:2::/64", mode: ModeInline, segs: []netip.Addr{segA, segB},
			family: netlink.FAMILY_V6, wantMode: nl.SEG6_IPTUN_MODE_INLINE},
		{name: "inline one segment", dst: "fd00:0:2:2::2/128", mode: ModeInline, segs: []netip.Addr{segC},
			family: netlink.FAMILY_V6, wantMode: nl.SEG6_IPTUN_MODE_INLINE},
		{name: "inline IPv4 rejected", dst: "10.0.2.0/24", mode: ModeInline, segs: []netip.Addr{segA},
			errs: []string{"10.0.2.0/24", "inline", "IPv6", "use encap"}},
		{name: "nil segment list", dst: "fd00:0:2:2::/64", mode: ModeEncap, segs: nil,
			errs: []string{"fd00:0:2:2::/64", "empty segment list"}},
		{name: "empty segment list", dst: "10.0.2.0/24", mode: ModeEncap, segs: []netip.Addr{},
			errs: []string{"10.0.2.0/24", "empty segment list"}},
		{name: "empty segment list inline", dst: "fd00:0:2:2::/64", mode: ModeInline, segs: []netip.Addr{},
			errs: []string{"empty segment list"}},
		{name: "IPv4 segment", dst: "fd00:0:2:2::/64", mode: ModeEncap, segs: addrs("fc00:0:1::1", "10.0.0.1"),
			errs: []string{"segment 10.0.0.1 is not an IPv6 address"}},
		{name: "IPv4 segment first", dst: "10.0.2.0/24", mode: ModeEncap, segs: addrs("192.0.2.1"),
			errs: []string{"segment 192.0.2.1 is not an IPv6 address"}},
		{name: "IPv4-mapped segment", dst: "10.0.2.0/24", mode: ModeEncap, segs: addrs("fc00:0:1::1", "::ffff:10.0.0.1"),
			errs: []string{"::ffff:10.0.0.1 is not an IPv6 address"}},
		{name: "zero segment", dst: "fd00:0:2:2::/64", mode: ModeEncap, segs: []netip.Addr{segA, {}},
			errs: []string{"is not an IPv6 address"}},
	}
	const link = 7
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := netip.MustParsePrefix(tt.dst)
			in := slices.Clone(tt.segs)
			rt, err := SteerRoute(dst, tt.mode, tt.segs, link)
			if !slices.Equal(in, tt.segs) {
				t.Errorf("SteerRoute changed its segment list: %v, was %v", tt.segs, in)
			}
			if tt.errs != nil {
				if rt != nil {
					t.Errorf("route %v returned with the error", rt)
				}
				wantErr(t, err, tt.errs)
				return
			}
			if err != nil {
				t.Fatalf("SteerRoute: %v", err)
			}
			if rt.Family != tt.family {
				t.Errorf("Family = %d, want %d", rt.Family, tt.family)
			}
			if rt.Dst == nil || rt.Dst.String() != dst.String() {
				t.Errorf("Dst = %v, want %v", rt.Dst, dst)
			}
			if want := dst.Addr().BitLen() / 8; rt.Dst != nil && len(rt.Dst.IP) != want {
				t.Errorf("Dst IP is %d bytes, want %d for the family", len(rt.Dst.IP), want)
			}
			if rt.LinkIndex != link {
				t.Errorf("LinkIndex = %d, want %d", rt.LinkIndex, link)
			}
			if rt.Protocol != RouteProtocol {
				t.Errorf("Protocol = %d, want RouteProtocol %d", rt.Protocol, RouteProtocol)
			}
			if rt.Type != 0 || rt.Gw != nil || rt.Table != 0 {
				t.Errorf("unexpected Type %d / Gw %v / Table %d", rt.Type, rt.Gw, rt.Table)
			}
			enc, ok := rt.Encap.(*netlink.SEG6Encap)
			if !ok {
				t.Fatalf("Encap is %T, want *netlink.SEG6Encap", rt.Encap)
			}
			if enc.Mode != tt.wantMode {
				t.Errorf("Mode = %s, want %s", nl.SEG6EncapModeString(enc.Mode), nl.SEG6EncapModeString(tt.wantMode))
			}
			// SRH order: the last segment of the path at index 0. Inline
			// mode (H.Insert) reserves Segment List[0] for the packet's
			// own destination, which the kernel fills in, as iproute2
			// does: the SRH handed over is [::, last, ..., first].
			path := slices.Clone(tt.segs)
			if tt.mode == ModeInline {
				path = append(path, netip.IPv6Unspecified())
			}
			want := ips(path...)
			slices.Reverse(want)
			if !ipEqual(enc.Segments, want) {
				t.Errorf("Segments = %v, want %v (path %v reversed)", enc.Segments, want, path)
			}
			// netlink's String prints path order again, as iproute2 does.
			var pathStr []string
			for _, s := range path {
				pathStr = append(pathStr, s.String())
			}
			if s := enc.String(); !strings.Contains(s, "[ "+strings.Join(pathStr, " ")+" ]") {
				t.Errorf("Encap.String() = %q, want the path order %v", s, pathStr)
			}
			if _, err := enc.Encode(); err != nil {
				t.Errorf("Encode: %v", err)
			}
		})
	}
}

// TestSRHOrderRoundTrip: what SteerRoute puts on the wire decodes to the
// same SRH-ordered list, so reading a route back and reversing it gives the
// path order.
func TestSRHOrderRoundTrip(t *testing.T) {
	segs := []netip.Addr{segA, segB, segC}
	rt, err := SteerRoute(netip.MustParsePrefix("fd00::/64"), ModeEncap, segs, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rt.Encap.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var back netlink.SEG6Encap
	if err := back.Decode(b); err != nil {
		t.Fatal(err)
	}
	if !ipEqual(back.Segments, ips(segC, segB, segA)) {
		t.Errorf("decoded %v, want SRH order %v", back.Segments, ips(segC, segB, segA))
	}
}

func TestLocalSIDRoute(t *testing.T) {
	sid := netip.MustParseAddr("fc00:0:1::42")
	nh6 := netip.MustParseAddr("fd00:0:1:1::2")
	tests := []struct {
		name   string
		b      Behavior
		action int
		flags  []int // attributes besides SEG6_LOCAL_ACTION
		check  func(t *testing.T, e *netlink.SEG6LocalEncap)
		errs   []string
	}{
		{name: "End", b: Behavior{Action: End}, action: nl.SEG6_LOCAL_ACTION_END},
		{name: "End ignores other fields", b: Behavior{Action: End, Table: 5, NH6: nh6, OIF: 3},
			action: nl.SEG6_LOCAL_ACTION_END},

		{name: "End.X", b: Behavior{Action: EndX, NH6: nh6}, action: nl.SEG6_LOCAL_ACTION_END_X,
			flags: []int{nl.SEG6_LOCAL_NH6},
			check: func(t *testing.T, e *netlink.SEG6LocalEncap) { wantIP(t, e.In6Addr, nh6) }},
		{name: "End.X without nh6", b: Behavior{Action: EndX},
			errs: []string{"SID fc00:0:1::42", "End.X needs an IPv6 next hop (nh6)"}},
		{name: "End.X with an IPv4 nh6", b: Behavior{Action: EndX, NH6: netip.MustParseAddr("10.0.0.1")},
			errs: []string{"End.X needs an IPv6 next hop (nh6)"}},

		{name: "End.T", b: Behavior{Action: EndT, Table: 100}, action: nl.SEG6_LOCAL_ACTION_END_T,
			flags: []int{nl.SEG6_LOCAL_TABLE},
			check: func(t *testing.T, e *netlink.SEG6LocalEncap) { wantInt(t, "Table", e.Table, 100) }},
		{name: "End.T without table", b: Behavior{Action: EndT},
			errs: []string{"SID fc00:0:1::42", "End.T needs a routing table"}},
		{name: "End.T negative table", b: Behavior{Action: EndT, Table: -1},
			errs: []string{"End.T needs a routing table"}},

		{name: "End.DX2", b: Behavior{Action: EndDX2, OIF: 9}, action: nl.SEG6_LOCAL_ACTION_END_DX2,
			flags: []int{nl.SEG6_LOCAL_OIF},
			check: func(t *testing.T, e *netlink.SEG6LocalEncap) { wantInt(t, "Oif", e.Oif, 9) }},
		{name: "End.DX2 without oif", b: Behavior{Action: EndDX2},
			errs: []string{"End.DX2 needs an output interface (oif)"}},

		{name: "End.DX4 route inner", b: Behavior{Action: EndDX4, NH4: netip.IPv4Unspecified()},
			action: nl.SEG6_LOCAL_ACTION_END_DX4, flags: []int{nl.SEG6_LOCAL_NH4},
			check: func(t *testing.T, e *netlink.SEG6LocalEncap) { wantIP(t, e.InAddr, netip.IPv4Unspecified()) }},
		{name: "End.DX4 next hop", b: Behavior{Action: EndDX4, NH4: netip.MustParseAddr("10.0.3.2")},
			action: nl.SEG6_LOCAL_ACTION_END_DX4, flags: []int{nl.SEG6_LOCAL_NH4},
			check: func(t *testing.T, e *netlink.SEG6LocalEncap) {
				wantIP(t, e.InAddr, netip.MustParseAddr("10.0.3.2"))
			}},
		{name: "End.DX4 without nh4", b: Behavior{Action: EndDX4},
			errs: []string{"End.DX4 needs an IPv4 next hop (nh4; 0.0.0.0 routes the inner packet)"}},
		{name: "End.DX4 with an IPv6 nh4", b: Behavior{Action: EndDX4, NH4: nh6},
			errs: []string{"End.DX4 needs an IPv4 next hop"}},

		{name: "End.DX6", b: Behavior{Action: EndDX6, NH6: nh6}, action: nl.SEG6_LOCAL_ACTION_END_DX6,
			flags: []int{nl.SEG6_LOCAL_NH6},
			check: func(t *testing.T, e *netlink.SEG6LocalEncap) { wantIP(t, e.In6Addr, nh6) }},
		{name: "End.DX6 route inner", b: Behavior{Action: EndDX6, NH6: netip.IPv6Unspecified()},
			action: nl.SEG6_LOCAL_ACTION_END_DX6, flags: []int{nl.SEG6_LOCAL_NH6},
			check: func(t *testing.T, e *netlink.SEG6LocalEncap) { wantIP(t, e.In6Addr, netip.IPv6Unspecified()) }},
		{name: "End.DX6 without nh6", b: Behavior{Action: EndDX6},
			errs: []string{"End.DX6 needs an IPv6 next hop (nh6)"}},

		{name: "End.DT6", b: Behavior{Action: EndDT6, Table: unix.RT_TABLE_MAIN}, action: nl.SEG6_LOCAL_ACTION_END_DT6,
			flags: []int{nl.SEG6_LOCAL_TABLE},
			check: func(t *testing.T, e *netlink.SEG6LocalEncap) { wantInt(t, "Table", e.Table, 254) }},
		{name: "End.DT6 without table", b: Behavior{Action: EndDT6},
			errs: []string{"End.DT6 needs a routing table"}},

		{name: "End.B6", b: Behavior{Action: EndB6, Segments: []netip.Addr{segA, segB}},
			action: nl.SEG6_LOCAL_ACTION_END_B6, flags: []int{nl.SEG6_LOCAL_SRH},
			check: func(t *testing.T, e *netlink.SEG6LocalEncap) { wantSegs(t, e.Segments, segB, segA) }},
		{name: "End.B6 without segments", b: Behavior{Action: EndB6},
			errs: []string{"End.B6 needs a segment list"}},
		{name: "End.B6.Encaps", b: Behavior{Action: EndB6Encaps, Segments: []netip.Addr{segA, segB, segC}},
			action: nl.SEG6_LOCAL_ACTION_END_B6_ENCAPS, flags: []int{nl.SEG6_LOCAL_SRH},
			check: func(t *testing.T, e *netlink.SEG6LocalEncap) { wantSegs(t, e.Segments, segC, segB, segA) }},
		{name: "End.B6.Encaps without segments", b: Behavior{Action: EndB6Encaps, Segments: []netip.Addr{}},
			errs: []string{"End.B6.Encaps needs a segment list"}},

		{name: "unknown action", b: Behavior{Action: "End.DT4"},
			errs: []string{`SID fc00:0:1::42`, `unknown action "End.DT4"`,
				"allowed values: End, End.X, End.T, End.DX2, End.DX4, End.DX6, End.DT6, End.B6, End.B6.Encaps"}},
		{name: "empty action", b: Behavior{},
			errs: []string{`unknown action ""`, "allowed values: End, "}},
		{name: "action names are case-sensitive", b: Behavior{Action: "end"},
			errs: []string{`unknown action "end"`}},
	}
	const link = 3
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, err := LocalSIDRoute(sid, tt.b, link)
			if tt.errs != nil {
				if rt != nil {
					t.Errorf("route %v returned with the error", rt)
				}
				wantErr(t, err, tt.errs)
				return
			}
			if err != nil {
				t.Fatalf("LocalSIDRoute: %v", err)
			}
			if rt.Family != netlink.FAMILY_V6 {
				t.Errorf("Family = %d, want IPv6", rt.Family)
			}
			if want := "fc00:0:1::42/128"; rt.Dst == nil || rt.Dst.String() != want {
				t.Errorf("Dst = %v, want %s", rt.Dst, want)
			}
			if rt.LinkIndex != link || rt.Protocol != RouteProtocol {
				t.Errorf("LinkIndex %d Protocol %d, want %d and %d", rt.LinkIndex, rt.Protocol, link, RouteProtocol)
			}
			e, ok := rt.Encap.(*netlink.SEG6LocalEncap)
			if !ok {
				t.Fatalf("Encap is %T, want *netlink.SEG6LocalEncap", rt.Encap)
			}
			if e.Action != tt.action {
				t.Errorf("Action = %s, want %s", nl.SEG6LocalActionString(e.Action), nl.SEG6LocalActionString(tt.action))
			}
			var wantFlags [nl.SEG6_LOCAL_MAX]bool
			wantFlags[nl.SEG6_LOCAL_ACTION] = true
			for _, f := range tt.flags {
				wantFlags[f] = true
			}
			if e.Flags != wantFlags {
				t.Errorf("Flags = %v, want %v", e.Flags, wantFlags)
			}
			if tt.check != nil {
				tt.check(t, e)
			}
			if _, err := e.Encode(); err != nil {
				t.Errorf("Encode: %v", err)
			}
		})
	}
}

// TestLocalSIDRouteCoversEveryAction: the error's list of allowed values and
// the table of action codes agree.
func TestLocalSIDRouteCoversEveryAction(t *testing.T) {
	if len(actionCodes) != 9 {
		t.Errorf("%d action codes, want 9", len(actionCodes))
	}
	for _, name := range strings.Split(actionNames(), ", ") {
		if _, ok := actionCodes[Action(name)]; !ok {
			t.Errorf("allowed value %q has no action code", name)
		}
	}
	for a, code := range actionCodes {
		if got := nl.SEG6LocalActionString(code); got != string(a) {
			t.Errorf("action %s maps to kernel action %s", a, got)
		}
	}
}

func TestUnreachableRoute(t *testing.T) {
	for _, tt := range []struct {
		p      string
		family int
	}{
		{"fc00:0:1::/48", netlink.FAMILY_V6},
		{"10.9.0.0/16", netlink.FAMILY_V4},
	} {
		rt := UnreachableRoute(netip.MustParsePrefix(tt.p))
		if rt.Family != tt.family || rt.Dst.String() != tt.p || rt.Type != unix.RTN_UNREACHABLE ||
			rt.Protocol != RouteProtocol || rt.Encap != nil || rt.LinkIndex != 0 {
			t.Errorf("UnreachableRoute(%s) = %+v", tt.p, rt)
		}
	}
}

func TestNextHopRoute(t *testing.T) {
	for _, tt := range []struct {
		dst, via string
		family   int
	}{
		{"fd00:0:ff::3/128", "fd00:0:1:2::2", netlink.FAMILY_V6},
		{"0.0.0.0/0", "10.0.1.1", netlink.FAMILY_V4},
		{"::/0", "fd00:0:2:1::1", netlink.FAMILY_V6},
	} {
		rt := NextHopRoute(netip.MustParsePrefix(tt.dst), netip.MustParseAddr(tt.via), 4)
		if rt.Family != tt.family || rt.Dst.String() != tt.dst || rt.Gw.String() != tt.via ||
			rt.LinkIndex != 4 || rt.Protocol != RouteProtocol || rt.Encap != nil {
			t.Errorf("NextHopRoute(%s, %s) = %+v", tt.dst, tt.via, rt)
		}
	}
}

func wantIP(t *testing.T, got net.IP, want netip.Addr) {
	t.Helper()
	if !got.Equal(net.IP(want.AsSlice())) {
		t.Errorf("address = %v, want %v", got, want)
	}
}

func wantInt(t *testing.T, what string, got, want int) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %d, want %d", what, got, want)
	}
}

func wantSegs(t *testing.T, got []net.IP, want ...netip.Addr) {
	t.Helper()
	if !ipEqual(got, ips(want...)) {
		t.Errorf("Segments = %v, want (SRH order) %v", got, want)
	}
}

// TestSteerRouteInlineKeepsCallerSlice: reserving the H.Insert slot must not
// write into spare capacity of the caller's slice.
func TestSteerRouteInlineKeepsCallerSlice(t *testing.T) {
	backing := []netip.Addr{segA, segB, segC}
	if _, err := SteerRoute(netip.MustParsePrefix("fd00::/64"), ModeInline, backing[:2], 1); err != nil {
		t.Fatal(err)
	}
	if backing[2] != segC {
		t.Errorf("SteerRoute overwrote the caller's spare capacity with %v", backing[2])
	}
}

func TestRejectsNonIPv6AndUnknownMode(t *testing.T) {
	v6 := netip.MustParseAddr("fc00:0:1::1")
	mapped := netip.MustParseAddr("::ffff:10.0.0.1")
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"unknown mode", func() error {
			_, err := SteerRoute(netip.MustParsePrefix("fd00::/64"), Mode("sideways"), []netip.Addr{v6}, 1)
			return err
		}(), `unknown mode "sideways"`},
		{"IPv4 SID", func() error {
			_, err := LocalSIDRoute(netip.MustParseAddr("10.0.0.1"), Behavior{Action: End}, 1)
			return err
		}(), "is not an IPv6 address"},
		{"IPv4-mapped nh6", func() error {
			_, err := LocalSIDRoute(v6, Behavior{Action: EndX, NH6: mapped}, 1)
			return err
		}(), "needs an IPv6 next hop"},
		{"IPv4 segment in End.B6", func() error {
			_, err := LocalSIDRoute(v6, Behavior{Action: EndB6, Segments: []netip.Addr{v6, netip.MustParseAddr("10.0.0.2")}}, 1)
			return err
		}(), "segment 10.0.0.2 is not an IPv6 address"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", tt.name, tt.err, tt.want)
		}
	}
}
