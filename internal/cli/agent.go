package cli

import (
	"github.com/spf13/cobra"

	"github.com/sr6net/sr6/internal/agent"
)

func (a *app) agentCmd() *cobra.Command {
	opts := agent.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the SRv6 node agent (gRPC, mutual TLS) in this network namespace",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.Validate(); err != nil {
				return usageError{err}
			}
			cfg, err := opts.Config(a.log.With("node", opts.Node))
			if err != nil {
				return err
			}
			return agent.Run(cmd.Context(), cfg)
		},
	}
	opts.BindFlags(cmd.Flags())
	return cmd
}
