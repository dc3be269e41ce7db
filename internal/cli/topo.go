package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sr6net/sr6/internal/topo"
)

func (a *app) validateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a topology file and print its address plan summary",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nw, err := topo.LoadNetwork(args[0])
			if err != nil {
				return err
			}
			routers := len(nw.Routers())
			fmt.Fprintf(a.out, "%s: ok: lab %q, %d routers, %d hosts, %d links, routing %s\n",
				args[0], nw.Name, routers, len(nw.Nodes)-routers, len(nw.Links), nw.Routing)
			return nil
		},
	}
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
			nw, err := topo.LoadNetwork(args[0])
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
