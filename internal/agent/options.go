package agent

import (
	"errors"
	"log/slog"

	"github.com/spf13/pflag"

	"github.com/sr6net/sr6/internal/pki"
)

// Options are the command-line settings of `sr6 agent`, defined once: the
// CLI binds its flags to these fields and a lab builds the arguments it
// starts agents with from the same fields (Args), so the two cannot
// disagree on a flag's name.
type Options struct {
	Node      string
	Listen    string // "unix:///path" or "host:port"
	StateFile string
	// CA, Cert and Key are the PEM files of mutual TLS; Insecure serves
	// without TLS instead.
	CA, Cert, Key string
	Insecure      bool
}

// DefaultOptions are the flag defaults.
func DefaultOptions() Options { return Options{Listen: "127.0.0.1:7600"} }

// BindFlags registers every option on f with o's current values as
// defaults.
func (o *Options) BindFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Node, "node", o.Node, "node name (reported in events, expected in the certificate)")
	f.StringVar(&o.Listen, "listen", o.Listen, "unix:///path/to/socket or host:port")
	f.StringVar(&o.StateFile, "state-file", o.StateFile, "file keeping the last applied desired state across restarts")
	f.StringVar(&o.CA, "ca", o.CA, "CA certificate (PEM) that signs the controller's certificate")
	f.StringVar(&o.Cert, "cert", o.Cert, "agent certificate (PEM)")
	f.StringVar(&o.Key, "key", o.Key, "agent private key (PEM)")
	f.BoolVar(&o.Insecure, "insecure", o.Insecure, "serve without TLS (trusted test networks only)")
}

// Args are the arguments of `sr6 agent` (subcommand first) that reproduce
// o; options at their default are left out.
func (o Options) Args() []string {
	def := DefaultOptions()
	args := []string{"agent"}
	str := func(flag, v, d string) {
		if v != d {
			args = append(args, "--"+flag, v)
		}
	}
	str("node", o.Node, "")
	str("listen", o.Listen, def.Listen)
	str("state-file", o.StateFile, "")
	str("ca", o.CA, "")
	str("cert", o.Cert, "")
	str("key", o.Key, "")
	if o.Insecure {
		args = append(args, "--insecure")
	}
	return args
}

// Validate reports options that cannot work together, naming the flags.
func (o Options) Validate() error {
	if o.Node == "" {
		return errors.New("--node is required")
	}
	if !o.Insecure && (o.CA == "" || o.Cert == "" || o.Key == "") {
		return errors.New("--ca, --cert and --key are required (or --insecure)")
	}
	return nil
}

// Config validates o and loads its certificates into an agent Config.
func (o Options) Config(log *slog.Logger) (Config, error) {
	if err := o.Validate(); err != nil {
		return Config{}, err
	}
	cfg := Config{Node: o.Node, Listen: o.Listen, StateFile: o.StateFile, Insecure: o.Insecure, Log: log}
	if !o.Insecure {
		tlsCfg, err := pki.ServerConfig(pki.Files{CA: o.CA, Cert: o.Cert, Key: o.Key})
		if err != nil {
			return Config{}, err
		}
		cfg.TLS = tlsCfg
	}
	return cfg, nil
}
