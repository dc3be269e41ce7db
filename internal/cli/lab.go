package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/kinds/registry"
	"github.com/sr6net/sr6/internal/lab"
)

func (a *app) labOptions() lab.Options {
	return lab.Options{Store: lab.Store{Dir: a.stateDir}, Log: a.log, Progress: a.errOut}
}

func (a *app) labCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "lab",
		Short: "Deploy, inspect and destroy emulated SRv6 labs (network namespaces)",
	}
	cmd.AddCommand(a.labDeployCmd(), a.labDestroyCmd(), a.labInspectCmd(), a.labExecCmd(), a.labSRv6Cmd(), a.labSuperviseCmd(), a.labLinkCmd(), a.labImpairCmd(), a.labCaptureCmd(), a.labStatsCmd(), a.labAgentsCmd())
	return cmd
}

// labSuperviseCmd is the lab's supervisor process, which deploy starts:
// hidden, as nobody needs to run it by hand.
func (a *app) labSuperviseCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "supervise NAME",
		Short:  "Run a lab's supervisor: keep its agents and controller running (deploy starts it)",
		Args:   cobra.ExactArgs(1),
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return lab.Supervise(cmd.Context(), args[0], a.labOptions())
		},
	}
}

func (a *app) labDeployCmd() *cobra.Command {
	var replace, agents, ctrl, dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "deploy FILE",
		Short: "Deploy the lab a topology file describes (again: restart what is missing; changed: apply the difference)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read topology: %w", err)
			}
			nw, err := registry.Default().ParseNetwork(args[0], data)
			if err != nil {
				return err
			}
			opts := a.labOptions()
			if dryRun {
				return a.labDeployPlan(args[0], data, opts, asJSON)
			}
			if asJSON {
				return usageError{errors.New("--json goes with --dry-run")}
			}
			opts.Replace, opts.Agents, opts.Controller = replace, agents, ctrl
			st, err := lab.Deploy(cmd.Context(), nw, args[0], data, opts)
			if err == nil && st.Controller != "" {
				hint := "sr6 policy list --lab " + st.Name
				if a.stateDir != defaultStateDir {
					hint += " --state-dir " + a.stateDir
				}
				fmt.Fprintf(a.errOut, "controller: %s (%s)\n", st.Controller, hint)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&replace, "replace", false, "replace a lab of the same name deployed from another topology")
	cmd.Flags().BoolVar(&agents, "agents", true, "run sr6 agent in every router")
	cmd.Flags().BoolVar(&ctrl, "controller", true, "run an sr6 controller for the lab (implies --agents)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what deploying onto the running lab would change, and change nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "with --dry-run: print the plan as JSON")
	return cmd
}

// labName accepts a lab name or a topology file naming one.
func labName(arg string) (string, error) {
	if strings.HasSuffix(arg, ".yaml") || strings.HasSuffix(arg, ".yml") {
		s, err := registry.Default().Load(arg)
		if err != nil {
			return "", err
		}
		return s.Name.V, nil
	}
	if err := lab.CheckName(arg); err != nil {
		return "", usageError{err}
	}
	return arg, nil
}

func (a *app) labDestroyCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "destroy NAME|FILE...",
		Short: "Destroy labs: processes, namespaces, state (works after a crash)",
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := a.labOptions()
			if all {
				labs, err := lab.List(opts)
				if err != nil {
					return err
				}
				for name := range labs {
					args = append(args, name)
				}
			}
			if len(args) == 0 {
				return usageError{fmt.Errorf("name a lab (or a topology file), or use --all")}
			}
			for _, arg := range args {
				name, err := labName(arg)
				if err != nil {
					return err
				}
				if err := lab.Destroy(cmd.Context(), name, opts); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "destroy every lab in the state directory")
	return cmd
}

func (a *app) labInspectCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "inspect [NAME|FILE]",
		Short: "Show a lab's nodes, addresses, interface states, processes, daemons and policies",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := a.labOptions()
			if len(args) == 0 {
				labs, err := lab.List(opts)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.out, labs)
				}
				names := make([]string, 0, len(labs))
				for n := range labs {
					names = append(names, n)
				}
				sort.Strings(names)
				tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "LAB\tPHASE")
				for _, n := range names {
					fmt.Fprintf(tw, "%s\t%s\n", n, labs[n])
				}
				return tw.Flush()
			}
			name, err := labName(args[0])
			if err != nil {
				return err
			}
			in, err := lab.Inspect(cmd.Context(), name, opts)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.out, in)
			}
			return printInspection(a, in)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func printInspection(a *app, in *lab.Inspection) error {
	fmt.Fprintf(a.out, "lab %s (%s, routing %s, from %s, deployed %s)\n\n", in.Name, in.Phase, in.Routing,
		in.Source, in.Deployed.Local().Format("2006-01-02 15:04:05"))
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tKIND\tNAMESPACE\tLOOPBACK / ADDRESS\tLOCATOR\tINTERFACES\tPROCESSES")
	for _, n := range in.Nodes {
		ns := n.Namespace
		if !n.Present {
			ns += " (missing)"
		}
		addr, loc := "", ""
		if n.Loopback != nil {
			addr, loc = n.Loopback.String(), n.Locator.String()
		} else if len(n.Interfaces) > 0 {
			addr = strings.Join(n.Interfaces[0].Addresses, " ")
		}
		var ifs []string
		for _, i := range n.Interfaces {
			ifs = append(ifs, interfaceText(i))
		}
		procs := n.Processes
		if n.Agent != "" {
			procs = append(procs, "agent "+n.Agent)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Kind, ns, addr, loc,
			strings.Join(ifs, " "), strings.Join(procs, " "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if in.Supervisor != nil {
		fmt.Fprintln(a.out)
		printDaemons(a, in)
	}
	return nil
}

func printDaemons(a *app, in *lab.Inspection) {
	if in.Supervisor.Running {
		fmt.Fprintf(a.out, "supervisor: running (pid %d)\n", in.Supervisor.PID)
	} else {
		fmt.Fprintf(a.out, "supervisor: NOT RUNNING: nothing restarts the daemons (sr6 lab deploy again re-converges)\n")
	}
	tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "DAEMON\tSTATE\tPID\tRESTARTS\tSINCE\tLAST EXIT")
	for _, d := range in.Daemons {
		pid, last := "-", "-"
		if d.PID > 0 {
			pid = fmt.Sprint(d.PID)
		}
		if d.LastExit != nil {
			last = d.LastExit.Reason + " at " + d.LastExit.Time.Local().Format("15:04:05")
		}
		state := string(d.State)
		if d.Error != "" {
			state += ": " + d.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", d.Name, state, pid, d.Restarts,
			d.Since.Local().Format("15:04:05"), last)
	}
	tw.Flush()
}

func (a *app) labExecCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "exec LAB NODE [-- COMMAND [ARGS...]]",
		Short: "Run a command (default: a shell) in a node's network namespace",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name, err := labName(args[0])
			if err != nil {
				return err
			}
			return lab.Exec(name, args[1], args[2:], a.labOptions())
		},
	}
}

// labSRv6Cmd is a thin client of the lab's controller: the policies are
// the controller's, with its one model, name rule and validation.
func (a *app) labSRv6Cmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "srv6",
		Short: "SRv6 policies between the hosts of a lab (through the lab's controller)",
	}
	client := func(arg string) (*restv1.Client, error) {
		token, err := explicitToken("")
		if err != nil {
			return nil, err
		}
		return a.labController(arg, token)
	}
	var p restv1.Policy
	var mode string
	var reverse bool
	add := &cobra.Command{
		Use:   "add LAB NAME --from HOST --to HOST [--via R1,R2...]",
		Short: "Steer traffic from one host to another through routers (H.Encaps at the headend, decap at the tail)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := restv1.ParseMode(mode)
			if err != nil {
				return usageError{fmt.Errorf("--mode: %w", err)}
			}
			c, err := client(args[0])
			if err != nil {
				return err
			}
			fwd := p
			fwd.Name, fwd.Mode = args[1], m
			ps := []restv1.Policy{fwd}
			if reverse {
				rev := fwd
				rev.Name, rev.From, rev.To = fwd.Name+"-rev", fwd.To, fwd.From
				rev.Include = slices.Clone(fwd.Include)
				slices.Reverse(rev.Include)
				ps = append(ps, rev)
			}
			var views []restv1.PolicyView
			for _, p := range ps {
				v, err := c.AddPolicy(cmd.Context(), p, false)
				if err != nil {
					// All or nothing: a refused reverse takes the forward
					// policy back out.
					for _, done := range views {
						if derr := c.DeletePolicy(cmd.Context(), done.Name); derr != nil {
							err = errors.Join(err, fmt.Errorf("undo %s: %w", done.Name, derr))
						}
					}
					return fmt.Errorf("policy %s: %w", p.Name, err)
				}
				views = append(views, v)
			}
			printPolicyViews(a, views)
			return nil
		},
	}
	add.Flags().StringVar(&p.From, "from", "", "source host (its router is the headend)")
	add.Flags().StringVar(&p.To, "to", "", "destination host (its router decapsulates)")
	add.Flags().StringSliceVar(&p.Include, "via", nil, "routers to traverse, in order (waypoints of the computed path)")
	add.Flags().StringVar(&mode, "mode", string(restv1.ModeEncap), "IPv6 steering: encap (H.Encaps) or inline (H.Insert); IPv4 is always encapsulated")
	add.Flags().BoolVar(&reverse, "reverse", false, "also add NAME-rev from --to back to --from through --via reversed")
	_ = add.MarkFlagRequired("from")
	_ = add.MarkFlagRequired("to")

	del := &cobra.Command{
		Use:   "del LAB NAME...",
		Short: "Remove policies",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(args[0])
			if err != nil {
				return err
			}
			return a.removeEach(cmd.Context(), c, args[1:], "delete", "deleted", (*restv1.Client).DeletePolicy)
		},
	}
	list := &cobra.Command{
		Use:   "list LAB",
		Short: "List a lab's policies",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := client(args[0])
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
	cmd.AddCommand(add, del, list)
	return cmd
}
