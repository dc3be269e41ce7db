package topo

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// The helpers of a decoder that reports positioned errors on YAML nodes:
// the topology loader's and the containerlab importer's.

// NodePos is where n stands in its file.
func NodePos(n *yaml.Node) Pos { return Pos{Line: n.Line, Column: n.Column} }

// ResolveAlias follows n's aliases to the node they name.
func ResolveAlias(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// DescribeNode names what n is, for an error that says what was found.
func DescribeNode(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unsupported YAML node"
}

// JoinField is the dotted path of key under field ("" at the top).
func JoinField(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}
