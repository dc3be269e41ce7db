package topo

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The topology file is walked as a yaml.Node tree rather than decoded into
// structs: only the node tree keeps the line and column of every key and
// value, which precise errors and unknown-key detection need.

var (
	topKeys  = []string{"version", "name", "routing", "plan", "nodes", "links"}
	planKeys = []string{"loopbacks", "locators", "locator_length", "links", "hosts4", "hosts6"}
	nodeKeys = []string{"kind", "id", "loopback", "locator"}
	linkKeys = []string{"endpoints", "metric", "latency", "loss", "rate", "mtu", "subnet4", "subnet6"}
)

// Load reads a topology file and returns its spec, or every problem found in
// it as an ErrorList with file:line:column positions.
func Load(path string, opts ...Option) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read topology: %w", err)
	}
	return Parse(path, data, opts...)
}

// Parse reads a topology from data; file names it in errors. It checks the
// schema (keys, types, units) and the references between nodes and links.
func Parse(file string, data []byte, opts ...Option) (*Spec, error) {
	o := buildOptions(opts)
	c := &errs{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		c.list = append(c.list, SyntaxError(file, err))
		return nil, c.list
	}
	if len(doc.Content) == 0 {
		c.add(Pos{Line: 1, Column: 1}, "", "empty topology: it needs at least name and nodes")
		return nil, c.err()
	}
	d := decoder{errs: c}
	s := &Spec{File: file, kinds: o.kinds}
	d.spec(doc.Content[0], s)
	validate(c, s)
	if err := c.err(); err != nil {
		return nil, err
	}
	return s, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// SyntaxError turns an error of the YAML parser (go.yaml.in/yaml/v3) into
// an Error with the line it names (the parser gives no column for syntax
// errors). Exported for every reader of YAML files that reports problems
// the way topology files do (internal/clab).
func SyntaxError(file string, err error) *Error {
	var te *yaml.TypeError
	msg := err.Error()
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: file, Pos: Pos{Line: line}, Msg: "YAML syntax: " + m[2]}
	}
	return &Error{File: file, Msg: "YAML syntax: " + strings.TrimPrefix(msg, "yaml: ")}
}

type decoder struct{ *errs }

// mapping walks a YAML mapping, reporting duplicate and unknown keys, and
// calls fn for each known key in file order.
func (d *decoder) mapping(n *yaml.Node, field string, allowed []string, fn func(key string, k, v *yaml.Node)) {
	n = ResolveAlias(n)
	if n.Kind != yaml.MappingNode {
		d.add(NodePos(n), field, "must be a mapping, got %s", DescribeNode(n))
		return
	}
	seen := map[string]Pos{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], ResolveAlias(n.Content[i+1])
		key := k.Value
		if first, dup := seen[key]; dup {
			d.add(NodePos(k), JoinField(field, key), "duplicate key (first defined at line %d)", first.Line)
			continue
		}
		seen[key] = NodePos(k)
		if allowed != nil && !slices.Contains(allowed, key) {
			d.add(NodePos(k), JoinField(field, key), "unknown key; allowed keys: %s", strings.Join(allowed, ", "))
			continue
		}
		fn(key, k, v)
	}
}

func (d *decoder) scalar(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.add(NodePos(n), field, "must be a single value, got %s", DescribeNode(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) str(n *yaml.Node, field string, dst *Value[string]) {
	if s, ok := d.scalar(n, field); ok {
		*dst = Value[string]{V: s, Pos: NodePos(n), Set: true}
	}
}

func (d *decoder) integer(n *yaml.Node, field string, lo, hi int, dst *Value[int]) {
	s, ok := d.scalar(n, field)
	if !ok {
		return
	}
	v, err := strconv.Atoi(s)
	if err != nil || n.Tag != "!!int" {
		d.add(NodePos(n), field, "must be a whole number, got %q", s)
		return
	}
	if v < lo || v > hi {
		d.add(NodePos(n), field, "%d is out of range: allowed %d to %d", v, lo, hi)
		return
	}
	*dst = Value[int]{V: v, Pos: NodePos(n), Set: true}
}

// family is 4 or 6; 0 accepts either.
func (d *decoder) prefix(n *yaml.Node, field string, family, maxBits int, dst *Value[netip.Prefix]) {
	s, ok := d.scalar(n, field)
	if !ok {
		return
	}
	p, err := netip.ParsePrefix(s)
	if err != nil {
		d.add(NodePos(n), field, "%q is not a prefix (want address/length, e.g. %s)", s, examplePrefix(family))
		return
	}
	if !familyOK(p.Addr(), family) {
		d.add(NodePos(n), field, "%s must be an IPv%d prefix", s, family)
		return
	}
	if p.Masked() != p {
		d.add(NodePos(n), field, "%s has host bits set; did you mean %s?", s, p.Masked())
		return
	}
	if maxBits > 0 && p.Bits() > maxBits {
		d.add(NodePos(n), field, "%s is too long: at most /%d", s, maxBits)
		return
	}
	*dst = Value[netip.Prefix]{V: p, Pos: NodePos(n), Set: true}
}

func examplePrefix(family int) string {
	if family == 4 {
		return "10.0.0.0/16"
	}
	return "fc00::/32"
}

func familyOK(a netip.Addr, family int) bool {
	switch family {
	case 4:
		return a.Is4()
	case 6:
		return a.Is6() && !a.Is4In6()
	}
	return true
}

func (d *decoder) spec(root *yaml.Node, s *Spec) {
	d.mapping(root, "", topKeys, func(key string, k, v *yaml.Node) {
		switch key {
		case "version":
			d.integer(v, key, 0, math.MaxInt32, &s.Version)
		case "name":
			d.str(v, key, &s.Name)
		case "routing":
			d.str(v, key, &s.Routing)
		case "plan":
			d.plan(v, &s.Plan)
		case "nodes":
			d.nodes(v, s)
		case "links":
			d.links(v, s)
		}
	})
}

func (d *decoder) plan(n *yaml.Node, p *PlanSpec) {
	d.mapping(n, "plan", planKeys, func(key string, k, v *yaml.Node) {
		field := "plan." + key
		switch key {
		case "loopbacks":
			d.prefix(v, field, 6, 112, &p.Loopbacks)
		case "locators":
			d.prefix(v, field, 6, 96, &p.Locators)
		case "locator_length":
			d.integer(v, field, 16, 112, &p.LocatorLength)
		case "links":
			d.prefix(v, field, 6, 64, &p.Links)
		case "hosts4":
			d.prefix(v, field, 4, 24, &p.Hosts4)
		case "hosts6":
			d.prefix(v, field, 6, 64, &p.Hosts6)
		}
	})
}

func (d *decoder) nodes(n *yaml.Node, s *Spec) {
	d.mapping(n, "nodes", nil, func(name string, k, v *yaml.Node) {
		field := "nodes." + name
		ns := NodeSpec{Pos: NodePos(k), Name: Value[string]{V: name, Pos: NodePos(k), Set: true}}
		d.mapping(v, field, nodeKeys, func(key string, _, v *yaml.Node) {
			f := field + "." + key
			switch key {
			case "kind":
				d.str(v, f, &ns.Kind)
			case "id":
				d.integer(v, f, 1, 65535, &ns.ID)
			case "loopback":
				if s, ok := d.scalar(v, f); ok {
					a, err := netip.ParseAddr(s)
					switch {
					case err != nil:
						d.add(NodePos(v), f, "%q is not an IPv6 address", s)
					case !familyOK(a, 6):
						d.add(NodePos(v), f, "%s must be an IPv6 address", s)
					case a.Zone() != "":
						d.add(NodePos(v), f, "%s must be an IPv6 address without a zone", s)
					default:
						ns.Loopback = Value[netip.Addr]{V: a, Pos: NodePos(v), Set: true}
					}
				}
			case "locator":
				d.prefix(v, f, 6, 112, &ns.Locator)
			}
		})
		s.Nodes = append(s.Nodes, ns)
	})
}

func (d *decoder) links(n *yaml.Node, s *Spec) {
	n = ResolveAlias(n)
	if n.Kind != yaml.SequenceNode {
		d.add(NodePos(n), "links", "must be a list of links, got %s", DescribeNode(n))
		return
	}
	for i, ln := range n.Content {
		ln = ResolveAlias(ln)
		field := fmt.Sprintf("links[%d]", i)
		ls := LinkSpec{Pos: NodePos(ln)}
		d.mapping(ln, field, linkKeys, func(key string, _, v *yaml.Node) {
			f := field + "." + key
			switch key {
			case "endpoints":
				d.endpoints(v, f, &ls)
			case "metric":
				d.integer(v, f, 1, 16777215, &ls.Metric)
			case "latency":
				if s, ok := d.scalar(v, f); ok {
					if us, err := ParseLatency(s); err != nil {
						d.add(NodePos(v), f, "%v", err)
					} else {
						ls.Latency = Value[uint32]{V: us, Pos: NodePos(v), Set: true}
					}
				}
			case "loss":
				if s, ok := d.scalar(v, f); ok {
					if loss, err := ParseLoss(s); err != nil {
						d.add(NodePos(v), f, "%v", err)
					} else {
						ls.Loss = Value[float64]{V: loss, Pos: NodePos(v), Set: true}
					}
				}
			case "rate":
				if s, ok := d.scalar(v, f); ok {
					if rate, err := ParseRate(s); err != nil {
						d.add(NodePos(v), f, "%v", err)
					} else {
						ls.Rate = Value[uint64]{V: rate, Pos: NodePos(v), Set: true}
					}
				}
			case "mtu":
				d.integer(v, f, MinMTU, MaxMTU, &ls.MTU)
			case "subnet4":
				d.prefix(v, f, 4, 30, &ls.Subnet4)
			case "subnet6":
				d.prefix(v, f, 6, 126, &ls.Subnet6)
			}
		})
		s.Links = append(s.Links, ls)
	}
}

func (d *decoder) endpoints(n *yaml.Node, field string, ls *LinkSpec) {
	if n.Kind != yaml.SequenceNode {
		d.add(NodePos(n), field, "must be a list of two endpoints like [r1:eth1, r2:eth1], got %s", DescribeNode(n))
		return
	}
	if len(n.Content) != 2 {
		d.add(NodePos(n), field, "a link has exactly 2 endpoints, got %d", len(n.Content))
		return
	}
	for i, en := range n.Content {
		f := fmt.Sprintf("%s[%d]", field, i)
		s, ok := d.scalar(ResolveAlias(en), f)
		if !ok {
			continue
		}
		ep, err := ParseEndpoint(s)
		if err != nil {
			d.add(NodePos(en), f, "%v", err)
			continue
		}
		ls.Endpoints = append(ls.Endpoints, Value[Endpoint]{V: ep, Pos: NodePos(en), Set: true})
	}
}

var ifaceName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)

// ParseEndpoint reads "node:interface".
func ParseEndpoint(s string) (Endpoint, error) {
	node, iface, ok := strings.Cut(s, ":")
	if !ok || node == "" || iface == "" {
		return Endpoint{}, fmt.Errorf("%q is not an endpoint: write node:interface, e.g. r1:eth1", s)
	}
	if !ifaceName.MatchString(iface) || iface == "." || iface == ".." {
		return Endpoint{}, fmt.Errorf("interface %q is not a Linux interface name: 1 to 15 of A-Z a-z 0-9 _ . -", iface)
	}
	if iface == "lo" || strings.HasPrefix(iface, "sr6") {
		return Endpoint{}, fmt.Errorf("interface name %s is reserved (lo and names starting with sr6 are sr6's own)", iface)
	}
	// The kernel refuses these (EINVAL): they would clash with the sysctl
	// folders net/ipv4/conf/all and .../default of every namespace.
	if iface == "all" || iface == "default" {
		return Endpoint{}, fmt.Errorf("interface name %s is refused by the kernel (the sysctl folders conf/all and conf/default have it)", iface)
	}
	return Endpoint{Node: node, Iface: iface}, nil
}

// ParseLatency reads a link's TE latency metric, such as "2ms" or
// "150us", into microseconds. It is a metric for path computation only:
// the lab does not delay packets.
func ParseLatency(s string) (uint32, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d < 0 || d > 10*time.Second {
		return 0, fmt.Errorf("latency %q must be a duration from 0 to 10s, e.g. 2ms or 150us", s)
	}
	return uint32(d / time.Microsecond), nil
}

// ParseLoss reads a loss percentage such as "2%" or "0.25%". Two decimals
// are kept: the data plane draws loss in steps of 0.01 %.
func ParseLoss(s string) (float64, error) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "%")
	if !ok {
		return 0, fmt.Errorf("loss %q needs a %% sign, e.g. 2%%", s)
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil || math.IsNaN(v) || v < 0 || v > 100 {
		return 0, fmt.Errorf("loss %q must be a percentage from 0%% to 100%%", s)
	}
	if r := math.Round(v * 100); math.Abs(r-v*100) > 1e-6 {
		return 0, fmt.Errorf("loss %q has more than two decimals", s)
	}
	return v, nil
}

// rateUnits are tc's bit-rate units; bytes-per-second units (tc's "mbps")
// are refused because they are a classic source of 8x mistakes.
var rateUnits = []struct {
	suffix string
	mult   float64
}{{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3}, {"bit", 1}}

// ParseRate reads a bit rate such as "100mbit" or "1.5gbit" into bit/s.
func ParseRate(s string) (uint64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	for _, u := range rateUnits {
		num, ok := strings.CutSuffix(t, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsNaN(v) || v <= 0 {
			break
		}
		bits := v * u.mult
		if bits < 8000 || bits > 4e12 {
			return 0, fmt.Errorf("rate %q is out of range: 8kbit to 4tbit", s)
		}
		return uint64(math.Round(bits)), nil
	}
	return 0, fmt.Errorf("rate %q must be a number with a unit: bit, kbit, mbit, gbit or tbit (e.g. 100mbit)", s)
}
