package cli

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/sr6net/sr6/internal/controller"
	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/kinds/registry"
	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/topo"
)

func (a *app) controllerCmd() *cobra.Command {
	opts := controller.DefaultOptions()
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the SRv6 controller: REST API, path computation, agents over gRPC",
		Long: "Run the controller of a lab (--lab) or of any network described by a topology file whose\n" +
			"routers run `sr6 agent` (--topology with one --agent NODE=ADDRESS per router).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts.StateDir = a.stateDir
			var cfg controller.Config
			var err error
			switch {
			case opts.Lab != "" && opts.Topology != "":
				return usageError{errors.New("give --lab or --topology, not both")}
			case opts.Lab != "":
				cfg, err = lab.Store{Dir: a.stateDir}.ControllerConfig(opts)
			case opts.Topology != "":
				reg := registry.Default()
				var nw *topo.Network
				if nw, err = reg.LoadNetwork(opts.Topology); err != nil {
					return err
				}
				var withAgent []*topo.Node
				if withAgent, err = reg.NodesRunning(nw, kinds.DaemonAgent); err != nil {
					return err
				}
				var eps []controller.AgentEndpoint
				if eps, err = opts.Endpoints(withAgent); err != nil {
					return usageError{err}
				}
				cfg, err = opts.Config(nw, eps)
			default:
				return usageError{errors.New("give --lab NAME or --topology FILE")}
			}
			if err != nil {
				return err
			}
			cfg.Log = a.log
			return controller.Run(cmd.Context(), cfg)
		},
	}
	opts.BindFlags(cmd.Flags())
	return cmd
}
