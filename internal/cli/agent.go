package cli

import (
	"crypto/tls"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/sr6net/sr6/internal/agent"
	"github.com/sr6net/sr6/internal/pki"
)

func (a *app) agentCmd() *cobra.Command {
	var cfg agent.Config
	var certs pki.Files
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the SRv6 node agent (gRPC, mutual TLS) in this network namespace",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Node == "" {
				return usageError{fmt.Errorf("--node is required")}
			}
			if !cfg.Insecure {
				if certs.CA == "" || certs.Cert == "" || certs.Key == "" {
					return usageError{fmt.Errorf("--ca, --cert and --key are required (or --insecure)")}
				}
				var err error
				var tlsCfg *tls.Config
				if tlsCfg, err = pki.ServerConfig(certs); err != nil {
					return err
				}
				cfg.TLS = tlsCfg
			}
			cfg.Log = a.log.With("node", cfg.Node)
			return agent.Run(cmd.Context(), cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Node, "node", "", "node name (reported in events, expected in the certificate)")
	f.StringVar(&cfg.Listen, "listen", "127.0.0.1:7600", "unix:///path/to/socket or host:port")
	f.StringVar(&cfg.StateFile, "state-file", "", "file keeping the last applied desired state across restarts")
	f.StringVar(&certs.CA, "ca", "", "CA certificate (PEM) that signs the controller's certificate")
	f.StringVar(&certs.Cert, "cert", "", "agent certificate (PEM)")
	f.StringVar(&certs.Key, "key", "", "agent private key (PEM)")
	f.BoolVar(&cfg.Insecure, "insecure", false, "serve without TLS (trusted test networks only)")
	return cmd
}
