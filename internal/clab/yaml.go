package clab

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"

	"github.com/sr6net/sr6/internal/topo"
)

// The containerlab file is walked as a yaml.Node tree, as topology files
// are (internal/topo), because only the tree keeps the line and column of
// every value that warnings and errors point at.

// maxMergeDepth bounds nested merge keys ("<<: *a" inside *a's target
// inside ...): real files nest one or two; a crafted file must not make
// the walk blow up.
const maxMergeDepth = 8

// report collects the warnings and errors of one conversion.
type report struct {
	file  string
	warns topo.ErrorList
	errs  topo.ErrorList
}

func (r *report) warn(n *yaml.Node, field, format string, args ...any) {
	r.warns = append(r.warns, &topo.Error{File: r.file, Pos: topo.NodePos(n), Field: field, Msg: fmt.Sprintf(format, args...)})
}

func (r *report) fail(n *yaml.Node, field, format string, args ...any) {
	r.errs = append(r.errs, &topo.Error{File: r.file, Pos: topo.NodePos(n), Field: field, Msg: fmt.Sprintf(format, args...)})
}

// entry is one key of a mapping, after merge keys are expanded.
type entry struct {
	key   string
	k, v  *yaml.Node
	field string
}

// entries returns the keys of mapping n in file order, with the keys of
// merged mappings ("<<: *anchor", as containerlab files often share node
// settings) where the merge key stands, unless n sets them itself. A
// duplicate key is an error; ok is false when n is not a mapping.
func (r *report) entries(n *yaml.Node, field string) ([]entry, bool) {
	n = topo.ResolveAlias(n)
	if n == nil {
		return nil, false // the parser never gives one; no position to report
	}
	if n.Kind != yaml.MappingNode {
		if n.Tag == "!!null" {
			return nil, true // "srl1:" with nothing: an empty mapping
		}
		r.fail(n, field, "must be a mapping, got %s", topo.DescribeNode(n))
		return nil, false
	}
	return r.mergedEntries(n, field, 0), true
}

func (r *report) mergedEntries(n *yaml.Node, field string, depth int) []entry {
	explicit := map[string]topo.Pos{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if isMerge(k) {
			continue
		}
		if first, dup := explicit[k.Value]; dup {
			r.fail(k, topo.JoinField(field, k.Value), "duplicate key (first defined at line %d)", first.Line)
			continue
		}
		explicit[k.Value] = topo.NodePos(k)
	}
	var out []entry
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !isMerge(k) {
			if !seen[k.Value] {
				seen[k.Value] = true
				out = append(out, entry{key: k.Value, k: k, v: topo.ResolveAlias(v), field: topo.JoinField(field, k.Value)})
			}
			continue
		}
		if depth >= maxMergeDepth {
			r.fail(k, topo.JoinField(field, "<<"), "merge keys nested more than %d deep", maxMergeDepth)
			continue
		}
		v = topo.ResolveAlias(v)
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, src := range sources {
			src = topo.ResolveAlias(src)
			if src.Kind != yaml.MappingNode {
				r.fail(src, topo.JoinField(field, "<<"), "a merge key takes a mapping or a list of mappings, got %s", topo.DescribeNode(src))
				continue
			}
			for _, e := range r.mergedEntries(src, field, depth+1) {
				if _, own := explicit[e.key]; own || seen[e.key] {
					continue
				}
				seen[e.key] = true
				out = append(out, e)
			}
		}
	}
	return out
}

func isMerge(k *yaml.Node) bool {
	return k.Kind == yaml.ScalarNode && k.Value == "<<" && (k.Tag == "!!merge" || k.Tag == "")
}

// scalar returns n's value, or reports that it must be one.
func (r *report) scalar(n *yaml.Node, field string) (string, bool) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		r.fail(n, field, "must be a single value, got %s", topo.DescribeNode(n))
		return "", false
	}
	return n.Value, true
}

// keys lists the keys of entries, for messages.
func keys(es []entry) []string {
	out := make([]string, 0, len(es))
	for _, e := range es {
		out = append(out, e.key)
	}
	return slices.Clip(out)
}
