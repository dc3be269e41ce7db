package cli

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sr6net/sr6/internal/bench"
)

func (a *app) benchCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Benchmarks, printed side by side with their reference"}
	var o bench.LabOptions
	var asJSON, mininet bool
	labCmd := &cobra.Command{
		Use:   "lab",
		Short: "sr6 bare and full deploys beside Mininet at 10/100/1,000 routers, with RSS and goals, in one run",
		Long: `Deploys and destroys, at each size, a generated lab with sr6 bare (no agents, no controller), sr6 full
(the default deploy, timed until the controller reports every agent connected, with the RSS of the lab's
processes) and Mininet (bench/mininet_ref.py) on the same topology; at 1,000 routers and more, also adds
--policies policies through the REST API. Labs are named PREFIX-SIZE-RANDOM in --state-dir and always
destroyed, also on failure or Ctrl-C. A full deploy that would not fit in free memory is skipped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(bench.Shapes, o.Shape) {
				return usageError{fmt.Errorf("--shape %q: allowed values: %s", o.Shape, strings.Join(bench.Shapes, ", "))}
			}
			for _, n := range o.Sizes {
				if n < 3 {
					return usageError{fmt.Errorf("--sizes: %d routers: at least 3", n)}
				}
			}
			if !mininet {
				o.Script = ""
			}
			dir, err := os.MkdirTemp("", "sr6-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			o.WorkDir, o.StateDir = dir, a.stateDir
			rs, runErr := bench.RunLab(cmd.Context(), o, a.errOut)
			if len(rs) > 0 {
				var err error
				if asJSON {
					err = bench.WriteLabJSON(a.out, rs, o.Repeat, time.Now())
				} else {
					err = bench.PrintLab(a.out, rs, o.Repeat)
				}
				if runErr == nil {
					runErr = err
				}
			}
			return runErr
		},
	}
	labCmd.Flags().IntSliceVar(&o.Sizes, "sizes", []int{10, 100, 1000}, "router counts")
	labCmd.Flags().StringVar(&o.Shape, "shape", "auto", "topology: auto (a ring below 1,000 routers, a square grid from 1,000), ring, line or grid")
	labCmd.Flags().IntVar(&o.Repeat, "repeat", 3, "runs per size and tool, the median reported (one at 1,000 routers and more)")
	labCmd.Flags().StringVar(&o.Python, "python", "/usr/bin/python3", "Python with the mininet module (Debian's)")
	labCmd.Flags().StringVar(&o.Script, "mininet-script", "bench/mininet_ref.py", "the Mininet reference script")
	labCmd.Flags().BoolVar(&mininet, "mininet", true, "run the Mininet reference")
	labCmd.Flags().DurationVar(&o.MininetTimeout, "mininet-timeout", 10*time.Minute, "longest one Mininet run may take (then stopped, reported failed)")
	labCmd.Flags().DurationVar(&o.ReadyTimeout, "ready-timeout", 5*time.Minute, "longest wait for every agent connected, and for the policies installed")
	labCmd.Flags().IntVar(&o.SkipFullAbove, "skip-full-above", 0, "skip the full deploy above this many routers (0: none; a deploy that would not fit in 3/4 of MemAvailable is skipped anyway)")
	labCmd.Flags().IntVar(&o.Policies, "policies", 10000, "policies added to the full lab at --policies-at routers and more (0: none)")
	labCmd.Flags().IntVar(&o.PoliciesAt, "policies-at", bench.GridFrom, "smallest lab that gets the policies")
	labCmd.Flags().StringVar(&o.Prefix, "prefix", "bench", "lab name prefix")
	labCmd.Flags().BoolVar(&asJSON, "json", false, "print JSON instead of the table")
	var paths, policies int
	ctrlCmd := &cobra.Command{
		Use:   "controller",
		Short: "CSPF at 1k/10k nodes, 1,000 policies into a 20-router lab, reroute time, beside their goals",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, cleanup, err := benchDir()
			if err != nil {
				return err
			}
			defer cleanup()
			rs, err := bench.CSPF(paths)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.errOut, "provisioning policies...")
			p, err := bench.Provision(cmd.Context(), policies, dir)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.errOut, "measuring reroute...")
			r, err := bench.Reroute(cmd.Context(), dir)
			if err != nil {
				return err
			}
			return bench.PrintController(a.out, append(rs, p, r))
		},
	}
	ctrlCmd.Flags().IntVar(&paths, "paths", 500, "paths per CSPF measurement")
	ctrlCmd.Flags().IntVar(&policies, "policies", 1000, "policies to provision")
	var rounds int
	pmCmd := &cobra.Command{
		Use:   "pm",
		Short: "Loss measurement: throughput overhead (iperf3), single-drop detection time, pipeline ingest, beside their goals",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, cleanup, err := benchDir()
			if err != nil {
				return err
			}
			defer cleanup()
			rs, err := bench.PM(cmd.Context(), dir, rounds)
			if err != nil {
				return err
			}
			return bench.PrintController(a.out, rs)
		},
	}
	pmCmd.Flags().IntVar(&rounds, "rounds", 3, "iperf3 runs with and without the programs")
	cmd.AddCommand(labCmd, ctrlCmd, pmCmd)
	return cmd
}

// benchDir is a scratch folder for labs, searchable by FRR's user.
func benchDir() (string, func(), error) {
	dir, err := os.MkdirTemp("", "sr6-bench-")
	if err != nil {
		return "", nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}
