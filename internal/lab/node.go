package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/sr6net/sr6/internal/dataplane"
	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/topo"
	"github.com/sr6net/sr6/internal/underlay"
)

// withHandle runs fn with a netlink handle bound to namespace ns.
func withHandle(ns string, fn func(*netlink.Handle) error) error {
	nsh, err := nsutil.Handle(ns)
	if err != nil {
		return err
	}
	defer nsh.Close()
	h, err := netlink.NewHandleAt(nsh)
	if err != nil {
		return fmt.Errorf("netlink in %s: %w", ns, err)
	}
	defer h.Close()
	return fn(h)
}

// createLinks creates one veth pair per link directly between the two
// namespaces, with the interface names of the topology: nothing is ever
// created in the host namespace, so labs cannot clash on names there.
func (d *deployer) createLinks(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(d.opts.Parallel)
	for _, l := range d.stepLinks() {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := d.createLink(l); err != nil {
				return fmt.Errorf("link %s: %w", l, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func (d *deployer) createLink(l *topo.Link) error {
	// The kinds of the two ends decide the MTU (core links are jumbo).
	mtu, err := nodeKinds().LinkMTU(l)
	if err != nil {
		return err
	}
	peerNS, err := nsutil.Handle(d.ns(l.B.Node))
	if err != nil {
		return err
	}
	defer peerNS.Close()
	return withHandle(d.ns(l.A.Node), func(h *netlink.Handle) error {
		veth := &netlink.Veth{
			LinkAttrs:     netlink.LinkAttrs{Name: l.A.Name, MTU: mtu},
			PeerName:      l.B.Name,
			PeerNamespace: netlink.NsFd(int(peerNS)),
		}
		if err := h.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth: %w", err)
		}
		return nil
	})
}

// nodeSysctls are n's kind's sysctls, set as soon as its namespace exists,
// before any interface: "default" values only reach interfaces created
// afterwards. A node of a kind the registry does not know gets none here;
// configureInterfaces then fails the deploy on it with the reason.
func nodeSysctls(n *topo.Node) map[string]string {
	k, err := nodeKinds().Of(n)
	if err != nil {
		return nil
	}
	return k.Sysctls(n)
}

func writeSysctls(ns string, values map[string]string) error {
	return nsutil.Do(ns, func() error {
		// /proc/sys/net resolves against the network namespace of the
		// thread that opens it: this locked thread. Every namespace's
		// net/ipv4 and net/ipv6 hang off the one shared /proc/sys/net
		// dentry, so looking either up walks a hash chain as long as the
		// number of namespaces: with a full path per value, a 1,000-node
		// deploy spent 40% of its CPU there. Each such directory is looked
		// up once per namespace and the values are opened below it.
		roots := map[string]*os.Root{}
		defer func() {
			for _, r := range roots {
				r.Close()
			}
		}()
		for k, v := range values {
			dir, rest := sysctlDir(k)
			r, ok := roots[dir]
			if !ok {
				var err error
				if r, err = os.OpenRoot(filepath.Join("/proc/sys", dir)); err != nil {
					return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
				}
				roots[dir] = r
			}
			if err := r.WriteFile(rest, []byte(v), 0o644); err != nil {
				return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
			}
		}
		return nil
	})
}

// sysctlDir splits a sysctl path after its second element ("net/ipv6",
// "conf/all/forwarding"), or after the first when it has only two.
func sysctlDir(k string) (dir, rest string) {
	parts := strings.SplitN(k, "/", 3)
	if len(parts) < 3 {
		return filepath.Dir(k), filepath.Base(k)
	}
	return parts[0] + "/" + parts[1], parts[2]
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func addAddr(h *netlink.Handle, link netlink.Link, p netip.Prefix) error {
	a := &netlink.Addr{IPNet: prefixNet(p)}
	if p.Addr().Is6() {
		a.Flags = unix.IFA_F_NODAD
	}
	if err := h.AddrReplace(link, a); err != nil {
		return fmt.Errorf("address %s on %s: %w", p, link.Attrs().Name, err)
	}
	return nil
}

// configureInterfaces puts each kind's loopback addresses on lo, creates
// the SID device on SRv6 nodes, sets the planned addresses and brings every
// interface up. It finishes on all nodes before any route is added, so that
// next hops are on links that are up at both ends.
func (d *deployer) configureInterfaces(ctx context.Context) error {
	reg := nodeKinds()
	return d.eachNode(ctx, d.stepNodes(), func(n *topo.Node) error {
		k, err := reg.Of(n)
		if err != nil {
			return err
		}
		return withHandle(d.ns(n), func(h *netlink.Handle) error {
			// Each interface is brought up before its addresses are
			// added. The other way round, the kernel re-creates the IPv6
			// prefix route of every address when the link comes up, with
			// an atomic allocation that fails now and then on a loaded
			// machine; it then drops the address ("Failed to add prefix
			// route for address ...; dropping" in the kernel log), and
			// every route through that link is refused with "no route to
			// host". Added to an up link, the prefix route is made with
			// the address, and a failure is an error here.
			lo, err := h.LinkByName("lo")
			if err != nil {
				return fmt.Errorf("loopback: %w", err)
			}
			if err := h.LinkSetUp(lo); err != nil {
				return fmt.Errorf("lo up: %w", err)
			}
			for _, p := range k.Loopback(n) {
				if err := addAddr(h, lo, p); err != nil {
					return err
				}
			}
			if n.Has(topo.SRv6) {
				if _, err := dataplane.EnsureSIDDevice(h); err != nil {
					return err
				}
			}
			for _, ifc := range n.Interfaces {
				link, err := h.LinkByName(ifc.Name)
				if err != nil {
					return fmt.Errorf("interface %s: %w", ifc.Name, err)
				}
				if err := h.LinkSetUp(link); err != nil {
					return fmt.Errorf("%s up: %w", ifc.Name, err)
				}
				for _, p := range []netip.Prefix{ifc.Addr6, ifc.Addr4} {
					if p.IsValid() {
						if err := addAddr(h, link, p); err != nil {
							return err
						}
					}
				}
			}
			return nil
		})
	})
}

// waitCarrier waits until every interface is operationally up. The kernel
// reports carrier changes through its link-watch work, which it may delay
// by up to a second under load; until then IPv6 treats the link as down and
// the first packets of a freshly deployed lab are dropped.
func (d *deployer) waitCarrier(ctx context.Context) error {
	return d.eachNode(ctx, d.stepNodes(), func(n *topo.Node) error {
		return withHandle(d.ns(n), func(h *netlink.Handle) error {
			deadline := time.Now().Add(10 * time.Second)
			for _, ifc := range n.Interfaces {
				for {
					link, err := h.LinkByName(ifc.Name)
					if err != nil {
						return fmt.Errorf("interface %s: %w", ifc.Name, err)
					}
					if link.Attrs().OperState == netlink.OperUp {
						break
					}
					if time.Now().After(deadline) {
						return fmt.Errorf("interface %s is still %s after 10s", ifc.Name, link.Attrs().OperState)
					}
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
			return nil
		})
	})
}

// installRoutes installs each SRv6 node's SIDs (its kind's) and locator
// guard route, each underlay node's static underlay routes (static
// routing; with IS-IS only the routes to the SRv6 nodes hanging off it),
// and the default routes of every node outside the underlay.
func (d *deployer) installRoutes(ctx context.Context) error {
	reg := nodeKinds()
	var static map[string][]underlay.Route
	if d.nw.Routing == topo.RoutingStatic {
		static = underlay.Static(d.nw)
	}
	return d.eachNode(ctx, d.stepNodes(), func(n *topo.Node) error {
		k, err := reg.Of(n)
		if err != nil {
			return err
		}
		return withHandle(d.ns(n), func(h *netlink.Handle) error {
			return installNodeRoutes(h, d.ns(n), n, k, static)
		})
	})
}

// installNodeRoutes installs n's SIDs and its deploy-time routes (static
// holds every node's static underlay routes, nil with IS-IS) in namespace
// ns, which h is bound to: all of them in batched netlink sends
// (dataplane.ReplaceRoutes), which the kernel takes several times faster
// than one request per route. Replacing, it also restores them: a link set
// up again gets back the routes the kernel removed when it went down.
func installNodeRoutes(h *netlink.Handle, ns string, n *topo.Node, k kinds.Kind, static map[string][]underlay.Route) error {
	devs, err := deviceIndexes(h)
	if err != nil {
		return err
	}
	var routes []*netlink.Route
	if n.Has(topo.SRv6) {
		if routes, err = sidRoutes(devs, n, k.LocalSIDs(n)); err != nil {
			return err
		}
	}
	var plain []underlay.Route
	switch {
	case !n.Has(topo.Underlay):
		plain = underlay.HostRoutes(n)
	case static != nil:
		plain = static[n.Name]
	default:
		plain = underlay.Attached(n)
	}
	more, err := plainRoutes(devs, plain)
	if err != nil {
		return err
	}
	nsh, err := nsutil.Handle(ns)
	if err != nil {
		return err
	}
	defer nsh.Close()
	return dataplane.ReplaceRoutes(nsh, append(routes, more...))
}

// deviceIndexes maps the interface names of h's namespace to indexes.
func deviceIndexes(h *netlink.Handle) (map[string]int, error) {
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	out := make(map[string]int, len(links))
	for _, l := range links {
		out[l.Attrs().Name] = l.Attrs().Index
	}
	return out, nil
}

func sidRoutes(devs map[string]int, r *topo.Node, sids []kinds.LocalSID) ([]*netlink.Route, error) {
	dev, ok := devs[dataplane.SIDDevice]
	if !ok {
		return nil, fmt.Errorf("SID device %s missing", dataplane.SIDDevice)
	}
	var out []*netlink.Route
	for _, s := range sids {
		rt, err := dataplane.LocalSIDRoute(s.SID, s.Behavior, dev)
		if err != nil {
			return nil, err
		}
		out = append(out, rt)
	}
	return append(out, dataplane.UnreachableRoute(r.Locator)), nil
}

func plainRoutes(devs map[string]int, routes []underlay.Route) ([]*netlink.Route, error) {
	out := make([]*netlink.Route, 0, len(routes))
	for _, r := range routes {
		dev, ok := devs[r.Dev]
		if !ok {
			return nil, fmt.Errorf("route %s: no device %s", r.Dst, r.Dev)
		}
		out = append(out, dataplane.NextHopRoute(r.Dst, r.Via, dev))
	}
	return out, nil
}

func installSIDs(h *netlink.Handle, r *topo.Node, sids []kinds.LocalSID) error {
	dev, err := h.LinkByName(dataplane.SIDDevice)
	if err != nil {
		return fmt.Errorf("SID device: %w", err)
	}
	for _, s := range sids {
		rt, err := dataplane.LocalSIDRoute(s.SID, s.Behavior, dev.Attrs().Index)
		if err != nil {
			return err
		}
		if err := h.RouteReplace(rt); err != nil {
			return fmt.Errorf("SID %s (%s): %w", s.SID, s.Behavior.Action, err)
		}
	}
	if err := h.RouteReplace(dataplane.UnreachableRoute(r.Locator)); err != nil {
		return fmt.Errorf("locator %s: %w", r.Locator, err)
	}
	return nil
}

func addRoutes(h *netlink.Handle, routes []underlay.Route) error {
	links := map[string]netlink.Link{}
	for _, r := range routes {
		link, ok := links[r.Dev]
		if !ok {
			var err error
			if link, err = h.LinkByName(r.Dev); err != nil {
				return fmt.Errorf("route %s: device %s: %w", r.Dst, r.Dev, err)
			}
			links[r.Dev] = link
		}
		if err := h.RouteReplace(dataplane.NextHopRoute(r.Dst, r.Via, link.Attrs().Index)); err != nil {
			return fmt.Errorf("route %s via %s dev %s: %w", r.Dst, r.Via, r.Dev, err)
		}
	}
	return nil
}
