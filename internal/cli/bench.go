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
	cmd.AddCommand(labCmd)
	return cmd
}
