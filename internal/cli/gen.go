package cli

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sr6net/sr6/internal/gen"
)

func (a *app) genCmd() *cobra.Command {
	var (
		o      gen.Options
		output string
	)
	shapes := strings.Join(gen.Shapes, ", ")
	cmd := &cobra.Command{
		Use:   "gen SHAPE [flags]",
		Short: "Generate a topology file for a line, ring, grid or fat-tree of N routers",
		Long: `Generate a topology file (schema v1) for a regular shape of routers r1..rN
with hosts h1..hM, ready for sr6 validate and sr6 lab.

Shapes:
  line     --routers N (>= 2)     r1 -- r2 -- ... -- rN
  ring     --routers N (>= 3)     a line closed by rN -- r1
  grid     --rows R --cols C      4-neighbour mesh, numbered row by row
  fattree  -k K (even, 2 to ` + fmt.Sprint(gen.MaxK) + `)   (K/2)^2 core routers and K pods of K/2
                                  aggregation and K/2 edge routers

--hosts H puts H hosts on each attachment router: the first and last router
of a line, r1 and the farthest router of a ring (r(N/2+1)) or grid (the
last), and every edge router of a fat-tree. --hosts 0 generates routers only.`,
		Example: `  sr6 gen ring -n 8 -o ring8.yaml
  sr6 gen grid --rows 10 --cols 10 --routing isis
  sr6 gen fattree -k 4 --hosts 2 --name dc`,
		ValidArgs: gen.Shapes,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("gen takes exactly one shape (%s), got %d arguments", shapes, len(args))}
			}
			if !slices.Contains(gen.Shapes, args[0]) {
				return usageError{fmt.Errorf("unknown shape %q; allowed shapes: %s", args[0], shapes)}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Shape = args[0]
			t, err := gen.Generate(o)
			if err != nil {
				return usageError{err}
			}
			data := t.YAML()
			if output == "" || output == "-" {
				_, err := a.out.Write(data)
				return err
			}
			if err := os.WriteFile(output, data, 0o644); err != nil {
				return fmt.Errorf("write topology: %w", err)
			}
			fmt.Fprintf(a.errOut, "wrote %s: lab %q, %d routers, %d hosts, %d links\n",
				output, t.Options.Name, t.Routers, t.Hosts, len(t.Links))
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	f := cmd.Flags()
	f.IntVarP(&o.Routers, "routers", "n", 0, "number of routers `N` of a line or ring")
	f.IntVar(&o.Rows, "rows", 0, "`R` rows of a grid")
	f.IntVar(&o.Cols, "cols", 0, "`C` columns of a grid")
	f.IntVarP(&o.K, "k", "k", 0, "arity `K` of a fattree (even)")
	f.IntVar(&o.Hosts, "hosts", gen.DefaultHosts, "hosts on each attachment router (0 for none)")
	f.StringVar(&o.Name, "name", "", "lab name (default: shape and size, e.g. ring8)")
	f.StringVar(&o.Routing, "routing", "static", "underlay routing: static or isis")
	f.IntVar(&o.Metric, "metric", 0, "IGP metric of every router link (0: the default, 10)")
	f.StringVarP(&output, "output", "o", "", "write the topology to `FILE` instead of stdout")
	return cmd
}
