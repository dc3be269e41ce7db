package dataplane

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/sr6net/sr6/internal/testutil"
)

// routeNS is a throwaway namespace with a SID device (sid0) and a link
// nh0 on fd00:99::/64 for next hops, and the namespace's handle.
func routeNS(t testing.TB) (netns.NsHandle, *netlink.Handle, int, int) {
	t.Helper()
	name, h := testNetns(t)
	ipCmd(t, "-n", name, "link", "set", "lo", "up")
	ipCmd(t, "-n", name, "link", "add", "sid0", "type", "veth", "peer", "name", "sid1")
	ipCmd(t, "-n", name, "link", "add", "nh0", "type", "veth", "peer", "name", "nh1")
	ipCmd(t, "-n", name, "addr", "add", "fd00:99::1/64", "dev", "nh0", "nodad")
	for _, l := range []string{"sid0", "sid1", "nh0", "nh1"} {
		ipCmd(t, "-n", name, "link", "set", l, "up")
	}
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("open namespace %s: %v", name, err)
	}
	t.Cleanup(func() { ns.Close() })
	idx := func(n string) int {
		l, err := h.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		return l.Attrs().Index
	}
	return ns, h, idx("sid0"), idx("nh0")
}

// TestReplaceRoutes installs every kind of route sr6 builds in batches
// (several sends, acks on every message and on the last only), reads them
// back like Reconcile does, and checks that a refused route in the middle
// of a batch is reported by name while the rest are installed.
func TestReplaceRoutes(t *testing.T) {
	testutil.RequirePrivileged(t, "ip")
	for _, tt := range []struct {
		name     string
		batch    int
		ackEvery bool
	}{
		{"default", DefaultBatch, false},
		{"batches of 3, ack on the last", 3, false},
		{"batches of 3, ack on every message", 3, true},
		{"one per batch", 1, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ns, h, sidDev, nhDev := routeNS(t)
			via := netip.MustParseAddr("fd00:99::2")
			var want []*netlink.Route
			add := func(r *netlink.Route, err error) {
				t.Helper()
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, r)
			}
			for i := range 5 {
				add(NextHopRoute(netip.MustParsePrefix(fmt.Sprintf("fd00:1:%x::/48", i)), via, nhDev), nil)
			}
			add(UnreachableRoute(netip.MustParsePrefix("fc00:0:9::/48")), nil)
			add(LocalSIDRoute(netip.MustParseAddr("fc00:0:9::1"), Behavior{Action: End}, sidDev))
			add(LocalSIDRoute(netip.MustParseAddr("fc00:0:9::d6"), Behavior{Action: EndDT6, Table: unix.RT_TABLE_MAIN}, sidDev))
			add(LocalSIDRoute(netip.MustParseAddr("fc00:0:9::e001"), Behavior{Action: EndX, NH6: via}, sidDev))
			add(SteerRoute(netip.MustParsePrefix("fd00:2::/64"), ModeEncap,
				[]netip.Addr{netip.MustParseAddr("fc00:0:1::1"), netip.MustParseAddr("fc00:0:2::d6")}, sidDev))
			// Refused: the gateway is on no link of the namespace.
			bad := NextHopRoute(netip.MustParsePrefix("fd00:3::/64"), netip.MustParseAddr("fd00:77::2"), nhDev)
			routes := slices.Insert(slices.Clone(want), 4, bad)

			err := replaceRoutes(ns, routes, tt.batch, tt.ackEvery)
			if err == nil || !strings.Contains(err.Error(), "route fd00:3::/64") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error = %v, want exactly the refusal of fd00:3::/64", err)
			}
			var errno unix.Errno
			if !errors.As(err, &errno) {
				t.Errorf("error %v does not wrap the kernel's errno", err)
			}
			have, err := ownedRoutes(h)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for i := range have {
				got[routeKey(&have[i])] = describe(&have[i])
			}
			for _, r := range want {
				if g := got[routeKey(r)]; g != describe(r) {
					t.Errorf("kernel has %q, want %q", g, describe(r))
				}
			}
			if len(have) != len(want) {
				t.Errorf("kernel has %d sr6 routes, want %d", len(have), len(want))
			}
			// Again: a replace of what is there is no error.
			if err := replaceRoutes(ns, want, tt.batch, tt.ackEvery); err != nil {
				t.Errorf("replace again: %v", err)
			}
		})
	}
	t.Run("unsupported field", func(t *testing.T) {
		r := NextHopRoute(netip.MustParsePrefix("fd00:1::/64"), netip.MustParseAddr("fd00:99::2"), 1)
		r.MTU = 1400
		if err := ReplaceRoutes(netns.None(), []*netlink.Route{r}); err == nil || !strings.Contains(err.Error(), "supports") {
			t.Errorf("error = %v, want the unsupported field refused", err)
		}
	})
}

// BenchmarkRouteInstall measures what the kernel takes per second in one
// namespace: IPv6 next-hop routes (fresh /128s, like an uncompressed
// underlay) one netlink request at a time (netlink.Handle.RouteReplace, as
// the lab used to), and in batches of DefaultBatch per sendmsg with an ack
// on every message or on the last one only (ReplaceRoutes).
func BenchmarkRouteInstall(b *testing.B) {
	testutil.RequirePrivileged(b, "ip")
	const n = 20000
	for _, mode := range []string{"single", "batch-ack-every", "batch-ack-last"} {
		b.Run(mode, func(b *testing.B) {
			ns, h, _, nhDev := routeNS(b)
			via := netip.MustParseAddr("fd00:99::2")
			round := 0
			var total time.Duration
			for b.Loop() {
				b.StopTimer()
				routes := make([]*netlink.Route, n)
				for i := range routes {
					a := netip.AddrFrom16([16]byte{0xfd, 0, 0, 1, 0, 0, byte(round >> 8), byte(round), 12: byte(i >> 24), 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)})
					routes[i] = NextHopRoute(netip.PrefixFrom(a, 128), via, nhDev)
				}
				round++
				b.StartTimer()
				start := time.Now()
				var err error
				switch mode {
				case "single":
					for _, r := range routes {
						if err = h.RouteReplace(r); err != nil {
							break
						}
					}
				case "batch-ack-every":
					err = replaceRoutes(ns, routes, DefaultBatch, true)
				default:
					err = replaceRoutes(ns, routes, DefaultBatch, false)
				}
				total += time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*round)/total.Seconds(), "routes/s")
		})
	}
}
