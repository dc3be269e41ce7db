package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/sr6net/sr6/internal/bench"
)

func (a *app) benchCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "bench", Short: "Benchmarks, printed side by side with their reference"}
	var o bench.LabOptions
	labCmd := &cobra.Command{
		Use:   "lab",
		Short: "Deploy and destroy N-router labs with sr6 and with Mininet, in one run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.Shape != "ring" && o.Shape != "line" {
				return usageError{fmt.Errorf("--shape %q: allowed values: ring, line", o.Shape)}
			}
			dir, err := os.MkdirTemp("", "sr6-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			o.WorkDir = dir
			rs, err := bench.RunLab(cmd.Context(), o, a.errOut)
			if err != nil {
				return err
			}
			return bench.PrintLab(a.out, rs, o.Repeat)
		},
	}
	labCmd.Flags().IntSliceVar(&o.Sizes, "sizes", []int{10, 50, 100}, "router counts")
	labCmd.Flags().StringVar(&o.Shape, "shape", "ring", "topology shape: ring or line")
	labCmd.Flags().IntVar(&o.Repeat, "repeat", 3, "runs per size and tool (median reported)")
	labCmd.Flags().StringVar(&o.Python, "python", "/usr/bin/python3", "Python with the mininet module (Debian's)")
	labCmd.Flags().StringVar(&o.Script, "mininet-script", "bench/mininet_ref.py", "the Mininet reference script")
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
