package underlay

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/sr6net/sr6/internal/topo"
)

// ISISArea is the IS-IS area every lab router is in (level-2 only, so the
// area only needs to be consistent).
const ISISArea = "49.0001"

// isisInstance names the IS-IS process in generated configurations.
const isisInstance = "sr6"

// NET returns the IS-IS network entity title of router r: the area, a
// system id built from the router id, and selector 00.
func NET(r *topo.Node) string {
	return fmt.Sprintf("%s.0000.0000.%04x.00", ISISArea, r.ID)
}

// FRRConfig is the configuration of one router's FRR daemons.
type FRRConfig struct {
	Zebra string
	ISISd string
}

// ISISConfig renders router r's zebra and isisd configurations. Core links
// are point-to-point IS-IS circuits with the link metric; edge links and the
// loopback are passive so their prefixes are advertised. The locator, which
// is not an interface prefix, is installed by the lab as an unreachable
// kernel route and redistributed through a prefix list that matches it
// exactly (with the loopbacks and locators of the SRv6 nodes hanging off
// r), so that nothing else sr6 puts in the kernel (SRv6 steering routes,
// SIDs) leaks into the IGP.
func ISISConfig(r *topo.Node) FRRConfig {
	var z, i strings.Builder
	header := func(b *strings.Builder) {
		fmt.Fprintf(b, "frr defaults traditional\nhostname %s\n!\n", r.Name)
	}
	header(&z)
	header(&i)
	fmt.Fprintf(&i, "ipv6 prefix-list SR6-LOCATOR seq 5 permit %s\n", r.Locator)
	// SRv6 nodes hanging off r (none for routers and hosts) are reached
	// through r: the lab installs kernel routes to their loopback and
	// locator (Attached), and r advertises exactly those.
	seq := 5
	for _, n := range AttachedSRv6(r) {
		for _, p := range []netip.Prefix{netip.PrefixFrom(n.Loopback, 128), n.Locator} {
			seq += 5
			fmt.Fprintf(&i, "ipv6 prefix-list SR6-LOCATOR seq %d permit %s\n", seq, p)
		}
	}
	i.WriteString("!\n")
	i.WriteString("route-map SR6-LOCATOR permit 10\n match ipv6 address prefix-list SR6-LOCATOR\nexit\n!\n")
	fmt.Fprintf(&i, "interface lo\n ipv6 router isis %s\n isis passive\nexit\n!\n", isisInstance)
	for _, ifc := range r.Interfaces {
		fmt.Fprintf(&i, "interface %s\n ipv6 router isis %s\n", ifc.Name, isisInstance)
		if ifc.Link.IsCore() {
			fmt.Fprintf(&i, " isis network point-to-point\n isis metric %d\n isis hello-interval 1\n isis hello-multiplier 3\n", ifc.Link.Metric)
		} else {
			i.WriteString(" isis passive\n")
		}
		i.WriteString("exit\n!\n")
	}
	// FRR 8 builds the first LSP as soon as `net` is read, under the
	// timers in force then: the timers come first, or the LSP that lists
	// the adjacencies waits out the default 30 s generation interval.
	fmt.Fprintf(&i, "router isis %s\n is-type level-2-only\n metric-style wide\n lsp-gen-interval 1\n spf-interval 1\n", isisInstance)
	fmt.Fprintf(&i, " net %s\n log-adjacency-changes\n", NET(r))
	i.WriteString(" redistribute ipv6 kernel level-2 route-map SR6-LOCATOR\nexit\n!\n")
	return FRRConfig{Zebra: z.String(), ISISd: i.String()}
}
