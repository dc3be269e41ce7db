package topo

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"strings"
)

// NetworkJSON is the JSON form of a planned Network (`sr6 graph --format
// json`): flat, without the pointer cycles of the in-memory model.
type NetworkJSON struct {
	Name    string     `json:"name"`
	Routing string     `json:"routing"`
	Pools   Pools      `json:"plan"`
	Nodes   []NodeJSON `json:"nodes"`
	Links   []LinkJSON `json:"links"`
}

// NodeJSON is one node of NetworkJSON.
type NodeJSON struct {
	Name       string          `json:"name"`
	Kind       string          `json:"kind"`
	ID         int             `json:"id,omitempty"`
	Loopback   *netip.Addr     `json:"loopback,omitempty"`
	Locator    *netip.Prefix   `json:"locator,omitempty"`
	SIDs       *SIDs           `json:"sids,omitempty"`
	Interfaces []InterfaceJSON `json:"interfaces"`
}

// InterfaceJSON is one interface of NodeJSON.
type InterfaceJSON struct {
	Name  string        `json:"name"`
	Peer  string        `json:"peer"`
	Addr4 *netip.Prefix `json:"ipv4,omitempty"`
	Addr6 *netip.Prefix `json:"ipv6,omitempty"`
	Adj   *netip.Addr   `json:"adj_sid,omitempty"`
}

// LinkJSON is one link of NetworkJSON.
type LinkJSON struct {
	Endpoints [2]string     `json:"endpoints"`
	Metric    int           `json:"metric"`
	Latency   uint32        `json:"latency_us,omitempty"`
	Loss      float64       `json:"loss_percent,omitempty"`
	Rate      uint64        `json:"rate_bps,omitempty"`
	MTU       int           `json:"mtu,omitempty"` // set in the file; else the kinds decide
	Subnet4   *netip.Prefix `json:"subnet4,omitempty"`
	Subnet6   netip.Prefix  `json:"subnet6"`
}

func ptr[T any](v T) *T { return &v }

// JSON returns the flat JSON view of nw.
func (nw *Network) JSON() NetworkJSON {
	out := NetworkJSON{Name: nw.Name, Routing: nw.Routing, Pools: nw.Pools}
	for _, n := range nw.Nodes {
		nj := NodeJSON{Name: n.Name, Kind: n.Kind, Interfaces: []InterfaceJSON{}}
		if n.Has(SRv6) {
			nj.ID, nj.Loopback, nj.Locator, nj.SIDs = n.ID, ptr(n.Loopback), ptr(n.Locator), ptr(n.SIDs)
		}
		for _, i := range n.Interfaces {
			ij := InterfaceJSON{Name: i.Name, Peer: i.Peer.Node.Name + ":" + i.Peer.Name}
			if i.Addr4.IsValid() {
				ij.Addr4 = ptr(i.Addr4)
			}
			if i.Addr6.IsValid() {
				ij.Addr6 = ptr(i.Addr6)
			}
			if i.AdjSID.IsValid() {
				ij.Adj = ptr(i.AdjSID)
			}
			nj.Interfaces = append(nj.Interfaces, ij)
		}
		out.Nodes = append(out.Nodes, nj)
	}
	for _, l := range nw.Links {
		lj := LinkJSON{
			Endpoints: [2]string{l.A.Node.Name + ":" + l.A.Name, l.B.Node.Name + ":" + l.B.Name},
			Metric:    l.Metric, Latency: l.Latency, Loss: l.Loss, Rate: l.Rate, MTU: l.MTU, Subnet6: l.Subnet6,
		}
		if l.Subnet4.IsValid() {
			lj.Subnet4 = ptr(l.Subnet4)
		}
		out.Links = append(out.Links, lj)
	}
	return out
}

// WriteJSON writes the JSON view of nw, indented.
func (nw *Network) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(nw.JSON())
}

// WriteDOT writes nw as a Graphviz graph: SRv6 nodes (routers) as boxes labelled with
// loopback and locator, the others (hosts) as ellipses, links labelled with interfaces,
// metric and impairments.
func (nw *Network) WriteDOT(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "graph %q {\n", nw.Name)
	b.WriteString("  node [fontname=\"Helvetica\" fontsize=10];\n  edge [fontname=\"Helvetica\" fontsize=9];\n")
	for _, n := range nw.Nodes {
		if n.Has(SRv6) {
			fmt.Fprintf(&b, "  %q [shape=box label=%q];\n", n.Name,
				fmt.Sprintf("%s\nlo %s\nloc %s", n.Name, n.Loopback, n.Locator))
			continue
		}
		label := n.Name
		if len(n.Interfaces) > 0 {
			label += "\n" + n.Interfaces[0].Addr4.String() + "\n" + n.Interfaces[0].Addr6.String()
		}
		fmt.Fprintf(&b, "  %q [shape=ellipse label=%q];\n", n.Name, label)
	}
	for _, l := range nw.Links {
		label := fmt.Sprintf("metric %d", l.Metric)
		if l.Loss > 0 {
			label += fmt.Sprintf("\nloss %g%%", l.Loss)
		}
		if l.Rate > 0 {
			label += "\nrate " + FormatRate(l.Rate)
		}
		fmt.Fprintf(&b, "  %q -- %q [taillabel=%q headlabel=%q label=%q];\n",
			l.A.Node.Name, l.B.Node.Name, l.A.Name, l.B.Name, label)
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// FormatRate prints bit/s with tc's units, the inverse of ParseRate.
func FormatRate(bps uint64) string {
	for _, u := range rateUnits {
		if u.mult > 1 && bps >= uint64(u.mult) && bps%uint64(u.mult) == 0 {
			return fmt.Sprintf("%d%s", bps/uint64(u.mult), u.suffix)
		}
	}
	return fmt.Sprintf("%dbit", bps)
}
