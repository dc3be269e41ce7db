package clab

import (
	"errors"
	"strings"
	"testing"

	"github.com/sr6net/sr6/internal/topo"
)

// TestConvertErrors: what cannot be converted is an error at its place in
// the containerlab file, and there is no result.
func TestConvertErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string // each error, "line:col: field: reason" (a prefix of the reason)
	}{
		{"YAML syntax", "name: x\ntopology: [\n", []string{"2: YAML syntax: did not find expected node content"}},
		{"empty", "", []string{"1:1: empty file"}},
		{"not a mapping", "- a\n- b\n", []string{"1:1: not a containerlab topology: the file must be a mapping"}},
		{"sr6 topology", "name: x\nnodes:\n  r1: {kind: router}\n",
			[]string{"1:1: topology: not a containerlab topology: it has no topology key (topology.nodes holds the nodes); it looks like an sr6 topology"}},
		{"no name", "topology:\n  nodes:\n    a: {kind: srl}\n", []string{"1:1: name: missing"}},
		{"null name", "name:\ntopology:\n  nodes:\n    a: {kind: srl}\n", []string{"1:6: name: must be a single value, got nothing"}},
		{"unusable name", "name: '---'\ntopology:\n  nodes:\n    a: {kind: srl}\n", []string{`1:7: name: "---" cannot be made an sr6 lab name`}},
		{"no nodes key", "name: x\ntopology:\n  links: []\n", []string{"2:1: topology.nodes: missing"}},
		{"no nodes", "name: x\ntopology:\n  nodes: {}\n", []string{"3:3: topology.nodes: no nodes"}},
		{"nodes a list", "name: x\ntopology:\n  nodes: [a]\n", []string{"3:10: topology.nodes: must be a mapping, got a list"}},
		{"no kind", "name: x\ntopology:\n  nodes:\n    a: {image: alpine}\n", []string{"4:5: topology.nodes.a.kind: missing: set kind on the node, its group or topology.defaults"}},
		{"kind a list", "name: x\ntopology:\n  nodes:\n    a: {kind: [srl]}\n", []string{"4:15: topology.nodes.a.kind: must be a single value, got a list"}},
		{"undefined group", "name: x\ntopology:\n  nodes:\n    a: {group: spines}\n", []string{`4:16: topology.nodes.a.group: group "spines" is not defined under topology.groups`}},
		{"duplicate node", "name: x\ntopology:\n  nodes:\n    a: {kind: srl}\n    a: {kind: srl}\n", []string{"5:5: topology.nodes.a: duplicate key (first defined at line 4)"}},
		{"bad sr6-kind label", "name: x\ntopology:\n  nodes:\n    a: {kind: linux, labels: {sr6-kind: switch}}\n",
			[]string{`4:41: topology.nodes.a.labels.sr6-kind: "switch" is not an sr6 kind: write router or host`}},
		{"names that meet", "name: x\ntopology:\n  nodes:\n    a.b: {kind: srl}\n    a-b: {kind: srl}\n",
			[]string{"5:5: topology.nodes.a-b: node a-b would be named a-b in sr6, as node a.b at line 4 is: rename one"}},
		{"undefined node", "name: x\ntopology:\n  nodes:\n    a: {kind: srl}\n  links:\n    - endpoints: [\"a:e1-1\", \"b:e1-1\"]\n",
			[]string{`6:29: topology.links[0].endpoints[1]: node "b" is not defined under topology.nodes`}},
		{"duplicate endpoint", "name: x\ntopology:\n  nodes:\n    a: {kind: srl}\n    b: {kind: srl}\n    c: {kind: srl}\n  links:\n    - endpoints: [\"a:e1-1\", \"b:e1-1\"]\n    - endpoints: [\"a:e1-1\", \"c:e1-1\"]\n",
			[]string{"9:19: topology.links[1].endpoints[0]: endpoint a:e1-1 is already used by the link at line 8"}},
		{"endpoint without interface", "name: x\ntopology:\n  nodes:\n    a: {kind: srl}\n  links:\n    - endpoints: [\"a\", \"a:e1\"]\n",
			[]string{`6:19: topology.links[0].endpoints[0]: "a" is not an endpoint: write node:interface`}},
		{"three endpoints", "name: x\ntopology:\n  nodes:\n    a: {kind: srl}\n  links:\n    - endpoints: [\"a:1\", \"a:2\", \"a:3\"]\n",
			[]string{"6:18: topology.links[0].endpoints: a link has exactly 2 endpoints, got 3"}},
		{"extended endpoint without interface", "name: x\ntopology:\n  nodes:\n    a: {kind: srl}\n    b: {kind: srl}\n  links:\n    - type: veth\n      endpoints: [{node: a}, {node: b, interface: e1}]\n",
			[]string{"8:19: topology.links[0].endpoints[0]: an endpoint needs node and interface"}},
		{"no endpoints", "name: x\ntopology:\n  nodes:\n    a: {kind: srl}\n  links:\n    - mtu: 1500\n",
			[]string{"6:7: topology.links[0].endpoints: missing"}},
		{"unknown link type", "name: x\ntopology:\n  nodes:\n    a: {kind: srl}\n  links:\n    - type: gre\n",
			[]string{`6:13: topology.links[0].type: unknown link type "gre"; containerlab's are veth, host, mgmt-net, macvlan, vxlan, vxlan-stitch, dummy`}},
		{"mtu too small", "name: x\ntopology:\n  nodes:\n    a: {kind: srl}\n    b: {kind: srl}\n  links:\n    - endpoints: [\"a:1\", \"b:1\"]\n      mtu: 1000\n",
			[]string{"8:12: topology.links[0].mtu: 1000 is out of range for sr6: 1280 (the IPv6 minimum) to 65535 (the veth maximum)"}},
		{"mtu not a number", "name: x\ntopology:\n  nodes:\n    a: {kind: srl}\n    b: {kind: srl}\n  links:\n    - endpoints: [\"a:1\", \"b:1\"]\n      mtu: jumbo\n",
			[]string{`8:12: topology.links[0].mtu: must be a whole number of bytes, got "jumbo"`}},
		// What sr6 refuses in the result is reported at its place in the
		// containerlab file.
		{"host to host", "name: x\ntopology:\n  nodes:\n    h1: {kind: linux}\n    h2: {kind: linux}\n  links:\n    - endpoints: [\"h1:eth1\", \"h2:eth1\"]\n",
			[]string{"7:30: topology.links[0].endpoints[1]: sr6 cannot use this: hosts h1 and h2 cannot be linked directly"}},
		{"self link", "name: x\ntopology:\n  nodes:\n    a: {kind: srl}\n  links:\n    - endpoints: [\"a:e1-1\", \"a:e1-2\"]\n",
			[]string{"6:29: topology.links[0].endpoints[1]: sr6 cannot use this: a link cannot connect node a to itself"}},
		{"nothing to import", "name: x\ntopology:\n  nodes:\n    br: {kind: bridge}\n",
			[]string{"4:5: topology.nodes: no node can be imported", "4:16: topology.nodes.br.kind: node br not imported: kind bridge"}},
		{"every problem at once", "name: x\ntopology:\n  nodes:\n    a: {kind: srl, labels: {sr6-kind: x}}\n    b: {kind: srl}\n  links:\n    - endpoints: [\"a:e1\", \"b:e1\"]\n    - endpoints: [\"b:e2\", \"c:e1\"]\n      mtu: 100\n",
			[]string{`4:39: topology.nodes.a.labels.sr6-kind: "x" is not an sr6 kind`,
				`8:27: topology.links[1].endpoints[1]: node "c" is not defined under topology.nodes`,
				"9:12: topology.links[1].mtu: 100 is out of range"}},
		{"merge of a scalar", "name: x\ntopology:\n  nodes:\n    a:\n      <<: 1\n      kind: srl\n",
			[]string{"5:11: topology.nodes.a.<<: a merge key takes a mapping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Convert("lab.clab.yml", []byte(tt.src))
			if err == nil {
				t.Fatalf("no error; result:\n%s", res.YAML)
			}
			if res != nil {
				t.Errorf("a result beside the error: %+v", res)
			}
			var el topo.ErrorList
			if !errors.As(err, &el) {
				t.Fatalf("error %v is not a topo.ErrorList", err)
			}
			if len(el) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(el), len(tt.want), err)
			}
			for i, e := range el {
				want := "lab.clab.yml:" + tt.want[i]
				if !strings.HasPrefix(e.Error(), want) {
					t.Errorf("error %d = %q\nwant prefix %q", i, e.Error(), want)
				}
			}
		})
	}
}

// TestConvertWarnings: what has no sr6 equivalent is left out with one
// warning at its place, and the rest is converted.
func TestConvertWarnings(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		warns []string
		has   []string // lines the result contains
	}{
		{
			name: "fields of nodes and of the settings they use",
			src: `name: x
prefix: ""
topology:
  defaults: {env: {A: b}}
  kinds:
    srl: {type: ixr6, license: l.key}
    ceos: {image: ceos}
  nodes:
    a: {kind: srl, startup-config: a.json, exec: [ls], binds: [a:b], mgmt-ipv6: "2001:db8::1"}
    b: {kind: srl}
`,
			warns: []string{
				"2:1: prefix: ignored",
				"4:14: topology.defaults.env: not imported",
				"6:11: topology.kinds.srl.type: not imported",
				"6:23: topology.kinds.srl.license: not imported",
				"9:20: topology.nodes.a.startup-config: not imported: sr6 configures its nodes itself",
				"9:44: topology.nodes.a.exec: not imported: commands are not run at start",
				"9:56: topology.nodes.a.binds: not imported",
				"9:70: topology.nodes.a.mgmt-ipv6: ignored: sr6 labs have no management network",
			},
			has: []string{"  a: {kind: router}", "  b: {kind: router}"},
		},
		{
			name: "links to what is not a node of the lab",
			src: `name: x
topology:
  nodes:
    a: {kind: srl}
    b: {kind: srl}
    sw: {kind: ovs-bridge}
  links:
    - endpoints: ["a:e1-1", "b:e1-1"]
      labels: {x: y}
    - endpoints: ["a:e1-2", "sw:p1"]
    - endpoints: ["a:e1-3", "host:a-e13"]
    - type: macvlan
      endpoint: {node: a, interface: e1-4}
      host-interface: eno1
    - {type: dummy, endpoint: {node: b, interface: e1-9}}
`,
			warns: []string{
				"6:16: topology.nodes.sw.kind: node sw not imported: kind ovs-bridge is an Open vSwitch bridge",
				"9:7: topology.links[0].labels: not imported: sr6 links have no labels",
				"10:29: topology.links[1].endpoints[1]: link not imported: node sw (kind ovs-bridge) is not imported",
				"11:29: topology.links[2].endpoints[1]: link not imported: host is an interface of the containerlab host",
				"12:13: topology.links[3].type: link not imported: type macvlan has no sr6 equivalent",
				"15:14: topology.links[4].type: link not imported: type dummy",
			},
			has: []string{"  - endpoints: [a:e1-1, b:e1-1]"},
		},
		{
			name: "unknown kind",
			src:  "name: x\ntopology:\n  nodes:\n    a: {kind: srl}\n    z: {kind: acme_os}\n",
			warns: []string{
				"5:15: topology.nodes.z.kind: node z not imported: kind acme_os is a kind this importer does not know; set the label sr6-kind: router or host",
			},
			has: []string{"  a: {kind: router}"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Convert("lab.clab.yml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Warnings) != len(tt.warns) {
				t.Errorf("got %d warnings, want %d:\n%v", len(res.Warnings), len(tt.warns), res.Warnings)
			}
			for i, w := range res.Warnings {
				if i < len(tt.warns) && !strings.HasPrefix(w.Error(), "lab.clab.yml:"+tt.warns[i]) {
					t.Errorf("warning %d = %q\nwant prefix %q", i, w.Error(), tt.warns[i])
				}
			}
			for _, line := range tt.has {
				if !strings.Contains(string(res.YAML), line+"\n") && !strings.Contains(string(res.YAML), line+"  #") {
					t.Errorf("result has no line %q:\n%s", line, res.YAML)
				}
			}
		})
	}
}

func TestMapKind(t *testing.T) {
	tests := []struct {
		kind, image, want string
	}{
		{"nokia_srlinux", "", kindRouter},
		{"srl", "ghcr.io/nokia/srlinux", kindRouter},
		{"vr-sros", "", kindRouter},
		{"ceos", "", kindRouter},
		{"crpd", "", kindRouter},
		{"juniper_vjunosrouter", "", kindRouter},
		{"xrd", "", kindRouter},
		{"vr-xrv9k", "", kindRouter},
		{"sonic-vs", "", kindRouter},
		{"vyosnetworks_vyos", "", kindRouter},
		{"frr", "", kindRouter},
		{"linux", "quay.io/frrouting/frr:9.1.0", kindRouter},
		{"linux", "frrouting/frr", kindRouter},
		{"linux", "localhost:5000/frr@sha256:abcd", kindRouter},
		{"linux", "ghcr.io/hellt/network-multitool", kindHost},
		{"linux", "alpine:3", kindHost},
		{"linux", "ubuntu", kindHost},
		{"linux", "", kindHost},
		{"linux", "registry:5000/tools/frrless:1", kindHost},
		{"bridge", "", ""},
		{"ovs-bridge", "", ""},
		{"host", "", ""},
		{"ext-container", "", ""},
		{"acme_os", "", ""},
	}
	for _, tt := range tests {
		got, why := mapKind(tt.kind, tt.image)
		if got != tt.want {
			t.Errorf("mapKind(%q, %q) = %q (%s), want %q", tt.kind, tt.image, got, why, tt.want)
		}
		if got == "" && why == "" {
			t.Errorf("mapKind(%q) gives no reason", tt.kind)
		}
	}
}

func TestLinuxIface(t *testing.T) {
	tests := []struct{ in, want string }{
		{"e1-1", "e1-1"},
		{"eth1", "eth1"},
		{"Ethernet1", "Ethernet1"},
		{"ethernet-1/1", "ethernet-1-1"},
		{"ge-0/0/0", "ge-0-0-0"},
		{"Ethernet1/1", "Ethernet1-1"},
		{"GigabitEthernet0/0/0/1", "Gi0-0-0-1"},
		{"HundredGigE0/0/0/24", "Hu0-0-0-24"},
		{"ethernet-1/1.100", "e-1-1.100"},
		{"lo", "iflo-" + hashOf("lo")},
		{"all", "ifall-" + hashOf("all")},
		{"sr6x", "ifsr6x-" + hashOf("sr6x")},
		{"interface with spaces and more", "interface--" + hashOf("interface with spaces and more")},
		{"..", "if..-" + hashOf("..")},
	}
	for _, tt := range tests {
		got := linuxIface(tt.in)
		if got != tt.want {
			t.Errorf("linuxIface(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if !validIface(got) {
			t.Errorf("linuxIface(%q) = %q is not a valid interface name", tt.in, got)
		}
		if again := linuxIface(tt.in); again != got {
			t.Errorf("linuxIface(%q) not deterministic: %q then %q", tt.in, got, again)
		}
	}
}

func hashOf(s string) string { return hashedIface("", s)[len("if-"):] }

// TestIfaceNamer: an interface written with a valid name keeps it, and a
// renamed one never takes it.
func TestIfaceNamer(t *testing.T) {
	n := newIfaceNamer()
	n.reserve("a", "e1-1")
	n.reserve("a", "e1/1")
	if got := n.name("a", "e1/1"); got == "e1-1" || !validIface(got) {
		t.Errorf("e1/1 took %q", got)
	}
	if got := n.name("a", "e1-1"); got != "e1-1" {
		t.Errorf("e1-1 = %q", got)
	}
	// Another node has interfaces of its own.
	if got := n.name("b", "e1/1"); got != "e1-1" {
		t.Errorf("b's e1/1 = %q", got)
	}
}

func TestNames(t *testing.T) {
	for _, tt := range []struct{ in, node, lab string }{
		{"srl1", "srl1", "srl1"},
		{"PC1", "PC1", "pc1"},
		{"leaf/1", "leaf-1", "leaf-1"},
		{"1st", "n1st", "1st"},
		{"Ext.Lab", "Ext-Lab", "ext-lab"},
		{"_x", "n_x", "x"},
		{strings.Repeat("a", 40), strings.Repeat("a", 32), strings.Repeat("a", 24)},
	} {
		if got := nodeName(tt.in); got != tt.node || topo.CheckNodeName(got) != nil {
			t.Errorf("nodeName(%q) = %q, want %q", tt.in, got, tt.node)
		}
		if got := labName(tt.in); got != tt.lab || topo.CheckLabName(got) != nil {
			t.Errorf("labName(%q) = %q, want %q", tt.in, got, tt.lab)
		}
	}
}

// TestConvertYAMLWords: names YAML would read as null, booleans or
// numbers stay names in the result.
func TestConvertYAMLWords(t *testing.T) {
	src := "name: \"null\"\ntopology:\n  nodes:\n    null: {kind: srl}\n    \"true\": {kind: srl}\n    Null: {kind: linux}\n" +
		"  links:\n    - endpoints: [\"null:e1\", \"true:e1\"]\n    - endpoints: [\"Null:eth1\", \"true:e2\"]\n"
	res, err := Convert("lab.clab.yml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	nw, err := topo.ParseNetwork("out.yaml", res.YAML)
	if err != nil {
		t.Fatalf("%v\n%s", err, res.YAML)
	}
	if nw.Name != "null" || nw.Node("null") == nil || nw.Node("true") == nil || nw.Node("Null") == nil {
		t.Errorf("names lost:\n%s", res.YAML)
	}
}
