package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/kinds/registry"
	"github.com/sr6net/sr6/internal/topo"
)

func (a *app) validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a topology file and print its address plan summary",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reg := registry.Default()
			nw, err := reg.LoadNetwork(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "%s: ok: lab %q, %s, %d links, routing %s\n",
				args[0], nw.Name, kindCounts(reg, nw), len(nw.Links), nw.Routing)
			return nil
		},
	}
}

// kindCounts says how many nodes of each kind nw has, every kind of the
// registry in its order: "3 routers, 2 hosts".
func kindCounts(reg *kinds.Registry, nw *topo.Network) string {
	count := map[string]int{}
	for _, n := range nw.Nodes {
		count[n.Kind]++
	}
	var out []string
	for _, k := range reg.Names() {
		out = append(out, fmt.Sprintf("%d %ss", count[k], k))
	}
	return strings.Join(out, ", ")
}

func (a *app) graphCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "graph FILE",
		Short: "Print the planned topology as Graphviz DOT or JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "dot" && format != "json" {
				return usageError{fmt.Errorf("--format %q: allowed values: dot, json", format)}
			}
			nw, err := registry.Default().LoadNetwork(args[0])
			if err != nil {
				return err
			}
			if format == "json" {
				return nw.WriteJSON(a.out)
			}
			return nw.WriteDOT(a.out)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "dot", "output format: dot or json")
	return cmd
}
