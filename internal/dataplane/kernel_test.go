package dataplane

import (
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/sr6net/sr6/internal/testutil"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// ipCmd runs ip(8) and fails the test with its output on error.
func ipCmd(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// testNetns creates a throwaway named network namespace, deleted when the
// test ends whatever happens, and returns its name and a netlink handle in
// it.
func testNetns(t testing.TB) (string, *netlink.Handle) {
	t.Helper()
	name := testutil.UniqueName("sr6dp")
	// Registered before the namespace exists so that a half-made one
	// (mounted, then an error) is removed too.
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			if !strings.Contains(string(out), "No such file") {
				t.Errorf("delete namespace %s: %v\n%s", name, err, out)
			}
		}
	})
	ipCmd(t, "netns", "add", name)
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open namespace %s: %v", name, err)
	}
	t.Cleanup(func() { ns.Close() })
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink handle in %s: %v", name, err)
	}
	t.Cleanup(h.Close)
	return name, h
}

// TestKernelRoutes installs every route builder's output in a real kernel
// (in a throwaway namespace) and reads it back: the kernel must accept each
// behaviour with its parameters, and segment lists must come back in SRH
// order, i.e. reversed from the path order the builders take, which
// iproute2 prints in path order again.
func TestKernelRoutes(t *testing.T) {
	testutil.RequirePrivileged(t, "ip")
	ns, h := testNetns(t)

	// sid0 carries the SIDs (routes via lo would become reject routes);
	// nh0 is a link with an IPv6 subnet for next hops and steering.
	ipCmd(t, "-n", ns, "link", "set", "lo", "up")
	ipCmd(t, "-n", ns, "link", "add", "sid0", "type", "veth", "peer", "name", "sid1")
	ipCmd(t, "-n", ns, "link", "add", "nh0", "type", "veth", "peer", "name", "nh1")
	ipCmd(t, "-n", ns, "addr", "add", "fd00:99::1/64", "dev", "nh0", "nodad")
	for _, l := range []string{"sid0", "sid1", "nh0", "nh1"} {
		ipCmd(t, "-n", ns, "link", "set", l, "up")
	}
	link := func(name string) int {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatalf("link %s: %v", name, err)
		}
		return l.Attrs().Index
	}
	sidDev, nhDev, dx2Dev := link("sid0"), link("nh0"), link("nh1")

	a := netip.MustParseAddr("fc00:0:1::1")
	b := netip.MustParseAddr("fc00:0:2::1")
	c := netip.MustParseAddr("fc00:0:3::d4")
	sid := func(s string) netip.Addr { return netip.MustParseAddr("fc00:0:9::" + s) }
	sids := []struct {
		sid    netip.Addr
		b      Behavior
		action int
	}{
		{sid("1"), Behavior{Action: End}, nl.SEG6_LOCAL_ACTION_END},
		{sid("2"), Behavior{Action: EndX, NH6: netip.MustParseAddr("fd00:99::2")}, nl.SEG6_LOCAL_ACTION_END_X},
		{sid("3"), Behavior{Action: EndT, Table: 100}, nl.SEG6_LOCAL_ACTION_END_T},
		{sid("4"), Behavior{Action: EndDX2, OIF: dx2Dev}, nl.SEG6_LOCAL_ACTION_END_DX2},
		{sid("d4"), Behavior{Action: EndDX4, NH4: netip.IPv4Unspecified()}, nl.SEG6_LOCAL_ACTION_END_DX4},
		{sid("6"), Behavior{Action: EndDX6, NH6: netip.MustParseAddr("fd00:99::2")}, nl.SEG6_LOCAL_ACTION_END_DX6},
		{sid("d6"), Behavior{Action: EndDT6, Table: unix.RT_TABLE_MAIN}, nl.SEG6_LOCAL_ACTION_END_DT6},
		{sid("b6"), Behavior{Action: EndB6, Segments: []netip.Addr{a, b}}, nl.SEG6_LOCAL_ACTION_END_B6},
		{sid("b7"), Behavior{Action: EndB6Encaps, Segments: []netip.Addr{a, b}}, nl.SEG6_LOCAL_ACTION_END_B6_ENCAPS},
	}
	for _, s := range sids {
		rt, err := LocalSIDRoute(s.sid, s.b, sidDev)
		if err != nil {
			t.Fatalf("LocalSIDRoute %s %s: %v", s.sid, s.b.Action, err)
		}
		if err := h.RouteAdd(rt); err != nil {
			t.Fatalf("install %s %s: %v", s.sid, s.b.Action, err)
		}
	}

	steers := []struct {
		dst  netip.Prefix
		mode Mode
		segs []netip.Addr
		srh  []netip.Addr // as the kernel gives it back
	}{
		{netip.MustParsePrefix("10.200.0.0/24"), ModeEncap, []netip.Addr{a, b, c}, []netip.Addr{c, b, a}},
		{netip.MustParsePrefix("fd00:200::/64"), ModeEncap, []netip.Addr{a, b}, []netip.Addr{b, a}},
		{netip.MustParsePrefix("fd00:201::/64"), ModeInline, []netip.Addr{a, b},
			[]netip.Addr{netip.IPv6Unspecified(), b, a}}, // H.Insert's reserved slot
	}
	for _, s := range steers {
		rt, err := SteerRoute(s.dst, s.mode, s.segs, nhDev)
		if err != nil {
			t.Fatalf("SteerRoute %s: %v", s.dst, err)
		}
		if err := h.RouteAdd(rt); err != nil {
			t.Fatalf("install steering %s: %v", s.dst, err)
		}
	}
	locator := netip.MustParsePrefix("fc00:0:9::/48")
	if err := h.RouteAdd(UnreachableRoute(locator)); err != nil {
		t.Fatalf("install unreachable %s: %v", locator, err)
	}
	// A route sr6 does not own, which OwnedRoutes must leave out.
	ipCmd(t, "-n", ns, "-6", "route", "add", "fd00:300::/64", "via", "fd00:99::2", "dev", "nh0")

	routes, err := OwnedRoutes(h)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(sids) + len(steers) + 1; len(routes) != want {
		for _, r := range routes {
			t.Logf("owned: %s", r)
		}
		t.Fatalf("OwnedRoutes gave %d routes, want %d", len(routes), want)
	}
	byDst := map[netip.Prefix]netlink.Route{}
	for _, r := range routes {
		if r.Protocol != RouteProtocol {
			t.Errorf("route %s has protocol %d", r.Dst, r.Protocol)
		}
		p, ok := toPrefix(r.Dst)
		if !ok {
			t.Fatalf("route with unreadable destination %v", r.Dst)
		}
		byDst[p] = r
	}

	for _, s := range sids {
		r, ok := byDst[netip.PrefixFrom(s.sid, 128)]
		if !ok {
			t.Errorf("SID %s (%s) not read back", s.sid, s.b.Action)
			continue
		}
		e, ok := r.Encap.(*netlink.SEG6LocalEncap)
		if !ok {
			t.Errorf("SID %s: encap %T, want seg6local", s.sid, r.Encap)
			continue
		}
		if e.Action != s.action {
			t.Errorf("SID %s: action %s, want %s", s.sid, nl.SEG6LocalActionString(e.Action), s.b.Action)
		}
		if r.LinkIndex != sidDev {
			t.Errorf("SID %s: on link %d, want sid0 (%d)", s.sid, r.LinkIndex, sidDev)
		}
		switch s.b.Action {
		case EndX, EndDX6:
			if !e.In6Addr.Equal(net.IP(s.b.NH6.AsSlice())) {
				t.Errorf("SID %s: nh6 %v, want %v", s.sid, e.In6Addr, s.b.NH6)
			}
		case EndDX4:
			if !e.InAddr.Equal(net.IPv4zero) {
				t.Errorf("SID %s: nh4 %v, want 0.0.0.0", s.sid, e.InAddr)
			}
		case EndT, EndDT6:
			if e.Table != s.b.Table {
				t.Errorf("SID %s: table %d, want %d", s.sid, e.Table, s.b.Table)
			}
		case EndDX2:
			if e.Oif != dx2Dev {
				t.Errorf("SID %s: oif %d, want %d", s.sid, e.Oif, dx2Dev)
			}
		case EndB6, EndB6Encaps:
			if got, want := toAddrs(e.Segments), []netip.Addr{b, a}; !slices.Equal(got, want) {
				t.Errorf("SID %s: segments %v read back, want SRH order %v", s.sid, got, want)
			}
		}
	}

	for _, s := range steers {
		r, ok := byDst[s.dst]
		if !ok {
			t.Errorf("steering route %s not read back", s.dst)
			continue
		}
		e, ok := r.Encap.(*netlink.SEG6Encap)
		if !ok {
			t.Errorf("steering %s: encap %T, want seg6", s.dst, r.Encap)
			continue
		}
		wantMode := nl.SEG6_IPTUN_MODE_ENCAP
		if s.mode == ModeInline {
			wantMode = nl.SEG6_IPTUN_MODE_INLINE
		}
		if e.Mode != wantMode {
			t.Errorf("steering %s: mode %s, want %s", s.dst, nl.SEG6EncapModeString(e.Mode), s.mode)
		}
		got := toAddrs(e.Segments)
		if !slices.Equal(got, s.srh) {
			t.Errorf("steering %s: kernel SRH %v, want %v", s.dst, got, s.srh)
		}
		// Reading the SRH backwards gives the path the user asked for.
		back := slices.Clone(got)
		slices.Reverse(back)
		if s.mode == ModeInline {
			back = back[:len(back)-1]
		}
		if !slices.Equal(back, s.segs) {
			t.Errorf("steering %s: SRH reversed is %v, want the path %v", s.dst, back, s.segs)
		}
	}

	if r, ok := byDst[locator]; !ok {
		t.Errorf("unreachable %s not read back", locator)
	} else if r.Type != unix.RTN_UNREACHABLE {
		t.Errorf("locator route type %d, want unreachable", r.Type)
	}
	if _, ok := byDst[netip.MustParsePrefix("fd00:300::/64")]; ok {
		t.Errorf("OwnedRoutes lists a route sr6 did not install")
	}

	// iproute2 prints segment lists in path order.
	show6 := ipCmd(t, "-n", ns, "-6", "route", "show")
	show4 := ipCmd(t, "-n", ns, "-4", "route", "show")
	for _, w := range []struct{ out, dst, want string }{
		{show6, "fd00:200::/64", "encap seg6 mode encap segs 2 [ fc00:0:1::1 fc00:0:2::1 ]"},
		{show6, "fd00:201::/64", "encap seg6 mode inline segs 3 [ fc00:0:1::1 fc00:0:2::1 :: ]"},
		{show4, "10.200.0.0/24", "encap seg6 mode encap segs 3 [ fc00:0:1::1 fc00:0:2::1 fc00:0:3::d4 ]"},
		{show6, "fc00:0:9::b6", "action End.B6 segs 2 [ fc00:0:1::1 fc00:0:2::1 ]"},
		{show6, "fc00:0:9::b7", "action End.B6.Encaps segs 2 [ fc00:0:1::1 fc00:0:2::1 ]"},
		{show6, "fc00:0:9::d4", "action End.DX4 nh4 0.0.0.0"},
		{show6, "fc00:0:9::d6", "action End.DT6 table main"},
		{show6, "fc00:0:9::3", "action End.T table 100"},
		{show6, "fc00:0:9::4", "action End.DX2 oif nh1"},
		{show6, "unreachable fc00:0:9::/48", "proto 86"},
	} {
		line := lineFor(w.out, w.dst)
		if line == "" {
			t.Errorf("ip route show has no %s:\n%s", w.dst, w.out)
		} else if !strings.Contains(line, w.want) {
			t.Errorf("ip route show for %s:\n  %s\nwant it to contain %q", w.dst, line, w.want)
		}
	}
}

// lineFor is the line of ip route output describing dst (the line starting
// with it).
func lineFor(out, dst string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, dst+" ") {
			return l
		}
	}
	return ""
}

func toPrefix(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	a, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(a.Unmap(), ones), true
}

func toAddrs(ips []net.IP) []netip.Addr {
	out := make([]netip.Addr, len(ips))
	for i, ip := range ips {
		a, _ := netip.AddrFromSlice(ip)
		out[i] = a
	}
	return out
}

// TestReconcileIsIdempotent reconciles a namespace to a state with every
// kind of route, then again: the second pass must change nothing, read-back
// must give the state back, and shrinking the state removes exactly the
// routes left out, never another owner's.
func TestReconcileIsIdempotent(t *testing.T) {
	testutil.RequirePrivileged(t, "ip")
	name, h := testNetns(t)
	ipCmd(t, "-n", name, "link", "add", "eth1", "type", "veth", "peer", "name", "eth1p")
	ipCmd(t, "-n", name, "link", "set", "eth1", "up")
	ipCmd(t, "-n", name, "link", "set", "eth1p", "up")
	ipCmd(t, "-n", name, "addr", "add", "fd00:0:1:1::1/64", "dev", "eth1", "nodad")
	ipCmd(t, "-n", name, "-6", "route", "add", "fd00:99::/64", "via", "fd00:0:1:1::2", "proto", "static")
	if _, err := EnsureSIDDevice(h); err != nil {
		t.Fatal(err)
	}
	a := func(s string) netip.Addr { return netip.MustParseAddr(s) }
	p := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	full := State{
		Steering: []Steering{
			{Prefix: p("10.0.2.0/24"), Mode: ModeEncap, Segments: []netip.Addr{a("fc00:0:2::1"), a("fc00:0:3::d4")}},
			{Prefix: p("fd00:0:2:2::/64"), Mode: ModeInline, Segments: []netip.Addr{a("fc00:0:2::1")}},
		},
		SIDs: []LocalSID{
			{SID: a("fc00:0:1::1"), Behavior: Behavior{Action: End}},
			{SID: a("fc00:0:1::d4"), Behavior: Behavior{Action: EndDX4, NH4: netip.IPv4Unspecified()}},
			{SID: a("fc00:0:1::d6"), Behavior: Behavior{Action: EndDT6, Table: 254}},
			{SID: a("fc00:0:1::e001"), Behavior: Behavior{Action: EndX, NH6: a("fd00:0:1:1::2")}},
		},
		Underlay: []UnderlayRoute{
			{Prefix: p("fc00:0:1::/48"), Unreachable: true},
			{Prefix: p("fd00:0:ff::2/128"), Via: a("fd00:0:1:1::2"), Dev: "eth1"},
		},
	}
	d, err := Reconcile(h, full)
	if err != nil || d.Added != 8 {
		t.Fatalf("first reconcile: %+v, %v; want 8 added", d, err)
	}
	d, err = Reconcile(h, full)
	if err != nil || !sameCounts(d, Diff{Unchanged: 8}) {
		t.Fatalf("second reconcile: %+v, %v; want 8 unchanged", d, err)
	}
	back, err := ReadState(h)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Steering) != 2 || len(back.SIDs) != 4 || len(back.Underlay) != 2 {
		t.Fatalf("read back %d steering, %d SIDs, %d underlay", len(back.Steering), len(back.SIDs), len(back.Underlay))
	}
	if got := back.Steering[1].Segments; len(got) != 1 || got[0] != a("fc00:0:2::1") {
		t.Errorf("inline segments read back as %v (the reserved slot must not show)", got)
	}
	small := full
	small.Steering = full.Steering[:1]
	small.SIDs = full.SIDs[:3]
	d, err = Reconcile(h, small)
	if err != nil || !sameCounts(d, Diff{Removed: 2, Unchanged: 6}) {
		t.Fatalf("shrinking reconcile: %+v, %v; want 2 removed, 6 unchanged", d, err)
	}
	if out := ipCmd(t, "-n", name, "-6", "route", "show", "fd00:99::/64"); !strings.Contains(out, "proto static") {
		t.Errorf("another owner's route was touched: %q", out)
	}
}

func sameCounts(a, b Diff) bool {
	return a.Added == b.Added && a.Replaced == b.Replaced && a.Removed == b.Removed && a.Unchanged == b.Unchanged &&
		len(a.Refused) == len(b.Refused)
}

// TestKernelSegmentLimit checks MaxSegments against the kernel: an SRH of
// MaxSegments segments installs, one more is refused with EINVAL, and
// Reconcile still installs the other routes and names the refused one
// without its segment list. H.Insert reserves one slot, so inline mode
// takes one segment fewer.
func TestKernelSegmentLimit(t *testing.T) {
	testutil.RequirePrivileged(t, "ip")
	_, h := testNetns(t)
	if _, err := EnsureSIDDevice(h); err != nil {
		t.Fatal(err)
	}
	segs := func(n int) []netip.Addr {
		out := make([]netip.Addr, n)
		for i := range out {
			out[i] = netip.AddrFrom16([16]byte{0xfc, 0, 0, 0, byte(i >> 8), byte(i), 14: 0, 15: 1})
		}
		return out
	}
	p := func(s string) netip.Prefix { return netip.MustParsePrefix(s) }
	tests := []struct {
		name    string
		prefix  string
		mode    Mode
		n       int
		refused bool
	}{
		{"encap at the limit", "fd00:a::/64", ModeEncap, MaxSegments, false},
		{"encap past the limit", "fd00:b::/64", ModeEncap, MaxSegments + 1, true},
		{"IPv4 encap past the limit", "10.9.0.0/16", ModeEncap, MaxSegments + 1, true},
		{"inline at its limit", "fd00:c::/64", ModeInline, MaxSegments - 1, false},
		{"inline past its limit", "fd00:d::/64", ModeInline, MaxSegments, true},
		{"far past the limit (netlink refuses the message)", "fd00:e::/64", ModeEncap, 20001, true},
	}
	var st State
	for _, tt := range tests {
		st.Steering = append(st.Steering, Steering{Prefix: p(tt.prefix), Mode: tt.mode, Segments: segs(tt.n)})
	}
	d, err := Reconcile(h, st)
	refused := map[netip.Prefix]RouteError{}
	for _, re := range d.Refused {
		refused[re.Prefix] = re
	}
	for _, tt := range tests {
		re, ok := refused[p(tt.prefix)]
		if ok != tt.refused {
			t.Errorf("%s: refused %v (%v), want %v", tt.name, ok, re.Err, tt.refused)
		}
		if ok && len(re.Error()) > 200 {
			t.Errorf("%s: error text of %d bytes: the segment list must not be in it", tt.name, len(re.Error()))
		}
	}
	if d.Added != 2 || err == nil {
		t.Errorf("reconcile: %+v, %v; want 2 added and an error naming the refused routes", d, err)
	}
	if re, ok := refused[p("fd00:b::/64")]; ok && !errors.Is(re.Err, unix.EINVAL) {
		t.Errorf("one past the limit: %v, want EINVAL", re.Err)
	}
}
