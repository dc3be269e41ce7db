package cli

import (
	"github.com/spf13/cobra"

	"github.com/sr6net/sr6/internal/lab"
)

// labAgentsCmd is the lab's agent host, which the lab's supervisor runs:
// one process serving every router's agent. Hidden, as nobody needs to
// run it by hand (`sr6 agent` is the agent of one real node).
func (a *app) labAgentsCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "agents NAME",
		Short:  "Serve every router agent of a lab in one process (the lab's supervisor runs it)",
		Args:   cobra.ExactArgs(1),
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return lab.RunAgents(cmd.Context(), args[0], a.labOptions())
		},
	}
}
