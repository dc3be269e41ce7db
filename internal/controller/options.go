package controller

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/sr6net/sr6/internal/pki"
	"github.com/sr6net/sr6/internal/pm/marking"
	"github.com/sr6net/sr6/internal/topo"
)

// Options are the command-line settings of `sr6 controller`. They are
// defined once, here: the CLI binds its flags to these fields and a lab
// builds the arguments it starts its controller with from the same fields
// (Args), so the two can never disagree on a flag's name.
type Options struct {
	// Lab names the lab whose controller this is (its topology, agents,
	// certificates and folder); Topology a topology file instead, with one
	// Agents entry (NODE=ADDRESS) per router.
	Lab      string
	Topology string
	Agents   []string
	// StateDir is the folder of labs (the CLI's global --state-dir).
	StateDir string
	// CA, Cert and Key authenticate the controller to the agents of a
	// --topology network; Insecure talks to them without TLS.
	CA, Cert, Key string
	Insecure      bool
	// Listen is the REST API address; TokenFile holds its bearer token;
	// TLSCert and TLSKey, when set, serve it over HTTPS. AllowedHosts and
	// AllowedOrigins are the Host and Origin values it answers besides
	// loopback ones (needed when it listens elsewhere).
	Listen         string
	TokenFile      string
	TLSCert        string
	TLSKey         string
	AllowedHosts   []string
	AllowedOrigins []string
	// MarkBit names the IPv6 header bit carrying the alternate-marking color.
	MarkBit      string
	Retention    time.Duration
	ClocksSynced bool
	BusURL       string
	BusDir       string
	StoreURL     string
}

// DefaultOptions are the flag defaults.
func DefaultOptions() Options {
	return Options{Listen: "127.0.0.1:7700", MarkBit: "fl19", Retention: 24 * time.Hour}
}

// BindFlags registers every option except StateDir (a global flag of the
// CLI) on f, with o's current values as defaults.
func (o *Options) BindFlags(f *pflag.FlagSet) {
	f.StringVar(&o.Lab, "lab", o.Lab, "control this lab (its topology, agents and certificates)")
	f.StringVar(&o.Topology, "topology", o.Topology, "topology file of a network whose routers run agents")
	f.StringSliceVar(&o.Agents, "agent", o.Agents, "NODE=ADDRESS of an agent (host:port or unix:///path), once per router")
	f.StringVar(&o.CA, "ca", o.CA, "CA certificate (PEM) of the agents")
	f.StringVar(&o.Cert, "cert", o.Cert, "controller client certificate (PEM)")
	f.StringVar(&o.Key, "key", o.Key, "controller client key (PEM)")
	f.BoolVar(&o.Insecure, "insecure", o.Insecure, "talk to agents without TLS (trusted test networks only)")
	f.StringVar(&o.Listen, "listen", o.Listen, "REST API address (loopback unless you need it elsewhere)")
	f.StringVar(&o.TokenFile, "token-file", o.TokenFile, "file holding the REST API's bearer token (default: the lab's pki/api.token with --lab)")
	f.StringVar(&o.TLSCert, "tls-cert", o.TLSCert, "serve the REST API over HTTPS with this certificate (PEM; with --tls-key)")
	f.StringVar(&o.TLSKey, "tls-key", o.TLSKey, "private key (PEM) of --tls-cert")
	f.StringSliceVar(&o.AllowedHosts, "allowed-host", o.AllowedHosts, "Host header value the REST API answers besides loopback names (e.g. the address it listens on elsewhere); repeatable")
	f.StringSliceVar(&o.AllowedOrigins, "allowed-origin", o.AllowedOrigins, "browser Origin (scheme://host[:port]) allowed to call the REST API; repeatable")
	f.StringVar(&o.MarkBit, "mark-bit", o.MarkBit, "IPv6 header bit carrying the alternate-marking color: fl0..fl19 (Flow Label) or tc2..tc7 (Traffic Class DSCP bits; tc0 and tc1 are ECN)")
	f.DurationVar(&o.Retention, "pm-retention", o.Retention, "how long measurement results are kept")
	f.BoolVar(&o.ClocksSynced, "clocks-synced", o.ClocksSynced, "the routers' clocks agree (PTP or NTP): report one-way delays (always on with --lab)")
	f.StringVar(&o.BusURL, "bus", o.BusURL, "measurement bus: empty for the embedded NATS JetStream, or kafka://broker:9092[,broker...]/topic")
	f.StringVar(&o.BusDir, "bus-dir", o.BusDir, "storage of the embedded measurement bus (NATS JetStream; default: in the lab folder)")
	f.StringVar(&o.StoreURL, "store", o.StoreURL, "bolt:///path/file.db (default: in the lab folder) or etcd://host:port[,host:port]/prefix")
}

// Args are the arguments of `sr6 controller` (subcommand first) that
// reproduce o: options at their default are left out.
func (o Options) Args() []string {
	def := DefaultOptions()
	args := []string{"controller"}
	str := func(flag, v, d string) {
		if v != d {
			args = append(args, "--"+flag, v)
		}
	}
	str("state-dir", o.StateDir, "")
	str("lab", o.Lab, "")
	str("topology", o.Topology, "")
	for _, a := range o.Agents {
		args = append(args, "--agent", a)
	}
	str("ca", o.CA, "")
	str("cert", o.Cert, "")
	str("key", o.Key, "")
	if o.Insecure {
		args = append(args, "--insecure")
	}
	str("listen", o.Listen, def.Listen)
	str("token-file", o.TokenFile, "")
	str("tls-cert", o.TLSCert, "")
	str("tls-key", o.TLSKey, "")
	for _, h := range o.AllowedHosts {
		args = append(args, "--allowed-host", h)
	}
	for _, h := range o.AllowedOrigins {
		args = append(args, "--allowed-origin", h)
	}
	str("mark-bit", o.MarkBit, def.MarkBit)
	if o.Retention != def.Retention {
		args = append(args, "--pm-retention", o.Retention.String())
	}
	if o.ClocksSynced {
		args = append(args, "--clocks-synced")
	}
	str("bus", o.BusURL, "")
	str("bus-dir", o.BusDir, "")
	str("store", o.StoreURL, "")
	return args
}

// ParseMarkBit reads tcN or flN into the mask of that IPv6 header bit.
func ParseMarkBit(s string) (uint32, error) {
	if len(s) > 2 {
		if n, err := strconv.Atoi(s[2:]); err == nil {
			switch s[:2] {
			case "tc":
				// Bits 0 and 1 are ECN: a color there would mark packets.
				if n >= 2 {
					if m, err := marking.TrafficClassBit(n); err == nil {
						return m, nil
					}
				}
			case "fl":
				if m, err := marking.FlowLabelBit(n); err == nil {
					return m, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("mark bit %q: allowed fl0 to fl19 (Flow Label) or tc2 to tc7 (Traffic Class DSCP bits; tc0 and tc1 are ECN)", s)
}

// Endpoints reads one NODE=ADDRESS entry per node in withAgent (the nodes
// whose kind runs an agent) from o.Agents, with the TLS identity o names
// (or none with Insecure).
func (o Options) Endpoints(withAgent []*topo.Node) ([]AgentEndpoint, error) {
	byNode := map[string]string{}
	for _, a := range o.Agents {
		node, addr, ok := strings.Cut(a, "=")
		if !ok || node == "" || addr == "" {
			return nil, fmt.Errorf("--agent %q: write NODE=ADDRESS", a)
		}
		byNode[node] = addr
	}
	var eps []AgentEndpoint
	for _, r := range withAgent {
		addr, ok := byNode[r.Name]
		if !ok {
			return nil, fmt.Errorf("--agent: no address for node %s", r.Name)
		}
		var tlsCfg *tls.Config
		if !o.Insecure {
			var err error
			if tlsCfg, err = pki.ClientConfig(pki.Files{CA: o.CA, Cert: o.Cert, Key: o.Key}, r.Name); err != nil {
				return nil, err
			}
		}
		eps = append(eps, AgentEndpoint{Node: r.Name, Addr: addr, TLS: tlsCfg})
	}
	return eps, nil
}

// Config turns o into the Config of a controller of nw whose agents are at
// eps. Store, bus and token default to files in the working directory.
func (o Options) Config(nw *topo.Network, eps []AgentEndpoint) (Config, error) {
	mask, err := ParseMarkBit(o.MarkBit)
	if err != nil {
		return Config{}, fmt.Errorf("--mark-bit: %w", err)
	}
	if o.StoreURL == "" {
		o.StoreURL = "bolt://sr6-controller.db"
	}
	if o.BusDir == "" {
		o.BusDir = "sr6-bus"
	}
	if o.TokenFile == "" {
		o.TokenFile = "sr6-controller.token"
	}
	token, err := ReadOrCreateToken(o.TokenFile)
	if err != nil {
		return Config{}, err
	}
	var tlsCfg *tls.Config
	switch {
	case o.TLSCert != "" && o.TLSKey != "":
		cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
		if err != nil {
			return Config{}, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	case o.TLSCert != "" || o.TLSKey != "":
		return Config{}, errors.New("--tls-cert and --tls-key go together")
	}
	return Config{Network: nw, Agents: eps, StoreURL: o.StoreURL, BusURL: o.BusURL, BusDir: o.BusDir,
		MarkMask: mask, ClocksSynced: o.ClocksSynced, Retention: o.Retention, Listen: o.Listen, Token: token,
		TLS: tlsCfg, AllowedHosts: o.AllowedHosts, AllowedOrigins: o.AllowedOrigins}, nil
}
