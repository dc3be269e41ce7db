package lab

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/topo"
)

// ImpairTable is the nftables table (netdev family) that holds a node's
// loss rules, one egress chain per impaired interface.
const ImpairTable = "sr6"

// lossModulus is the resolution of random loss: 1/10000, i.e. 0.01 %.
const lossModulus = 10000

// LossChain names the chain dropping packets on iface.
func LossChain(iface string) string { return "loss-" + iface }

// applyImpairments installs each link's loss (nftables, random drop on the
// egress of both ends, so each direction loses loss%) and rate (a tbf
// qdisc on both ends).
func (d *deployer) applyImpairments(ctx context.Context) error {
	byNode := map[*topo.Node][]*topo.Interface{}
	var nodes []*topo.Node
	for _, l := range d.stepLinks() {
		if l.Loss == 0 && l.Rate == 0 {
			continue
		}
		for _, ifc := range []*topo.Interface{l.A, l.B} {
			if _, ok := byNode[ifc.Node]; !ok {
				nodes = append(nodes, ifc.Node)
			}
			byNode[ifc.Node] = append(byNode[ifc.Node], ifc)
		}
	}
	return d.eachNode(ctx, nodes, func(n *topo.Node) error {
		return impairNode(d.ns(n), byNode[n])
	})
}

func impairNode(ns string, ifcs []*topo.Interface) error {
	nsh, err := nsutil.Handle(ns)
	if err != nil {
		return err
	}
	defer nsh.Close()
	if err := impairLoss(int(nsh), ifcs); err != nil {
		return err
	}
	return withHandle(ns, func(h *netlink.Handle) error {
		for _, ifc := range ifcs {
			if ifc.Link.Rate == 0 {
				continue
			}
			if err := impairRate(h, ifc.Name, ifc.Link.Rate); err != nil {
				return fmt.Errorf("rate on %s: %w", ifc.Name, err)
			}
		}
		return nil
	})
}

// lossExprs draws a random number in [0, lossModulus) per packet and drops
// (and counts) the packet when it is below the threshold. The byteorder
// step mirrors what nft(8) emits: numgen writes host order, and nftables
// compares registers as big-endian bytes.
func lossExprs(percent float64) []expr.Any {
	threshold := uint32(math.Round(percent * lossModulus / 100))
	return []expr.Any{
		&expr.Numgen{Register: 1, Modulus: lossModulus, Type: unix.NFT_NG_RANDOM},
		&expr.Byteorder{SourceRegister: 1, DestRegister: 1, Op: expr.ByteorderHton, Len: 4, Size: 4},
		&expr.Cmp{Op: expr.CmpOpLt, Register: 1, Data: binaryutil.BigEndian.PutUint32(threshold)},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

func impairLoss(nsFd int, ifcs []*topo.Interface) error {
	c, err := nftables.New(nftables.WithNetNSFd(nsFd))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	var table *nftables.Table
	for _, ifc := range ifcs {
		if ifc.Link.Loss == 0 {
			continue
		}
		if table == nil {
			table = c.AddTable(&nftables.Table{Family: nftables.TableFamilyNetdev, Name: ImpairTable})
		}
		chain := c.AddChain(&nftables.Chain{
			Name:     LossChain(ifc.Name),
			Table:    table,
			Type:     nftables.ChainTypeFilter,
			Hooknum:  nftables.ChainHookEgress,
			Priority: nftables.ChainPriorityFilter,
			Device:   ifc.Name,
		})
		c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: lossExprs(ifc.Link.Loss)})
	}
	if table == nil {
		return nil
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables loss rules: %w", err)
	}
	return nil
}

// impairRate shapes egress to bps with a token bucket: a burst of 10 ms of
// traffic (at least two jumbo frames) and a queue of 50 ms.
func impairRate(h *netlink.Handle, iface string, bps uint64) error {
	link, err := h.LinkByName(iface)
	if err != nil {
		return err
	}
	bytesPerSec := bps / 8
	burst := max(bytesPerSec/100, 2*kinds.CoreMTU+64)
	limit := bytesPerSec/20 + burst
	q := &netlink.Tbf{
		QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: link.Attrs().Index,
			Handle:    netlink.MakeHandle(1, 0),
			Parent:    netlink.HANDLE_ROOT,
		},
		Rate: bytesPerSec,
		// The kernel takes the bucket size as the time to send it.
		Buffer: netlink.Xmittime(bytesPerSec, uint32(min(burst, math.MaxUint32))),
		Limit:  uint32(min(limit, math.MaxUint32)),
	}
	return h.QdiscReplace(q)
}

// setLoss makes the egress loss of iface percent at runtime, in one
// nftables transaction: the chain's rule is replaced (never a second one
// added), and a loss of 0 removes the chain.
func setLoss(nsFd int, iface string, percent float64) error {
	c, err := nftables.New(nftables.WithNetNSFd(nsFd))
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyNetdev)
	if err != nil {
		return fmt.Errorf("nftables: list chains: %w", err)
	}
	exists := slices.ContainsFunc(chains, func(ch *nftables.Chain) bool {
		return ch.Table.Name == ImpairTable && ch.Name == LossChain(iface)
	})
	if percent == 0 && !exists {
		return nil
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyNetdev, Name: ImpairTable})
	chain := &nftables.Chain{
		Name:     LossChain(iface),
		Table:    table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookEgress,
		Priority: nftables.ChainPriorityFilter,
		Device:   iface,
	}
	if percent == 0 {
		c.FlushChain(chain)
		c.DelChain(chain)
	} else {
		if !exists {
			c.AddChain(chain)
		}
		c.FlushChain(chain)
		c.AddRule(&nftables.Rule{Table: table, Chain: chain, Exprs: lossExprs(percent)})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("nftables loss rule on %s: %w", iface, err)
	}
	return nil
}
