package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sys/unix"

	"github.com/sr6net/sr6/internal/dataplane"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/topo"
	"github.com/sr6net/sr6/internal/underlay"
)

// Core links carry SRv6-encapsulated host traffic (40 bytes of outer header
// plus 8+16n of SRH), so they get jumbo frames; host links keep Ethernet's
// 1500 so hosts never need path MTU discovery across the core.
const (
	coreMTU = 9000
	hostMTU = 1500
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
	for _, l := range d.nw.Links {
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
	peerNS, err := nsutil.Handle(d.ns(l.B.Node))
	if err != nil {
		return err
	}
	defer peerNS.Close()
	mtu := coreMTU
	if l.IsHostLink() {
		mtu = hostMTU
	}
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

// nodeSysctls are set as soon as a node's namespace exists, before any
// interface: "default" values only reach interfaces created afterwards.
// Routers forward; every node accepts SRHs, keeps its IPv6 addresses
// when a link goes down (a link flap must not lose the plan) and skips
// duplicate address detection (addresses are planned unique, and DAD would
// hold every address, link-locals included, tentative for seconds).
func nodeSysctls(n *topo.Node) map[string]string {
	s := map[string]string{
		"net/ipv6/conf/all/keep_addr_on_down":     "1",
		"net/ipv6/conf/default/keep_addr_on_down": "1",
		"net/ipv6/conf/all/accept_dad":            "0",
		"net/ipv6/conf/default/accept_dad":        "0",
		"net/ipv4/conf/all/rp_filter":             "0",
		"net/ipv4/conf/default/rp_filter":         "0",
		// The kernel accepts a packet with an SRH only where both "all" and
		// the receiving interface allow it, even with no segment left, as
		// H.Insert delivers to hosts.
		"net/ipv6/conf/all/seg6_enabled":     "1",
		"net/ipv6/conf/default/seg6_enabled": "1",
	}
	if n.IsRouter() {
		s["net/ipv6/conf/all/forwarding"] = "1"
		s["net/ipv4/ip_forward"] = "1"
	}
	return s
}

func writeSysctls(ns string, values map[string]string) error {
	return nsutil.Do(ns, func() error {
		for k, v := range values {
			// /proc/sys/net resolves against the network namespace of the
			// thread that opens it: this locked thread.
			if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
				return fmt.Errorf("sysctl %s=%s: %w", k, v, err)
			}
		}
		return nil
	})
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

// configureInterfaces sets sysctls, addresses and brings every interface
// up. It finishes on all nodes before any route is added, so that next hops
// are on links that are up at both ends.
func (d *deployer) configureInterfaces(ctx context.Context) error {
	return d.eachNode(ctx, d.nw.Nodes, func(n *topo.Node) error {
		return withHandle(d.ns(n), func(h *netlink.Handle) error {
			lo, err := h.LinkByName("lo")
			if err != nil {
				return fmt.Errorf("loopback: %w", err)
			}
			if n.IsRouter() {
				if err := addAddr(h, lo, netip.PrefixFrom(n.Loopback, 128)); err != nil {
					return err
				}
				if _, err := dataplane.EnsureSIDDevice(h); err != nil {
					return err
				}
			}
			if err := h.LinkSetUp(lo); err != nil {
				return fmt.Errorf("lo up: %w", err)
			}
			for _, ifc := range n.Interfaces {
				link, err := h.LinkByName(ifc.Name)
				if err != nil {
					return fmt.Errorf("interface %s: %w", ifc.Name, err)
				}
				for _, p := range []netip.Prefix{ifc.Addr6, ifc.Addr4} {
					if p.IsValid() {
						if err := addAddr(h, link, p); err != nil {
							return err
						}
					}
				}
				if err := h.LinkSetUp(link); err != nil {
					return fmt.Errorf("%s up: %w", ifc.Name, err)
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
	return d.eachNode(ctx, d.nw.Nodes, func(n *topo.Node) error {
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

// installRoutes installs each router's default SIDs, its locator guard
// route and (static routing) its underlay routes, and each host's default
// routes.
func (d *deployer) installRoutes(ctx context.Context) error {
	var static map[string][]underlay.Route
	if d.nw.Routing == topo.RoutingStatic {
		static = underlay.Static(d.nw)
	}
	return d.eachNode(ctx, d.nw.Nodes, func(n *topo.Node) error {
		return withHandle(d.ns(n), func(h *netlink.Handle) error {
			if !n.IsRouter() {
				return addRoutes(h, underlay.HostRoutes(n))
			}
			if err := installSIDs(h, n); err != nil {
				return err
			}
			return addRoutes(h, static[n.Name])
		})
	})
}

func installSIDs(h *netlink.Handle, r *topo.Node) error {
	dev, err := h.LinkByName(dataplane.SIDDevice)
	if err != nil {
		return fmt.Errorf("SID device: %w", err)
	}
	sids := []struct {
		sid netip.Addr
		b   dataplane.Behavior
	}{
		{r.SIDs.End, dataplane.Behavior{Action: dataplane.End}},
		{r.SIDs.DX4, dataplane.Behavior{Action: dataplane.EndDX4, NH4: netip.IPv4Unspecified()}},
		{r.SIDs.DT6, dataplane.Behavior{Action: dataplane.EndDT6, Table: unix.RT_TABLE_MAIN}},
	}
	for _, s := range sids {
		rt, err := dataplane.LocalSIDRoute(s.sid, s.b, dev.Attrs().Index)
		if err != nil {
			return err
		}
		if err := h.RouteReplace(rt); err != nil {
			return fmt.Errorf("SID %s (%s): %w", s.sid, s.b.Action, err)
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
