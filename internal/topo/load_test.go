package topo

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wantErr is one expected *Error: exact position and field, and a part of the
// message that carries the hint the user needs.
type wantErr struct {
	line, col int
	field     string
	msg       string
}

func (w wantErr) String() string {
	return fmt.Sprintf("%d:%d %s: ...%s...", w.line, w.col, w.field, w.msg)
}

// errorList asserts that err is a non-empty ErrorList and returns it.
func errorList(t *testing.T, err error) ErrorList {
	t.Helper()
	if err == nil {
		t.Fatal("got no error")
	}
	var el ErrorList
	if !errors.As(err, &el) {
		t.Fatalf("error is %T, want ErrorList: %v", err, err)
	}
	if len(el) == 0 {
		t.Fatal("empty ErrorList returned as an error")
	}
	return el
}

// checkErrors compares the whole list, in order, so that a missing, extra or
// misplaced error all fail the test.
func checkErrors(t *testing.T, file string, err error, want []wantErr) {
	t.Helper()
	el := errorList(t, err)
	if len(el) != len(want) {
		t.Errorf("got %d errors, want %d:\n%v", len(el), len(want), err)
	}
	for i := 0; i < len(el) && i < len(want); i++ {
		e, w := el[i], want[i]
		if e.File != file || e.Pos.Line != w.line || e.Pos.Column != w.col || e.Field != w.field || !strings.Contains(e.Msg, w.msg) {
			t.Errorf("error %d:\n got  %s:%d:%d %s: %s\n want %s:%s", i, e.File, e.Pos.Line, e.Pos.Column, e.Field, e.Msg, file, w)
		}
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []wantErr
	}{
		{
			name: "unknown top-level key lists allowed keys",
			src: `version: 1
name: lab
nodez: {}
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{3, 1, "nodez", "unknown key; allowed keys: version, name, routing, plan, nodes, links"}},
		},
		{
			name: "unknown node key",
			src: `name: lab
nodes:
  r1: {kind: router, color: red}
`,
			want: []wantErr{{3, 22, "nodes.r1.color", "unknown key; allowed keys: kind, id, loopback, locator"}},
		},
		{
			name: "unknown link key",
			src: `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router}
links:
  - endpoints: [r1:eth1, r2:eth1]
    delay: 5ms
`,
			want: []wantErr{{7, 5, "links[0].delay", "unknown key; allowed keys: endpoints, metric, latency, loss, rate, mtu, subnet4, subnet6"}},
		},
		{
			name: "unknown plan key",
			src: `name: lab
plan:
  sids: fc00::/16
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{3, 3, "plan.sids", "unknown key; allowed keys: loopbacks, locators, locator_length, links, hosts4, hosts6"}},
		},
		{
			name: "duplicate node name",
			src: `name: lab
nodes:
  r1: {kind: router}
  r1: {kind: host}
`,
			want: []wantErr{{4, 3, "nodes.r1", "duplicate key (first defined at line 3)"}},
		},
		{
			name: "duplicate top-level key",
			src: `name: lab
nodes:
  r1: {kind: router}
name: other
`,
			want: []wantErr{{4, 1, "name", "duplicate key (first defined at line 1)"}},
		},
		{
			name: "dangling endpoint",
			src: `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router}
links:
  - endpoints: [r1:eth1, r9:eth1]
`,
			want: []wantErr{{6, 26, "links[0].endpoints[1]", `node "r9" is not defined under nodes`}},
		},
		{
			name: "interface used twice",
			src: `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
links:
  - endpoints: [r1:eth1, r2:eth1]
  - endpoints: [r1:eth1, r3:eth1]
`,
			want: []wantErr{{8, 17, "links[1].endpoints[0]", "interface r1:eth1 is already used by links[0].endpoints[0] (line 7)"}},
		},
		{
			name: "self link",
			src: `name: lab
nodes:
  r1: {kind: router}
links:
  - endpoints: [r1:eth1, r1:eth2]
`,
			want: []wantErr{{5, 26, "links[0].endpoints", "a link cannot connect node r1 to itself"}},
		},
		{
			name: "host to host link",
			src: `name: lab
nodes:
  r1: {kind: router}
  h1: {kind: host}
  h2: {kind: host}
links:
  - endpoints: [h1:eth0, h2:eth0]
`,
			want: []wantErr{{7, 26, "links[0].endpoints", "hosts h1 and h2 cannot be linked directly: hosts attach to routers"}},
		},
		{
			name: "pool prefix with host bits set",
			src: `name: lab
plan:
  locators: fc00::1/32
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{3, 13, "plan.locators", "fc00::1/32 has host bits set; did you mean fc00::/32?"}},
		},
		{
			name: "link subnet with host bits set",
			src: `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router}
links:
  - endpoints: [r1:eth1, r2:eth1]
    subnet6: fd00:0:1:1::1/64
`,
			want: []wantErr{{7, 14, "links[0].subnet6", "fd00:0:1:1::1/64 has host bits set; did you mean fd00:0:1:1::/64?"}},
		},
		{
			name: "IPv4 prefix where IPv6 is needed",
			src: `name: lab
plan:
  links: 10.0.0.0/16
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{3, 10, "plan.links", "10.0.0.0/16 must be an IPv6 prefix"}},
		},
		{
			name: "IPv6 prefix where IPv4 is needed",
			src: `name: lab
plan:
  hosts4: fd00::/48
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{3, 11, "plan.hosts4", "fd00::/48 must be an IPv4 prefix"}},
		},
		{
			name: "IPv4-mapped IPv6 prefix is not IPv6",
			src: `name: lab
plan:
  loopbacks: "::ffff:10.0.0.0/112"
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{3, 14, "plan.loopbacks", "must be an IPv6 prefix"}},
		},
		{
			name: "not a prefix",
			src: `name: lab
plan:
  locators: "fc00::"
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{3, 13, "plan.locators", `"fc00::" is not a prefix (want address/length, e.g. fc00::/32)`}},
		},
		{
			name: "prefix too long for its pool",
			src: `name: lab
plan:
  links: fd00:0:1::/80
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{3, 10, "plan.links", "fd00:0:1::/80 is too long: at most /64"}},
		},
		{
			name: "mtu below the IPv6 minimum",
			src: `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router}
links:
  - endpoints: [r1:eth1, r2:eth1]
    mtu: 1279
  - endpoints: [r1:eth2, r2:eth2]
    mtu: 65536
  - endpoints: [r1:eth3, r2:eth3]
    mtu: 9k
`,
			want: []wantErr{
				{7, 10, "links[0].mtu", "1279 is out of range: allowed 1280 to 65535"},
				{9, 10, "links[1].mtu", "65536 is out of range: allowed 1280 to 65535"},
				{11, 10, "links[2].mtu", `must be a whole number, got "9k"`},
			},
		},
		{
			name: "loss without percent sign",
			src: `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router}
links:
  - endpoints: [r1:eth1, r2:eth1]
    loss: 2
`,
			want: []wantErr{{7, 11, "links[0].loss", `loss "2" needs a % sign, e.g. 2%`}},
		},
		{
			name: "rate without unit",
			src: `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router}
links:
  - endpoints: [r1:eth1, r2:eth1]
    rate: 100
`,
			want: []wantErr{{7, 11, "links[0].rate", `rate "100" must be a number with a unit: bit, kbit, mbit, gbit or tbit`}},
		},
		{
			name: "unknown routing lists allowed values",
			src: `name: lab
routing: ospf
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{2, 10, "routing", `unknown routing "ospf"; allowed values: static, isis`}},
		},
		{
			name: "version 2 is unsupported",
			src: `version: 2
name: lab
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{1, 10, "version", "unsupported version 2: this sr6 reads version 1"}},
		},
		{
			name: "version must be a number",
			src: `version: "1"
name: lab
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{1, 10, "version", `must be a whole number, got "1"`}},
		},
		{
			name: "missing name",
			src: `version: 1
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{1, 1, "name", "missing: every topology needs a name"}},
		},
		{
			name: "bad lab name",
			src: `name: My_Lab
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{1, 7, "name", `"My_Lab" is not a lab name`}},
		},
		{
			name: "name is not a single value",
			src: `name: [a, b]
nodes:
  r1: {kind: router}
`,
			// The name is reported once as malformed and once as missing:
			// the second message tells the fix when the first is unclear.
			want: []wantErr{
				{1, 1, "name", "missing: every topology needs a name"},
				{1, 7, "name", "must be a single value, got a list"},
			},
		},
		{
			name: "missing nodes",
			src: `name: lab
`,
			want: []wantErr{{1, 1, "nodes", "missing: a topology needs at least one node"}},
		},
		{
			name: "host without link",
			src: `name: lab
nodes:
  r1: {kind: router}
  h1: {kind: host}
`,
			want: []wantErr{{4, 3, "nodes.h1", "host has no link: link it to a router"}},
		},
		{
			name: "missing kind",
			src: `name: lab
nodes:
  r1: {id: 3}
`,
			want: []wantErr{{3, 3, "nodes.r1.kind", "missing; allowed values: router, host"}},
		},
		{
			name: "unknown kind",
			src: `name: lab
nodes:
  r1: {kind: switch}
`,
			want: []wantErr{{3, 14, "nodes.r1.kind", `unknown kind "switch"; allowed values: router, host`}},
		},
		{
			name: "node is not a mapping",
			src: `name: lab
nodes:
  r1: router
`,
			want: []wantErr{
				{3, 3, "nodes.r1.kind", "missing; allowed values: router, host"},
				{3, 7, "nodes.r1", `must be a mapping, got "router"`},
			},
		},
		{
			name: "bad node name",
			src: `name: lab
nodes:
  1r: {kind: router}
`,
			want: []wantErr{{3, 3, "nodes.1r", `"1r" is not a node name`}},
		},
		{
			name: "id out of range",
			src: `name: lab
nodes:
  r1: {kind: router, id: 0}
`,
			want: []wantErr{{3, 26, "nodes.r1.id", "0 is out of range: allowed 1 to 65535"}},
		},
		{
			name: "duplicate id",
			src: `name: lab
nodes:
  r1: {kind: router, id: 7}
  r2: {kind: router, id: 7}
`,
			want: []wantErr{{4, 26, "nodes.r2.id", "id 7 is already taken by router r1"}},
		},
		{
			name: "host with router-only fields",
			src: `name: lab
nodes:
  r1: {kind: router}
  h1: {kind: host, id: 4, locator: "fc00:0:9::/48"}
links:
  - endpoints: [h1:eth0, r1:eth0]
`,
			want: []wantErr{
				{4, 24, "nodes.h1.id", "only routers have id"},
				{4, 36, "nodes.h1.locator", "only routers have locator"},
			},
		},
		{
			name: "loopback is not an address",
			src: `name: lab
nodes:
  r1: {kind: router, loopback: fd00::/64}
`,
			want: []wantErr{{3, 32, "nodes.r1.loopback", `"fd00::/64" is not an IPv6 address`}},
		},
		{
			name: "loopback is IPv4",
			src: `name: lab
nodes:
  r1: {kind: router, loopback: 10.0.0.1}
`,
			want: []wantErr{{3, 32, "nodes.r1.loopback", "10.0.0.1 must be an IPv6 address"}},
		},
		{
			name: "loopback with a zone",
			src: `name: lab
nodes:
  r1: {kind: router, loopback: "fe80::1%eth0"}
`,
			want: []wantErr{{3, 32, "nodes.r1.loopback", "fe80::1%eth0 must be an IPv6 address without a zone"}},
		},
		{
			name: "endpoint without interface",
			src: `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router}
links:
  - endpoints: [r1, r2:eth1]
`,
			want: []wantErr{{6, 17, "links[0].endpoints[0]", `"r1" is not an endpoint: write node:interface`}},
		},
		{
			name: "endpoint with reserved interface",
			src: `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router}
links:
  - endpoints: [r1:eth1, r2:lo]
`,
			want: []wantErr{{6, 26, "links[0].endpoints[1]", "interface name lo is reserved"}},
		},
		{
			name: "three endpoints",
			src: `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
links:
  - endpoints: [r1:eth1, r2:eth1, r3:eth1]
`,
			want: []wantErr{{7, 16, "links[0].endpoints", "a link has exactly 2 endpoints, got 3"}},
		},
		{
			name: "endpoints not a list",
			src: `name: lab
nodes:
  r1: {kind: router}
links:
  - endpoints: r1:eth1
`,
			want: []wantErr{{5, 16, "links[0].endpoints", "must be a list of two endpoints like [r1:eth1, r2:eth1]"}},
		},
		{
			name: "link without endpoints",
			src: `name: lab
nodes:
  r1: {kind: router}
links:
  - metric: 5
`,
			want: []wantErr{{5, 5, "links[0].endpoints", "missing: write endpoints: [r1:eth1, r2:eth1]"}},
		},
		{
			name: "links is not a list",
			src: `name: lab
nodes:
  r1: {kind: router}
links:
  r1: r2
`,
			want: []wantErr{{5, 3, "links", "must be a list of links, got a mapping"}},
		},
		{
			name: "metric out of range",
			src: `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router}
links:
  - {endpoints: [r1:eth1, r2:eth1], metric: 0}
`,
			want: []wantErr{{6, 45, "links[0].metric", "0 is out of range: allowed 1 to 16777215"}},
		},
		{
			name: "IPv4 subnet on a router link",
			src: `name: lab
nodes:
  r1: {kind: router}
  r2: {kind: router}
links:
  - endpoints: [r1:eth1, r2:eth1]
    subnet4: 10.9.0.0/30
`,
			want: []wantErr{{7, 14, "links[0].subnet4", "only host links carry IPv4: routers are linked over IPv6"}},
		},
		{
			name: "host subnet longer than /64",
			src: `name: lab
nodes:
  r1: {kind: router}
  h1: {kind: host}
links:
  - endpoints: [r1:eth0, h1:eth0]
    subnet6: fd00:0:2:9::/80
`,
			want: []wantErr{{7, 14, "links[0].subnet6", "host subnets must be /64 or shorter (SLAAC-sized), got /80"}},
		},
		{
			name: "locator_length not longer than locators",
			src: `name: lab
plan:
  locators: fc00::/48
  locator_length: 48
nodes:
  r1: {kind: router}
`,
			want: []wantErr{{4, 19, "plan.locator_length", "/48 must be longer than plan.locators fc00::/48"}},
		},
		{
			name: "YAML syntax error reports the line",
			src: `version: 1
name: lab
nodes:
  r1: {kind: router}
  r2: kind: router
`,
			want: []wantErr{{5, 0, "", "YAML syntax: mapping values are not allowed in this context"}},
		},
		{
			name: "YAML tab indentation",
			src:  "name: lab\nnodes:\n\tr1: {kind: router}\n",
			want: []wantErr{{3, 0, "", "YAML syntax: found character that cannot start any token"}},
		},
		{
			name: "YAML error without a line",
			src:  "name: lab\x01\n",
			want: []wantErr{{0, 0, "", "YAML syntax: control characters are not allowed"}},
		},
		{
			name: "empty file",
			src:  "",
			want: []wantErr{{1, 1, "", "empty topology: it needs at least name and nodes"}},
		},
		{
			name: "comments only",
			src:  "# nothing here\n",
			want: []wantErr{{1, 1, "", "empty topology"}},
		},
		{
			name: "top level is a list",
			src:  "- name: lab\n",
			want: []wantErr{
				{1, 1, "", "must be a mapping, got a list"},
				{1, 1, "name", "missing"},
				{1, 1, "nodes", "missing"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("lab.yaml", []byte(tt.src))
			if s != nil {
				t.Errorf("Parse returned a spec along with errors")
			}
			checkErrors(t, "lab.yaml", err, tt.want)
		})
	}
}

// TestParseManyErrors checks that one pass reports every problem of a file,
// sorted by position, including problems found by validation after the
// schema walk (version, references) that sit before schema errors in the
// file.
func TestParseManyErrors(t *testing.T) {
	src := `version: 3
name: lab
routing: rip
plan:
  links: 10.0.0.0/8
nodes:
  r1: {kind: router, id: 2}
  r2: {kind: router, id: 2}
  h1: {kind: host}
  h2: {kind: host}
links:
  - endpoints: [r1:eth1, r2:eth1]
    loss: 5
  - endpoints: [r1:eth1, r3:eth1]
  - endpoints: [h1:eth0, r2:eth0]
    rate: fast
    color: blue
`
	_, err := Parse("many.yaml", []byte(src))
	checkErrors(t, "many.yaml", err, []wantErr{
		{1, 10, "version", "unsupported version 3"},
		{3, 10, "routing", `unknown routing "rip"`},
		{5, 10, "plan.links", "10.0.0.0/8 must be an IPv6 prefix"},
		{8, 26, "nodes.r2.id", "id 2 is already taken by router r1"},
		{10, 3, "nodes.h2", "host has no link"},
		{13, 11, "links[0].loss", "needs a % sign"},
		{14, 17, "links[1].endpoints[0]", "interface r1:eth1 is already used by links[0].endpoints[0] (line 12)"},
		{14, 26, "links[1].endpoints[1]", `node "r3" is not defined`},
		{16, 11, "links[2].rate", `rate "fast" must be a number with a unit`},
		{17, 5, "links[2].color", "unknown key"},
	})
	// The joined message lists every error as file:line:col field: msg.
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != 10 || lines[0] != "many.yaml:1:10: version: unsupported version 3: this sr6 reads version 1" {
		t.Errorf("ErrorList.Error() =\n%s", err)
	}
}

// TestParseErrorsSeparateLinks checks that a schema error in one link does not
// hide another link's missing endpoints, even when their field names share
// a prefix (links[1] and links[10]).
func TestParseErrorsSeparateLinks(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: lab\nnodes:\n")
	for i := 1; i <= 12; i++ {
		fmt.Fprintf(&b, "  r%d: {kind: router}\n", i)
	}
	b.WriteString("links:\n") // line 15
	for i := 0; i <= 10; i++ {
		switch i {
		case 1:
			b.WriteString("  - metric: 5\n") // line 17
		case 10:
			b.WriteString("  - endpoints: [r11:eth1, r12]\n") // line 26
		default:
			fmt.Fprintf(&b, "  - endpoints: [r%d:eth1, r%d:eth2]\n", i+1, i+2)
		}
	}
	_, err := Parse("lab.yaml", []byte(b.String()))
	checkErrors(t, "lab.yaml", err, []wantErr{
		{17, 5, "links[1].endpoints", "missing: write endpoints"},
		{26, 27, "links[10].endpoints[1]", `"r12" is not an endpoint`},
	})
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		src  string
		fn   func(t *testing.T, s *Spec)
	}{
		{
			name: "minimal",
			src:  "name: lab\nnodes:\n  r1: {kind: router}\n",
			fn: func(t *testing.T, s *Spec) {
				if s.Version.Set || s.Routing.Set || len(s.Links) != 0 {
					t.Errorf("unexpected fields set: %+v", s)
				}
				if len(s.Nodes) != 1 || s.Nodes[0].Name.V != "r1" || s.Nodes[0].Pos != (Pos{3, 3}) {
					t.Errorf("nodes = %+v", s.Nodes)
				}
			},
		},
		{
			name: "all fields",
			src: `version: 1
name: full-lab_1
routing: isis
plan:
  loopbacks: fd00:0:ff::/48
  locators: fc00::/32
  locator_length: 48
  links: fd00:0:1::/48
  hosts4: 10.0.0.0/16
  hosts6: fd00:0:2::/48
nodes:
  r1: {kind: router, id: 5, loopback: "fd00:0:ff::5", locator: "fc00:0:5::/48"}
  h1:
    kind: host
links:
  - endpoints: ["h1:eth0", "r1:eth0"]
    metric: 30
    loss: 0.25%
    rate: 1.5gbit
    mtu: 1280
    subnet4: 10.0.9.0/24
    subnet6: fd00:0:2:9::/64
`,
			fn: func(t *testing.T, s *Spec) {
				if s.Name.V != "full-lab_1" || s.Routing.V != RoutingISIS || s.Version.V != 1 {
					t.Errorf("header = %v %v %v", s.Name, s.Routing, s.Version)
				}
				if got := s.Plan.LocatorLength; got.V != 48 || got.Pos != (Pos{7, 19}) {
					t.Errorf("locator_length = %+v", got)
				}
				r1 := s.Nodes[0]
				if r1.ID.V != 5 || r1.Loopback.V != netip.MustParseAddr("fd00:0:ff::5") || r1.Locator.V != netip.MustParsePrefix("fc00:0:5::/48") {
					t.Errorf("r1 = %+v", r1)
				}
				if h1 := s.Nodes[1]; h1.Kind.V != KindHost || h1.Kind.Pos != (Pos{14, 11}) {
					t.Errorf("h1 = %+v", h1)
				}
				l := s.Links[0]
				if l.Pos != (Pos{16, 5}) || l.Metric.V != 30 || l.Loss.V != 0.25 || l.Rate.V != 1_500_000_000 {
					t.Errorf("link = %+v", l)
				}
				if l.Endpoints[0].V != (Endpoint{"h1", "eth0"}) || l.Endpoints[1].V != (Endpoint{"r1", "eth0"}) || l.Endpoints[1].Pos != (Pos{16, 28}) {
					t.Errorf("endpoints = %+v", l.Endpoints)
				}
				if l.MTU.V != 1280 || l.MTU.Pos != (Pos{20, 10}) {
					t.Errorf("mtu = %+v", l.MTU)
				}
				if l.Subnet4.V.String() != "10.0.9.0/24" || l.Subnet6.V.String() != "fd00:0:2:9::/64" {
					t.Errorf("subnets = %v %v", l.Subnet4, l.Subnet6)
				}
			},
		},
		{
			name: "anchors and aliases",
			src: `name: lab
nodes:
  r1: &rt {kind: router}
  r2: *rt
links:
  - &l {endpoints: [r1:eth1, r2:eth1]}
`,
			fn: func(t *testing.T, s *Spec) {
				if len(s.Nodes) != 2 || s.Nodes[1].Kind.V != KindRouter {
					t.Errorf("nodes = %+v", s.Nodes)
				}
				if len(s.Links) != 1 || len(s.Links[0].Endpoints) != 2 {
					t.Errorf("links = %+v", s.Links)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Parse("lab.yaml", []byte(tt.src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if s.File != "lab.yaml" {
				t.Errorf("File = %q", s.File)
			}
			tt.fn(t, s)
		})
	}
}

func TestLoadExamples(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if s.File != f || !s.Version.Set || s.Version.V != SchemaVersion {
				t.Errorf("spec header = %q %+v", s.File, s.Version)
			}
			if _, err := Plan(s); err != nil {
				t.Errorf("Plan: %v", err)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yaml"))
	if err == nil || !errors.Is(err, os.ErrNotExist) || !strings.HasPrefix(err.Error(), "read topology: ") {
		t.Errorf("Load(missing) = %v", err)
	}
	var el ErrorList
	if errors.As(err, &el) {
		t.Errorf("a read error is not an ErrorList")
	}
}

func TestErrorString(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{"a.yaml", Pos{3, 7}, "nodes.r1", "bad"}, "a.yaml:3:7: nodes.r1: bad"},
		{Error{"a.yaml", Pos{3, 0}, "", "bad"}, "a.yaml:3: bad"},
		{Error{"a.yaml", Pos{}, "", "bad"}, "a.yaml: bad"},
		{Error{"", Pos{2, 1}, "name", "bad"}, "2:1: name: bad"},
		{Error{"", Pos{}, "name", "bad"}, "name: bad"},
		{Error{"", Pos{}, "", "bad"}, "bad"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("%+v.Error() = %q, want %q", tt.e, got, tt.want)
		}
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in      string
		want    Endpoint
		wantErr string
	}{
		{"r1:eth1", Endpoint{"r1", "eth1"}, ""},
		{"h-1:e_0", Endpoint{"h-1", "e_0"}, ""},
		{"r1:eth1.100", Endpoint{"r1", "eth1.100"}, ""},
		{"r1:abcdefghijklmno", Endpoint{"r1", "abcdefghijklmno"}, ""}, // 15, the Linux limit
		{"r1:lo0", Endpoint{"r1", "lo0"}, ""},
		{"r1:...", Endpoint{"r1", "..."}, ""},
		{"r1", Endpoint{}, `"r1" is not an endpoint: write node:interface, e.g. r1:eth1`},
		{"", Endpoint{}, `"" is not an endpoint`},
		{":eth1", Endpoint{}, `":eth1" is not an endpoint`},
		{"r1:", Endpoint{}, `"r1:" is not an endpoint`},
		{"r1:abcdefghijklmnop", Endpoint{}, `interface "abcdefghijklmnop" is not a Linux interface name`},
		{"r1:eth 1", Endpoint{}, `interface "eth 1" is not a Linux interface name`},
		{"r1:eth/1", Endpoint{}, `interface "eth/1" is not a Linux interface name`},
		{"r1:eth1:2", Endpoint{}, `interface "eth1:2" is not a Linux interface name`},
		{"r1:.", Endpoint{}, `interface "." is not a Linux interface name`},
		{"r1:..", Endpoint{}, `interface ".." is not a Linux interface name`},
		{"r1:lo", Endpoint{}, "interface name lo is reserved"},
		{"r1:sr6ctl", Endpoint{}, "interface name sr6ctl is reserved"},
		{"r1:all", Endpoint{}, "interface name all is refused by the kernel"},
		{"r1:default", Endpoint{}, "interface name default is refused by the kernel"},
		{"r1:All", Endpoint{"r1", "All"}, ""}, // the kernel compares exactly
		{"r1:defaults", Endpoint{"r1", "defaults"}, ""},
	}
	for _, tt := range tests {
		got, err := ParseEndpoint(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseEndpoint(%q): %v", tt.in, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseEndpoint(%q) error = %v, want %q", tt.in, err, tt.wantErr)
		case got != tt.want:
			t.Errorf("ParseEndpoint(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("ParseEndpoint(%q).String() = %q", tt.in, got.String())
		}
	}
}

func TestParseLoss(t *testing.T) {
	tests := []struct {
		in      string
		want    float64
		wantErr string
	}{
		{"2%", 2, ""},
		{"0%", 0, ""},
		{"100%", 100, ""},
		{"100.00%", 100, ""},
		{"0.25%", 0.25, ""},
		{"0.01%", 0.01, ""},
		{"0.29%", 0.29, ""}, // not exact in binary, still two decimals
		{" 2 % ", 2, ""},
		{"1e1%", 10, ""},
		{"2", 0, `loss "2" needs a % sign, e.g. 2%`},
		{"0.5", 0, "needs a % sign"},
		{"", 0, "needs a % sign"},
		{"%", 0, `loss "%" must be a percentage from 0% to 100%`},
		{"2%%", 0, "must be a percentage"},
		{"abc%", 0, "must be a percentage"},
		{"-1%", 0, "must be a percentage from 0% to 100%"},
		{"100.01%", 0, "must be a percentage from 0% to 100%"},
		{"NaN%", 0, "must be a percentage"},
		{"inf%", 0, "must be a percentage"},
		{"0.125%", 0, `loss "0.125%" has more than two decimals`},
		{"0.001%", 0, "more than two decimals"},
	}
	for _, tt := range tests {
		got, err := ParseLoss(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseLoss(%q): %v", tt.in, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseLoss(%q) error = %v, want %q", tt.in, err, tt.wantErr)
		case got != tt.want:
			t.Errorf("ParseLoss(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseRate(t *testing.T) {
	const unitErr = "must be a number with a unit: bit, kbit, mbit, gbit or tbit (e.g. 100mbit)"
	tests := []struct {
		in      string
		want    uint64
		wantErr string
	}{
		{"100mbit", 100_000_000, ""},
		{"1.5gbit", 1_500_000_000, ""},
		{"8kbit", 8000, ""},
		{"8000bit", 8000, ""},
		{"4tbit", 4_000_000_000_000, ""},
		{"100MBit", 100_000_000, ""},
		{" 10gbit ", 10_000_000_000, ""},
		{"1e3kbit", 1_000_000, ""},
		{"0.5kbit", 0, `rate "0.5kbit" is out of range: 8kbit to 4tbit`},
		{"7999bit", 0, "is out of range: 8kbit to 4tbit"},
		{"4.001tbit", 0, "is out of range"},
		{"infbit", 0, "is out of range"},
		{"100", 0, `rate "100" ` + unitErr},
		{"100mbps", 0, unitErr}, // bytes per second: refused
		{"100 mbit", 0, unitErr},
		{"mbit", 0, unitErr},
		{"", 0, unitErr},
		{"0mbit", 0, unitErr},
		{"-5mbit", 0, unitErr},
		{"nanmbit", 0, unitErr},
		{"fast", 0, unitErr},
	}
	for _, tt := range tests {
		got, err := ParseRate(tt.in)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("ParseRate(%q): %v", tt.in, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("ParseRate(%q) error = %v, want %q", tt.in, err, tt.wantErr)
		case got != tt.want:
			t.Errorf("ParseRate(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestFormatRate(t *testing.T) {
	tests := []struct {
		in   uint64
		want string
	}{
		{0, "0bit"},
		{999, "999bit"},
		{8000, "8kbit"},
		{8001, "8001bit"},
		{1_500_000, "1500kbit"},
		{100_000_000, "100mbit"},
		{1_500_000_000, "1500mbit"},
		{10_000_000_000, "10gbit"},
		{1_000_000_000_000, "1tbit"},
		{4_000_000_000_000, "4tbit"},
		{math.MaxUint64, "18446744073709551615bit"},
	}
	for _, tt := range tests {
		if got := FormatRate(tt.in); got != tt.want {
			t.Errorf("FormatRate(%d) = %q, want %q", tt.in, got, tt.want)
		}
	}
	// FormatRate is the inverse of ParseRate over the accepted range.
	for _, bps := range []uint64{8000, 8001, 12_345_678, 100_000_000, 999_999_999_999, 3_000_000_000_000, 4_000_000_000_000} {
		got, err := ParseRate(FormatRate(bps))
		if err != nil || got != bps {
			t.Errorf("ParseRate(FormatRate(%d)) = %d, %v", bps, got, err)
		}
	}
}

func TestParseLatency(t *testing.T) {
	tests := []struct {
		in   string
		want uint32
		err  bool
	}{
		{"2ms", 2000, false}, {"150us", 150, false}, {"0s", 0, false}, {"1.5ms", 1500, false},
		{"10s", 10_000_000, false}, {"11s", 0, true}, {"-1ms", 0, true}, {"2", 0, true}, {"fast", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseLatency(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseLatency(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestAdjacencySIDs(t *testing.T) {
	nw, err := LoadNetwork("../../examples/triangle.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r1 := nw.Node("r1")
	// r1's interfaces in file order: eth0 (to h1), eth1 (to r2), eth3 (to r3).
	want := map[string]string{"eth0": "invalid IP", "eth1": "fc00:0:1::e002", "eth3": "fc00:0:1::e003"}
	for _, ifc := range r1.Interfaces {
		if got := ifc.AdjSID.String(); got != want[ifc.Name] {
			t.Errorf("r1 %s End.X SID = %s, want %s", ifc.Name, got, want[ifc.Name])
		}
	}
}
