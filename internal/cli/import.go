package cli

import (
	"errors"
	"fmt"
	"os"

	"github.com/google/renameio/v2"
	"github.com/spf13/cobra"

	"github.com/sr6net/sr6/internal/clab"
	"github.com/sr6net/sr6/internal/topo"
)

func (a *app) importCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import",
		Short: "Write an sr6 topology from another tool's topology file",
	}
	cmd.AddCommand(a.importContainerlabCmd())
	return cmd
}

func (a *app) importContainerlabCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "containerlab FILE",
		Short: "Write an sr6 topology from a containerlab topology file",
		Long: `Write an sr6 topology (schema v1) from a containerlab file: its nodes become
routers or hosts by their kind (and image, for linux nodes), its links keep
their endpoints with interface names made valid for Linux, and a link's mtu
is kept. Each field, node or link that has no sr6 equivalent is reported on
stderr as a warning, file:line:column; what cannot be converted is an error
and nothing is written. docs/import.md has the mapping.`,
		Example: `  sr6 import containerlab fabric.clab.yml -o fabric.yaml
  sr6 import containerlab lab.clab.yml | sr6 graph /dev/stdin`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usageError{fmt.Errorf("import containerlab takes exactly one file, got %d arguments", len(args))}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fmt.Errorf("read containerlab topology: %w", err)
			}
			res, err := clab.Convert(args[0], data)
			if err != nil {
				var el topo.ErrorList
				if errors.As(err, &el) {
					return fmt.Errorf("%s: cannot import:\n%w", args[0], err)
				}
				return err
			}
			for _, w := range res.Warnings {
				fmt.Fprintln(a.errOut, "warning:", w)
			}
			if output == "" || output == "-" {
				_, err := a.out.Write(res.YAML)
				return err
			}
			// Atomic: a reader of output never sees half a topology,
			// and a failed write leaves an earlier file as it was.
			if err := renameio.WriteFile(output, res.YAML, 0o644); err != nil {
				return fmt.Errorf("write topology: %w", err)
			}
			plural := "s"
			if len(res.Warnings) == 1 {
				plural = ""
			}
			fmt.Fprintf(a.errOut, "wrote %s (%d warning%s)\n", output, len(res.Warnings), plural)
			return nil
		},
	}
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	cmd.Flags().StringVarP(&output, "output", "o", "", "write the topology to `FILE` (atomically) instead of stdout")
	return cmd
}
