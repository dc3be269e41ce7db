package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/lab"
)

// controllerFlags locate a controller and its token: an explicit URL, or
// a lab's (whose token is in the lab's folder).
type controllerFlags struct {
	url, lab, tokenFile string
}

func (f *controllerFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.url, "controller", "", "controller URL (default: the --lab's controller, else http://127.0.0.1:7700)")
	cmd.PersistentFlags().StringVar(&f.lab, "lab", "", "use this lab's controller and token")
	cmd.PersistentFlags().StringVar(&f.tokenFile, "token-file", "", "file holding the controller's bearer token (default: $SR6_TOKEN, or the --lab's token)")
}

func (a *app) client(f controllerFlags) (*restv1.Client, error) {
	token, err := explicitToken(f.tokenFile)
	if err != nil {
		return nil, err
	}
	if f.url == "" && f.lab != "" {
		if err := lab.CheckName(f.lab); err != nil {
			return nil, usageError{fmt.Errorf("--lab: %w", err)}
		}
		return a.labController(f.lab, token)
	}
	url := f.url
	if url == "" {
		url = "http://127.0.0.1:7700"
	}
	return restv1.NewClient(url, restv1.WithToken(token)), nil
}

// explicitToken is the token given by --token-file, else $SR6_TOKEN ("" if
// neither is set).
func explicitToken(file string) (string, error) {
	if file == "" {
		return strings.TrimSpace(os.Getenv("SR6_TOKEN")), nil
	}
	tok, err := restv1.ReadTokenFile(file)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	return tok, nil
}

// labController returns the client of the controller of the lab arg
// names (a lab name or its topology file).
func (a *app) labController(arg, token string) (*restv1.Client, error) {
	name, err := labName(arg)
	if err != nil {
		return nil, err
	}
	return lab.Store{Dir: a.stateDir}.ControllerClient(name, token)
}

func (a *app) policyCmd() *cobra.Command {
	var cf controllerFlags
	cmd := &cobra.Command{Use: "policy", Short: "SRv6 policies of a controller"}
	cf.register(cmd)

	var p restv1.Policy
	var mode string
	var replace bool
	add := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a policy: --from/--to hosts, or --headend/--endpoint/--prefix",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if mode != "" {
				m, err := restv1.ParseMode(mode)
				if err != nil {
					return usageError{fmt.Errorf("--mode: %w", err)}
				}
				p.Mode = m
			}
			c, err := a.client(cf)
			if err != nil {
				return err
			}
			p.Name = args[0]
			v, err := c.AddPolicy(cmd.Context(), p, replace)
			if err != nil {
				return err
			}
			printPolicyViews(a, []restv1.PolicyView{v})
			return nil
		},
	}
	fl := add.Flags()
	fl.StringVar(&p.From, "from", "", "source host")
	fl.StringVar(&p.To, "to", "", "destination host")
	fl.StringVar(&p.Headend, "headend", "", "headend router")
	fl.StringVar(&p.Endpoint, "endpoint", "", "endpoint router (decapsulates)")
	fl.StringSliceVar(&p.Prefixes, "prefix", nil, "prefixes to steer (with --headend)")
	fl.StringVar(&mode, "mode", "", "encap (default) or inline")
	fl.StringVar(&p.Metric, "metric", "", "igp (default), hops or latency")
	fl.StringSliceVar(&p.Include, "include", nil, "waypoint routers, in order")
	fl.StringSliceVar(&p.ExcludeNodes, "exclude-node", nil, "routers to avoid")
	fl.StringSliceVar(&p.ExcludeLinks, "exclude-link", nil, "links to avoid, as node:interface")
	fl.StringVar(&p.DisjointFrom, "disjoint-from", "", "policy whose links to avoid")
	fl.StringSliceVar(&p.Segments, "segments", nil, "explicit path: routers to visit")
	fl.BoolVar(&p.PerHop, "per-hop", false, "one SID per hop instead of the fewest")
	fl.BoolVar(&replace, "replace", false, "replace a policy of the same name")

	del := a.removeEachCmd(&cf, "del NAME...", "Delete policies", "delete", "deleted", (*restv1.Client).DeletePolicy)
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
func (a *app) removeEachCmd(cf *controllerFlags, use, short, verb, done string,
	remove func(*restv1.Client, context.Context, string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client(*cf)
			if err != nil {
				return err
			}
			return a.removeEach(cmd.Context(), c, args, verb, done, remove)
		},
	}
}

// removeEach removes every name it can, saying which it removed (done),
// and returns the errors of the others together: one missing name does not
// stop the rest.
func (a *app) removeEach(ctx context.Context, c *restv1.Client, names []string, verb, done string,
	remove func(*restv1.Client, context.Context, string) error) error {
	var errs []error
	for _, n := range names {
		if err := remove(c, ctx, n); err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", verb, n, err))
			continue
		}
		fmt.Fprintf(a.out, "%s: %s\n", n, done)
	}
	return errors.Join(errs...)
}

func printPolicyViews(a *app, vs []restv1.PolicyView) {
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
