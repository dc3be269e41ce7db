package clab

import (
	"slices"
	"strings"
)

// Results of mapping a containerlab kind.
const (
	kindRouter = "router"
	kindHost   = "host"
)

// aliases are containerlab's older kind names and short forms, mapped to
// the kind names of its current documentation, so that one table below
// decides each device and a `kinds:` block written under either name
// applies.
var aliases = map[string]string{
	"srl":             "nokia_srlinux",
	"vr-sros":         "nokia_sros",
	"vr-nokia_sros":   "nokia_sros",
	"ceos":            "arista_ceos",
	"vr-veos":         "arista_veos",
	"crpd":            "juniper_crpd",
	"vr-vmx":          "juniper_vmx",
	"vr-vqfx":         "juniper_vqfx",
	"vr-vsrx":         "juniper_vsrx",
	"vr-vjunosswitch": "juniper_vjunosswitch",
	"vr-vjunosrouter": "juniper_vjunosrouter",
	"xrd":             "cisco_xrd",
	"vr-xrv9k":        "cisco_xrv9k",
	"vr-xrv":          "cisco_xrv",
	"vr-csr":          "cisco_csr1000v",
	"vr-n9kv":         "cisco_n9kv",
	"vr-nxos":         "cisco_nxos",
	"vr-cat9kv":       "cisco_cat9kv",
	"vr-c8000v":       "cisco_c8000v",
	"vr-ros":          "mikrotik_ros",
	"vr-ftosv":        "dell_ftosv",
	"vr-aoscx":        "aruba_aoscx",
	"vr-pan":          "paloalto_panos",
	"vr-ftdv":         "cisco_ftdv",
	"cvx":             "cumulus_cvx",
	"sonic":           "sonic-vs",
	"vyos":            "vyosnetworks_vyos",
}

// canonical returns kind under its current containerlab name.
func canonical(kind string) string {
	if c, ok := aliases[kind]; ok {
		return c
	}
	return kind
}

// routerKinds are network operating systems: in sr6 each becomes a router
// (an SRv6 node of the underlay), whatever its vendor.
var routerKinds = []string{
	"nokia_srlinux", "nokia_sros", "nokia_srsim",
	"arista_ceos", "arista_veos",
	"juniper_crpd", "juniper_vmx", "juniper_vqfx", "juniper_vsrx", "juniper_vjunosrouter",
	"juniper_vjunosswitch", "juniper_vjunosevolved", "juniper_cjunosevolved",
	"cisco_xrd", "cisco_xrv9k", "cisco_xrv", "cisco_csr1000v", "cisco_c8000v", "cisco_c8000",
	"cisco_n9kv", "cisco_nxos", "cisco_iol", "cisco_cat9kv",
	"sonic-vs", "sonic-vm", "dell_sonic", "dell_ftosv",
	"vyosnetworks_vyos", "frr", "mikrotik_ros", "huawei_vrp", "ipinfusion_ocnos",
	"6wind_vsr", "cumulus_cvx", "aruba_aoscx", "arrcus_arcos", "rare", "openbsd",
}

// hostKinds are general-purpose machines: in sr6 each becomes a host
// unless its image is a routing suite (routerImages).
var hostKinds = []string{"linux", "generic_vm", "keysight_ixia-c-one"}

// unsupportedKinds have no sr6 equivalent; a node of one is left out
// with a warning naming why.
var unsupportedKinds = map[string]string{
	"bridge":                "a Linux bridge on the host; sr6 links are point-to-point veth pairs",
	"ovs-bridge":            "an Open vSwitch bridge on the host; sr6 links are point-to-point veth pairs",
	"host":                  "the containerlab host itself; sr6 labs live in their own namespaces",
	"ext-container":         "a container containerlab does not manage; sr6 runs no containers",
	"k8s-kind":              "a Kubernetes kind cluster; sr6 runs no containers",
	"fortinet_fortigate":    "a firewall, neither an SRv6 router nor a host",
	"paloalto_panos":        "a firewall, neither an SRv6 router nor a host",
	"cisco_asav":            "a firewall, neither an SRv6 router nor a host",
	"cisco_ftdv":            "a firewall, neither an SRv6 router nor a host",
	"checkpoint_cloudguard": "a firewall, neither an SRv6 router nor a host",
	"f5_bigip-ve":           "a load balancer, neither an SRv6 router nor a host",
}

// routerImages are the last path element of images that make a linux
// node a router: routing suites run in plain containers.
var routerImages = []string{"frr", "bird", "bird2", "gobgp", "openbgpd", "vyos", "sonic-vs"}

// imageRepo returns an image reference without registry port confusion,
// tag or digest, lower-cased: "quay.io/frrouting/frr:8.4" -> "quay.io/frrouting/frr".
func imageRepo(image string) string {
	ref, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(image)), "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// isRouterImage tells whether a linux node with image runs a routing
// suite (FRR, BIRD, GoBGP, ...).
func isRouterImage(image string) bool {
	repo := imageRepo(image)
	if repo == "" {
		return false
	}
	base := repo[strings.LastIndex(repo, "/")+1:]
	return slices.Contains(routerImages, base) || strings.Contains(repo, "frrouting/")
}

// mapKind returns the sr6 kind of a containerlab node of kind with image,
// or "" and the reason it has none.
func mapKind(kind, image string) (sr6 string, why string) {
	c := canonical(kind)
	switch {
	case slices.Contains(routerKinds, c):
		return kindRouter, ""
	case slices.Contains(hostKinds, c):
		if isRouterImage(image) {
			return kindRouter, ""
		}
		return kindHost, ""
	}
	if why, ok := unsupportedKinds[c]; ok {
		return "", why
	}
	return "", "a kind this importer does not know; set the label sr6-kind: router or host to import it"
}
