package clab

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/sr6net/sr6/internal/topo"
)

// KindLabel is the node label that chooses a node's sr6 kind ("router" or
// "host") over the mapping of its containerlab kind and image.
const KindLabel = "sr6-kind"

// Result is a converted topology.
type Result struct {
	// YAML is the sr6 topology (schema v1); it passes topo.Parse.
	YAML []byte
	// Warnings name, in file order, each field, node or link of the
	// containerlab file that was left out, and each name that was changed.
	Warnings topo.ErrorList
}

// linkTypes are containerlab's link types; only veth joins two nodes.
var linkTypes = []string{"veth", "host", "mgmt-net", "macvlan", "vxlan", "vxlan-stitch", "dummy"}

// specialNodes are the names the brief link format uses for the host's
// side of a link rather than for a node.
var specialNodes = map[string]string{
	"host":     "an interface of the containerlab host",
	"mgmt-net": "the management network's bridge",
	"macvlan":  "a macvlan on a host interface",
}

// block is one set of node settings: a node, a group, a kinds entry or
// the defaults. Settings are inherited node > group > kind > defaults.
type block struct {
	kind, image, group *yaml.Node
	labels             []label
	warns              topo.ErrorList
	used               bool
	bad                bool // it had errors (already reported)
}

type label struct {
	key, value string
	k, v       *yaml.Node
}

// node is one containerlab node and what it becomes.
type node struct {
	name   string
	key    *yaml.Node
	field  string
	kind   string
	kindAt *yaml.Node
	image  string
	labels []label
	sr6    string // "router", "host" or "" (left out)
	sr6At  *yaml.Node
	as     string // its sr6 name
	links  int
}

type end struct {
	node, iface string
	at          *yaml.Node
	field       string
	as          string // sr6 interface name
}

type link struct {
	at    *yaml.Node
	field string
	ends  [2]end
	mtu   *yaml.Node // where the mtu was written, nil if it was not
	mtuV  int
	bad   bool // a field had an error: its endpoints are still checked
}

type converter struct {
	report
	defaults *block
	kinds    map[string]*block
	groups   map[string]*block
	nodes    []*node
	byName   map[string]*node
	defined  map[string]bool // every node written, also those with errors
	links    []*link
	lab      string
	labAt    *yaml.Node
}

// Convert reads the containerlab topology in data (file names it in
// messages) and returns the sr6 topology with its warnings, or every
// problem that stops the conversion as a topo.ErrorList.
func Convert(file string, data []byte) (*Result, error) {
	c := &converter{report: report{file: file}, kinds: map[string]*block{}, groups: map[string]*block{}, byName: map[string]*node{}, defined: map[string]bool{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, topo.ErrorList{topo.SyntaxError(file, err)}
	}
	if len(doc.Content) == 0 {
		return nil, topo.ErrorList{{File: file, Pos: topo.Pos{Line: 1, Column: 1},
			Msg: "empty file: a containerlab topology has a name and topology.nodes"}}
	}
	c.top(doc.Content[0])
	c.resolveLinks()
	if len(c.errs) > 0 {
		return nil, sorted(c.errs)
	}
	out, spans := c.write(filepath.Base(file))
	if _, err := topo.Parse(file, out); err != nil {
		// Whatever sr6 refuses in the result (a link between two hosts,
		// a self link, ...) is reported at its place in the input.
		var el topo.ErrorList
		if !errors.As(err, &el) {
			return nil, fmt.Errorf("check the imported topology: %w", err)
		}
		for _, e := range el {
			pos, field := spans.find(e.Pos)
			c.errs = append(c.errs, &topo.Error{File: file, Pos: pos, Field: field, Msg: "sr6 cannot use this: " + e.Msg})
		}
		return nil, sorted(c.errs)
	}
	warns := slices.Clone(c.warns)
	for _, b := range c.allBlocks() {
		if b.used {
			warns = append(warns, b.warns...)
		}
	}
	return &Result{YAML: out, Warnings: sorted(warns)}, nil
}

func sorted(l topo.ErrorList) topo.ErrorList {
	slices.SortStableFunc(l, func(a, b *topo.Error) int {
		if a.Pos.Line != b.Pos.Line {
			return a.Pos.Line - b.Pos.Line
		}
		return a.Pos.Column - b.Pos.Column
	})
	return l
}

func (c *converter) allBlocks() []*block {
	var out []*block
	if c.defaults != nil {
		out = append(out, c.defaults)
	}
	for _, m := range []map[string]*block{c.kinds, c.groups} {
		for _, b := range m {
			out = append(out, b)
		}
	}
	return out
}

func (c *converter) top(root *yaml.Node) {
	root = topo.ResolveAlias(root)
	if root.Kind != yaml.MappingNode {
		c.fail(root, "", "not a containerlab topology: the file must be a mapping with name and topology, got %s", topo.DescribeNode(root))
		return
	}
	es, _ := c.entries(root, "")
	var topology *entry
	named := false
	for i, e := range es {
		switch e.key {
		case "name":
			named = true
			if s, ok := c.scalar(e.v, "name"); ok {
				c.lab, c.labAt = s, e.v
			}
		case "topology":
			topology = &es[i]
		case "mgmt":
			c.warn(e.k, e.field, "ignored: sr6 labs have no management network (reach a node with sr6 lab exec)")
		case "prefix":
			c.warn(e.k, e.field, "ignored: sr6 names a node's namespace <lab>.<node>")
		default:
			c.warn(e.k, e.field, "not imported: sr6 has no equivalent of this containerlab field")
		}
	}
	if topology == nil {
		msg := "not a containerlab topology: it has no topology key (topology.nodes holds the nodes)"
		if slices.Contains(keys(es), "nodes") {
			msg += "; it looks like an sr6 topology already: check it with sr6 validate"
		}
		c.fail(root, "topology", "%s", msg)
		return
	}
	switch {
	case !named:
		c.fail(root, "name", "missing: a containerlab topology needs a name")
	case c.labAt != nil:
		c.labName()
	}
	c.topology(topology)
}

func (c *converter) labName() {
	name := labName(c.lab)
	switch {
	case name == "":
		c.fail(c.labAt, "name", "%q cannot be made an sr6 lab name: %s", c.lab, topo.LabNameRule)
	case name != c.lab:
		c.warn(c.labAt, "name", "lab %q is named %s: sr6 lab names are %s", c.lab, name, topo.LabNameRule)
	}
	c.lab = name
}

func (c *converter) topology(t *entry) {
	es, ok := c.entries(t.v, "topology")
	if !ok {
		return
	}
	var nodes, links *entry
	// Settings first: nodes inherit from them wherever they are written.
	for i, e := range es {
		switch e.key {
		case "defaults":
			c.defaults = c.block(e.v, e.field, false)
		case "kinds", "groups":
			m := c.kinds
			if e.key == "groups" {
				m = c.groups
			}
			kes, _ := c.entries(e.v, e.field)
			for _, ke := range kes {
				m[ke.key] = c.block(ke.v, ke.field, false)
			}
		case "nodes":
			nodes = &es[i]
		case "links":
			links = &es[i]
		default:
			c.warn(e.k, e.field, "not imported: sr6 has no equivalent of this containerlab field")
		}
	}
	if nodes == nil {
		c.fail(t.k, "topology.nodes", "missing: a containerlab topology needs nodes")
		return
	}
	c.readNodes(nodes)
	if links != nil {
		c.readLinks(links)
	}
}

// block reads one set of node settings. Its warnings are kept with it and
// reported only if a node imported uses it.
func (c *converter) block(n *yaml.Node, field string, isNode bool) *block {
	b := &block{}
	sub := report{file: c.file}
	es, _ := sub.entries(n, field)
	for _, e := range es {
		switch e.key {
		case "kind":
			if _, ok := sub.scalar(e.v, e.field); ok {
				b.kind = e.v
			}
		case "image":
			if _, ok := sub.scalar(e.v, e.field); ok {
				b.image = e.v
			}
		case "group":
			if !isNode {
				sub.warn(e.k, e.field, "ignored: only a node can name its group")
			} else if _, ok := sub.scalar(e.v, e.field); ok {
				b.group = e.v
			}
		case "labels":
			les, _ := sub.entries(e.v, e.field)
			for _, le := range les {
				if v, ok := sub.scalar(le.v, le.field); ok {
					b.labels = append(b.labels, label{key: le.key, value: v, k: le.k, v: le.v})
				}
			}
		case "startup-config", "startup-delay", "enforce-startup-config", "suppress-startup-config":
			sub.warn(e.k, e.field, "not imported: sr6 configures its nodes itself (addresses, SIDs, underlay)")
		case "binds":
			sub.warn(e.k, e.field, "not imported: sr6 nodes are network namespaces, there is no container to bind files into")
		case "exec":
			sub.warn(e.k, e.field, "not imported: commands are not run at start; run them with sr6 lab exec")
		case "mgmt-ipv4", "mgmt-ipv6", "mgmt_ipv4", "mgmt_ipv6":
			sub.warn(e.k, e.field, "ignored: sr6 labs have no management network")
		default:
			sub.warn(e.k, e.field, "not imported: sr6 has no equivalent of this containerlab field")
		}
	}
	c.errs = append(c.errs, sub.errs...)
	b.warns, b.bad = sub.warns, len(sub.errs) > 0
	return b
}

// kindBlock returns the kinds entry of kind, written under its name or
// under another name of the same kind.
func (c *converter) kindBlock(kind string) *block {
	if b, ok := c.kinds[kind]; ok {
		return b
	}
	var names []string
	for k := range c.kinds {
		if canonical(k) == canonical(kind) {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	return c.kinds[names[0]]
}

func (c *converter) readNodes(e *entry) {
	es, ok := c.entries(e.v, e.field)
	if !ok {
		return
	}
	if len(es) == 0 {
		c.fail(e.k, e.field, "no nodes: a topology needs at least one node")
		return
	}
	taken := map[string]*node{}
	for _, ne := range es {
		c.defined[ne.key] = true
		own := c.block(ne.v, ne.field, true)
		if own.bad {
			continue
		}
		nd := &node{name: ne.key, key: ne.k, field: ne.field}
		chain := []*block{own}
		if own.group != nil {
			g, ok := c.groups[own.group.Value]
			if !ok {
				c.fail(own.group, ne.field+".group", "group %q is not defined under topology.groups", own.group.Value)
				continue
			}
			chain = append(chain, g)
		}
		for _, b := range chain {
			if nd.kindAt == nil && b.kind != nil {
				nd.kind, nd.kindAt = b.kind.Value, b.kind
			}
		}
		if nd.kindAt == nil && c.defaults != nil && c.defaults.kind != nil {
			nd.kind, nd.kindAt = c.defaults.kind.Value, c.defaults.kind
		}
		if nd.kindAt == nil {
			c.fail(ne.k, ne.field+".kind", "missing: set kind on the node, its group or topology.defaults")
			continue
		}
		if kb := c.kindBlock(nd.kind); kb != nil {
			chain = append(chain, kb)
		}
		if c.defaults != nil {
			chain = append(chain, c.defaults)
		}
		for _, b := range chain {
			if nd.image == "" && b.image != nil {
				nd.image = b.image.Value
			}
		}
		// Labels: the nearest setting of each key wins.
		for i := len(chain) - 1; i >= 0; i-- {
			for _, l := range chain[i].labels {
				nd.labels = slices.DeleteFunc(nd.labels, func(o label) bool { return o.key == l.key })
				nd.labels = append(nd.labels, l)
			}
		}
		slices.SortStableFunc(nd.labels, func(a, b label) int { return strings.Compare(a.key, b.key) })
		c.nodes = append(c.nodes, nd)
		c.byName[nd.name] = nd

		nd.sr6, nd.sr6At = "", nd.kindAt
		var why string
		if l, ok := nd.label(KindLabel); ok {
			if l.value != kindRouter && l.value != kindHost {
				c.fail(l.v, ne.field+".labels."+KindLabel, "%q is not an sr6 kind: write router or host", l.value)
				continue
			}
			nd.sr6, nd.sr6At = l.value, l.v
		} else {
			nd.sr6, why = mapKind(nd.kind, nd.image)
		}
		if nd.sr6 == "" {
			c.warn(nd.kindAt, ne.field+".kind", "node %s not imported: kind %s is %s; its links are left out too", nd.name, nd.kind, why)
			continue
		}
		for _, b := range chain[1:] {
			b.used = true
		}
		c.warns = append(c.warns, own.warns...)
		nd.as = nodeName(nd.name)
		if o, dup := taken[nd.as]; dup {
			c.fail(ne.k, ne.field, "node %s would be named %s in sr6, as node %s at line %d is: rename one", nd.name, nd.as, o.name, o.key.Line)
			continue
		}
		taken[nd.as] = nd
		if nd.as != nd.name {
			c.warn(ne.k, ne.field, "node %q is named %s: sr6 node names are %s", nd.name, nd.as, topo.NodeNameRule)
		}
	}
}

func (n *node) label(key string) (label, bool) {
	for _, l := range n.labels {
		if l.key == key {
			return l, true
		}
	}
	return label{}, false
}

func (c *converter) readLinks(e *entry) {
	seq := topo.ResolveAlias(e.v)
	if seq.Kind != yaml.SequenceNode {
		if seq.Tag != "!!null" {
			c.fail(seq, e.field, "must be a list of links, got %s", topo.DescribeNode(seq))
		}
		return
	}
	for i, ln := range seq.Content {
		field := fmt.Sprintf("topology.links[%d]", i)
		if l := c.readLink(topo.ResolveAlias(ln), field); l != nil {
			c.links = append(c.links, l)
		}
	}
}

// readLink returns the link, or nil if it is left out or wrong.
func (c *converter) readLink(ln *yaml.Node, field string) *link {
	es, ok := c.entries(ln, field)
	if !ok {
		return nil
	}
	for _, e := range es {
		if e.key != "type" {
			continue
		}
		typ, ok := c.scalar(e.v, e.field)
		switch {
		case !ok:
			return nil
		case typ == "veth":
		case slices.Contains(linkTypes, typ):
			c.warn(e.v, e.field, "link not imported: type %s has no sr6 equivalent (sr6 links are veth pairs between two nodes of the lab)", typ)
			return nil
		default:
			c.fail(e.v, e.field, "unknown link type %q; containerlab's are %s", typ, strings.Join(linkTypes, ", "))
			return nil
		}
	}
	l := &link{at: ln, field: field}
	var eps *entry
	for i, e := range es {
		switch e.key {
		case "type":
		case "endpoints":
			eps = &es[i]
		case "mtu":
			v, ok := c.scalar(e.v, e.field)
			if !ok {
				l.bad = true
				continue
			}
			mtu, err := strconv.Atoi(v)
			switch {
			case err != nil || e.v.Tag != "!!int":
				c.fail(e.v, e.field, "must be a whole number of bytes, got %q", v)
				l.bad = true
			case mtu < topo.MinMTU || mtu > topo.MaxMTU:
				c.fail(e.v, e.field, "%d is out of range for sr6: %d (the IPv6 minimum) to %d (the veth maximum)", mtu, topo.MinMTU, topo.MaxMTU)
				l.bad = true
			default:
				l.mtu, l.mtuV = e.v, mtu
			}
		case "vars", "labels":
			c.warn(e.k, e.field, "not imported: sr6 links have no %s", e.key)
		default:
			c.warn(e.k, e.field, "not imported: sr6 has no equivalent of this containerlab link field")
		}
	}
	if eps == nil {
		c.fail(ln, field+".endpoints", "missing: write endpoints: [\"n1:eth1\", \"n2:eth1\"]")
		return nil
	}
	seq := eps.v
	if seq.Kind != yaml.SequenceNode {
		c.fail(seq, eps.field, "must be a list of two endpoints, got %s", topo.DescribeNode(seq))
		return nil
	}
	if len(seq.Content) != 2 {
		c.fail(seq, eps.field, "a link has exactly 2 endpoints, got %d", len(seq.Content))
		return nil
	}
	for i, en := range seq.Content {
		en = topo.ResolveAlias(en)
		f := fmt.Sprintf("%s[%d]", eps.field, i)
		ep, ok := c.endpoint(en, f)
		if !ok {
			return nil
		}
		l.ends[i] = ep
	}
	return l
}

// endpoint reads "node:interface" (brief format) or {node:, interface:}
// (extended format).
func (c *converter) endpoint(n *yaml.Node, field string) (end, bool) {
	ep := end{at: n, field: field}
	if n.Kind == yaml.MappingNode {
		es, _ := c.entries(n, field)
		for _, e := range es {
			switch e.key {
			case "node":
				if v, ok := c.scalar(e.v, e.field); ok {
					ep.node = v
				}
			case "interface":
				if v, ok := c.scalar(e.v, e.field); ok {
					ep.iface = v
				}
			case "mac":
				c.warn(e.k, e.field, "not imported: sr6 lets the kernel choose MAC addresses")
			default:
				c.warn(e.k, e.field, "not imported: sr6 has no equivalent of this endpoint field")
			}
		}
		if ep.node == "" || ep.iface == "" {
			c.fail(n, field, "an endpoint needs node and interface")
			return ep, false
		}
		return ep, true
	}
	s, ok := c.scalar(n, field)
	if !ok {
		return ep, false
	}
	node, iface, found := strings.Cut(s, ":")
	if !found || node == "" || iface == "" {
		c.fail(n, field, "%q is not an endpoint: write node:interface, e.g. srl1:e1-1", s)
		return ep, false
	}
	ep.node, ep.iface = node, iface
	return ep, true
}

// resolveLinks checks the links' nodes, leaves out those of nodes not
// imported, names every interface for Linux, and leaves out the hosts
// that are left with no link.
func (c *converter) resolveLinks() {
	used := map[[2]string]*link{}
	var kept []*link
	namer := newIfaceNamer()
links:
	for _, l := range c.links {
		for _, ep := range l.ends {
			nd, ok := c.byName[ep.node]
			switch {
			case !ok && c.defined[ep.node]:
				continue links // the node's error is reported
			case !ok && specialNodes[ep.node] != "":
				c.warn(ep.at, ep.field, "link not imported: %s is %s, and sr6 links join two nodes of the lab", ep.node, specialNodes[ep.node])
				continue links
			case !ok:
				c.fail(ep.at, ep.field, "node %q is not defined under topology.nodes", ep.node)
				continue links
			case nd.sr6 == "":
				c.warn(ep.at, ep.field, "link not imported: node %s (kind %s) is not imported", ep.node, nd.kind)
				continue links
			}
		}
		for _, ep := range l.ends {
			k := [2]string{ep.node, ep.iface}
			if first, dup := used[k]; dup {
				c.fail(ep.at, ep.field, "endpoint %s:%s is already used by the link at line %d", ep.node, ep.iface, first.at.Line)
				continue links
			}
			used[k] = l
		}
		if !l.bad {
			kept = append(kept, l)
		}
	}
	c.links = kept
	for _, l := range kept {
		for _, ep := range l.ends {
			namer.reserve(c.byName[ep.node].as, ep.iface)
		}
	}
	for _, l := range kept {
		for i := range l.ends {
			ep := &l.ends[i]
			nd := c.byName[ep.node]
			ep.as = namer.name(nd.as, ep.iface)
			nd.links++
		}
	}
	imported := 0
	for _, nd := range c.nodes {
		if nd.sr6 == kindHost && nd.links == 0 {
			c.warn(nd.key, nd.field, "host %s not imported: it has no link to import, and an sr6 host needs a link to a router", nd.name)
			nd.sr6 = ""
		}
		if nd.sr6 != "" {
			imported++
		}
	}
	if imported == 0 && len(c.errs) == 0 {
		// The warnings say why each node was left out: they become
		// errors, since nothing is written.
		c.fail(c.nodes[0].key, "topology.nodes", "no node can be imported (each one's reason follows)")
		c.errs = append(c.errs, c.warns...)
	}
}

// span ties a place in the output to the input it came from.
type span struct {
	line, col int
	pos       topo.Pos
	field     string
}

type spans []span

// find returns the input position and field of the output at p: the
// last span at or before it.
func (s spans) find(p topo.Pos) (topo.Pos, string) {
	best := -1
	for i, sp := range s {
		if sp.line < p.Line || sp.line == p.Line && sp.col <= max(p.Column, 1) {
			best = i
		}
	}
	if best < 0 {
		return topo.Pos{Line: 1, Column: 1}, ""
	}
	return s[best].pos, s[best].field
}

// out writes the topology and remembers where each value came from.
type out struct {
	b     bytes.Buffer
	line  int
	col   int
	spans spans
}

func (o *out) text(s string) {
	for _, r := range s {
		if r == '\n' {
			o.line++
			o.col = 1
		} else {
			o.col++
		}
	}
	o.b.WriteString(s)
}

func (o *out) mark(n *yaml.Node, field string) {
	o.spans = append(o.spans, span{line: o.line, col: o.col, pos: topo.NodePos(n), field: field})
}

// comment makes s safe to end a YAML line with: values with anything but
// printable ASCII are quoted, so no input can start a line of its own.
func comment(s string) string {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return strconv.QuoteToASCII(s)
		}
	}
	return s
}

func (c *converter) write(source string) ([]byte, spans) {
	o := &out{line: 1, col: 1}
	o.text("# Imported from the containerlab topology " + comment(source) + " by sr6 import containerlab:\n")
	o.text("# nodes are routers or hosts, interfaces carry Linux names (docs/import.md).\n")
	o.text("version: 1\n")
	o.text("name: ")
	o.mark(c.labAt, "name")
	// Quoted: a lab named null, true or 0x1f must stay a string.
	o.text(strconv.Quote(c.lab) + "\n")
	o.text("nodes:\n")
	for _, nd := range c.nodes {
		if nd.sr6 == "" {
			continue
		}
		o.text("  ")
		o.mark(nd.key, nd.field)
		o.text(nd.as + ": {kind: ")
		o.mark(nd.sr6At, nd.field+".kind")
		o.text(nd.sr6 + "}")
		var notes []string
		if nd.as != nd.name {
			notes = append(notes, "node "+nd.name)
		}
		notes = append(notes, "kind "+nd.kind)
		if nd.image != "" {
			notes = append(notes, "image "+nd.image)
		}
		if len(nd.labels) > 0 {
			var ls []string
			for _, l := range nd.labels {
				ls = append(ls, l.key+"="+l.value)
			}
			notes = append(notes, "labels "+strings.Join(ls, " "))
		}
		o.text("  # containerlab: " + comment(strings.Join(notes, ", ")) + "\n")
	}
	if len(c.links) > 0 {
		o.text("links:\n")
	}
	for _, l := range c.links {
		o.text("  ")
		o.mark(l.at, l.field)
		o.text("- endpoints: [")
		var renamed []string
		for i, ep := range l.ends {
			if i > 0 {
				o.text(", ")
			}
			o.mark(ep.at, ep.field)
			nd := c.byName[ep.node]
			o.text(nd.as + ":" + ep.as)
			if ep.as != ep.iface || nd.as != nd.name {
				renamed = append(renamed, ep.node+":"+ep.iface)
			}
		}
		o.text("]")
		if len(renamed) > 0 {
			o.text("  # containerlab: " + comment(strings.Join(renamed, ", ")))
		}
		o.text("\n")
		if l.mtu != nil {
			o.text("    ")
			o.mark(l.mtu, l.field+".mtu")
			o.text("mtu: " + strconv.Itoa(l.mtuV) + "\n")
		}
	}
	return o.b.Bytes(), o.spans
}
