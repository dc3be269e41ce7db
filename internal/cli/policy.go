package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/sr6net/sr6/internal/controller"
	"github.com/sr6net/sr6/internal/lab"
)

// controllerFlags locate a controller: an explicit URL, or a lab's.
type controllerFlags struct {
	url, lab string
}

func (f *controllerFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.url, "controller", "", "controller URL (default: the --lab's controller, else http://127.0.0.1:7700)")
	cmd.PersistentFlags().StringVar(&f.lab, "lab", "", "use this lab's controller")
}

func (a *app) client(f controllerFlags) (*controller.Client, error) {
	if f.url != "" {
		return controller.NewClient(f.url), nil
	}
	if f.lab != "" {
		if err := lab.CheckName(f.lab); err != nil {
			return nil, usageError{fmt.Errorf("--lab: %w", err)}
		}
		return a.labController(f.lab)
	}
	return controller.NewClient("http://127.0.0.1:7700"), nil
}

// labController returns the client of lab name's controller, or an error
// saying the lab has none.
func (a *app) labController(name string) (*controller.Client, error) {
	st, err := lab.Store{Dir: a.stateDir}.Load(name)
	if err != nil {
		return nil, err
	}
	if st.Controller == "" {
		return nil, fmt.Errorf("lab %s runs no controller (deployed with --controller=false)", name)
	}
	return controller.NewClient(st.Controller), nil
}

func (a *app) policyCmd() *cobra.Command {
	var cf controllerFlags
	cmd := &cobra.Command{Use: "policy", Short: "SRv6 policies of a controller"}
	cf.register(cmd)

	var p controller.Policy
	var replace bool
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a policy: --from/--to hosts, or --headend/--endpoint/--prefix",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cf)
			if err != nil {
				return err
			}
			p.Name = args[0]
			v, err := c.AddPolicy(cmd.Context(), p, replace)
			if err != nil {
				return err
			}
			printPolicyViews(a, []controller.PolicyView{v})
			return nil
		},
	}
	fl := add.Flags()
	fl.StringVar(&p.From, "from", "", "source host")
	fl.StringVar(&p.To, "to", "", "destination host")
	fl.StringVar(&p.Headend, "headend", "", "headend router")
	fl.StringVar(&p.Endpoint, "endpoint", "", "endpoint router (decapsulates)")
	fl.StringSliceVar(&p.Prefixes, "prefix", nil, "prefixes to steer (with --headend)")
	fl.StringVar(&p.Mode, "mode", "", "encap (default) or inline")
	fl.StringVar(&p.Metric, "metric", "", "igp (default), hops or latency")
	fl.StringSliceVar(&p.Include, "include", nil, "waypoint routers, in order")
	fl.StringSliceVar(&p.ExcludeNodes, "exclude-node", nil, "routers to avoid")
	fl.StringSliceVar(&p.ExcludeLinks, "exclude-link", nil, "links to avoid, as node:interface")
	fl.StringVar(&p.DisjointFrom, "disjoint-from", "", "policy whose links to avoid")
	fl.StringSliceVar(&p.Segments, "segments", nil, "explicit path: routers to visit")
	fl.BoolVar(&p.PerHop, "per-hop", false, "one SID per hop instead of the fewest")
	fl.BoolVar(&replace, "replace", false, "replace a policy of the same name")

	del := a.removeEachCmd(&cf, "del NAME...", "Delete policies", "delete", (*controller.Client).DeletePolicy)
	list := &cobra.Command{
		Use:   "list",
		Short: "List policies with state, path and segments",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cf)
			if err != nil {
				return err
			}
			vs, err := c.Policies(cmd.Context())
			if err != nil {
				return err
			}
			printPolicyViews(a, vs)
			return nil
		},
	}
	show := &cobra.Command{
		Use:   "show NAME",
		Short: "Show one policy as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(cf)
			if err != nil {
				return err
			}
			v, err := c.Policy(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return writeJSON(a.out, v)
		},
	}
	cmd.AddCommand(add, del, list, show)
	return cmd
}

// removeEachCmd is a command removing each named object through the
// controller cf locates (policies, sessions), stopping at the first error.
func (a *app) removeEachCmd(cf *controllerFlags, use, short, verb string,
	remove func(*controller.Client, context.Context, string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(*cf)
			if err != nil {
				return err
			}
			for _, n := range args {
				if err := remove(c, cmd.Context(), n); err != nil {
					return fmt.Errorf("%s %s: %w", verb, n, err)
				}
			}
			return nil
		},
	}
}

func printPolicyViews(a *app, vs []controller.PolicyView) {
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY\tSTATE\tPATH\tCOST\tSEGMENTS\tREASON")
	for _, v := range vs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", v.Name, v.Status.State, strings.Join(v.Status.Path, ">"),
			v.Status.Cost, strings.Join(v.Status.Segments, ","), v.Status.Reason)
	}
	tw.Flush()
}

func (a *app) topoCmd() *cobra.Command {
	var cf controllerFlags
	cmd := &cobra.Command{Use: "topo", Short: "The controller's view of the topology"}
	cf.register(cmd)
	show := &cobra.Command{
		Use:   "show",
		Short: "Links with their live state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client(cf)
			if err != nil {
				return err
			}
			t, err := c.Topology(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "network %s, routing %s, %d nodes\n", t.Name, t.Routing, len(t.Nodes))
			tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "LINK\tMETRIC\tSTATE")
			for _, l := range t.Links {
				state := "up"
				if !l.Up {
					state = "DOWN"
				}
				fmt.Fprintf(tw, "%s -- %s\t%d\t%s\n", l.Endpoints[0], l.Endpoints[1], l.Metric, state)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(show)
	return cmd
}
