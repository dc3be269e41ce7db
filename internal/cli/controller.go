package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sr6net/sr6/internal/controller"
	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/pki"
	"github.com/sr6net/sr6/internal/pm/bus"
	"github.com/sr6net/sr6/internal/pm/marking"
	"github.com/sr6net/sr6/internal/store"
	"github.com/sr6net/sr6/internal/topo"
)

func (a *app) controllerCmd() *cobra.Command {
	var labName, topoFile, listen, storeURL string
	var agentAddrs []string
	var certs pki.Files
	var plaintext bool
	var busDir, busURL, markBit string
	var retention time.Duration
	var clocksSynced bool
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the SRv6 controller: REST API, path computation, agents over gRPC",
		Long: "Run the controller of a lab (--lab) or of any network described by a topology file whose\n" +
			"routers run `sr6 agent` (--topology with one --agent NODE=ADDRESS per router).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			var nw *topo.Network
			var eps []controller.AgentEndpoint
			var err error
			switch {
			case labName != "" && topoFile != "":
				return usageError{errors.New("give --lab or --topology, not both")}
			case labName != "":
				nw, eps, err = a.labAgents(labName)
				if storeURL == "" {
					storeURL = "bolt://" + filepath.Join(a.stateDir, labName, "controller.db")
				}
				if busDir == "" {
					busDir = filepath.Join(a.stateDir, labName, "bus")
				}
			case topoFile != "":
				nw, eps, err = topologyAgents(topoFile, agentAddrs, certs, plaintext)
				if storeURL == "" {
					storeURL = "bolt://sr6-controller.db"
				}
				if busDir == "" {
					busDir = "sr6-bus"
				}
			default:
				return usageError{errors.New("give --lab NAME or --topology FILE")}
			}
			if err != nil {
				return err
			}
			st, err := store.Open(ctx, storeURL)
			if err != nil {
				return err
			}
			defer st.Close()
			agents, err := controller.DialAgents(eps, a.log)
			if err != nil {
				return err
			}
			defer agents.Close()
			c, err := controller.New(nw, st, agents, a.log)
			if err != nil {
				return err
			}
			if err := c.Load(ctx); err != nil {
				return err
			}
			b, err := openBus(ctx, busURL, busDir)
			if err != nil {
				return err
			}
			defer b.Close()
			c.SetBus(b)
			mask, err := parseMarkBit(markBit)
			if err != nil {
				return err
			}
			c.SetMarkMask(mask)
			// A lab's namespaces share this host's clock.
			c.SetClocksSynced(clocksSynced || labName != "")
			go c.ExpireResults(ctx, retention, time.Minute)
			go func() {
				if err := c.Process(ctx, b); err != nil {
					a.log.Error("measurement processor", "err", err)
				}
			}()
			return serve(ctx, a, c, agents, listen)
		},
	}
	f := cmd.Flags()
	f.StringVar(&labName, "lab", "", "control this lab (its topology, agents and certificates)")
	f.StringVar(&topoFile, "topology", "", "topology file of a network whose routers run agents")
	f.StringSliceVar(&agentAddrs, "agent", nil, "NODE=ADDRESS of an agent (host:port or unix:///path), once per router")
	f.StringVar(&certs.CA, "ca", "", "CA certificate (PEM) of the agents")
	f.StringVar(&certs.Cert, "cert", "", "controller client certificate (PEM)")
	f.StringVar(&certs.Key, "key", "", "controller client key (PEM)")
	f.BoolVar(&plaintext, "insecure", false, "talk to agents without TLS (trusted test networks only)")
	f.StringVar(&listen, "listen", "127.0.0.1:7700", "REST API address")
	f.StringVar(&markBit, "mark-bit", "fl19", "IPv6 header bit carrying the alternate-marking color: fl0..fl19 (Flow Label) or tc2..tc7 (Traffic Class DSCP bits; tc0 and tc1 are ECN)")
	f.DurationVar(&retention, "pm-retention", 24*time.Hour, "how long measurement results are kept")
	f.BoolVar(&clocksSynced, "clocks-synced", false, "the routers' clocks agree (PTP or NTP): report one-way delays (always on with --lab)")
	f.StringVar(&busURL, "bus", "", "measurement bus: empty for the embedded NATS JetStream, or kafka://broker:9092[,broker...]/topic")
	f.StringVar(&busDir, "bus-dir", "", "storage of the embedded measurement bus (NATS JetStream; default: in the lab folder)")
	f.StringVar(&storeURL, "store", "", "bolt:///path/file.db (default: in the lab folder) or etcd://host:port[,host:port]/prefix")
	return cmd
}

// parseMarkBit reads tcN or flN.
func parseMarkBit(s string) (uint32, error) {
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
	return 0, usageError{fmt.Errorf("--mark-bit %q: allowed fl0 to fl19 (Flow Label) or tc2 to tc7 (Traffic Class DSCP bits; tc0 and tc1 are ECN)", s)}
}

// openBus opens the measurement bus: the embedded NATS JetStream server in
// dir, or the Kafka cluster a kafka:// URL names.
func openBus(ctx context.Context, url, dir string) (bus.Bus, error) {
	if url == "" {
		return bus.OpenNATS(ctx, bus.NATSConfig{Dir: dir})
	}
	rest, ok := strings.CutPrefix(url, "kafka://")
	hosts, topic, _ := strings.Cut(rest, "/")
	if !ok || hosts == "" || topic == "" {
		return nil, usageError{fmt.Errorf("--bus %q: write kafka://host:port[,host:port]/topic, or leave it empty for the embedded bus", url)}
	}
	return bus.OpenKafka(ctx, strings.Split(hosts, ","), topic, "sr6-controller")
}

func (a *app) labAgents(name string) (*topo.Network, []controller.AgentEndpoint, error) {
	ls := lab.Store{Dir: a.stateDir}
	st, err := ls.Load(name)
	if err != nil {
		return nil, nil, err
	}
	nw, err := st.Network()
	if err != nil {
		return nil, nil, err
	}
	dir, err := ls.LabDir(name)
	if err != nil {
		return nil, nil, err
	}
	var eps []controller.AgentEndpoint
	for _, r := range nw.Routers() {
		tlsCfg, err := pki.ClientConfig(pki.In(lab.PKIDir(dir), lab.ControllerIdentity), r.Name)
		if err != nil {
			return nil, nil, fmt.Errorf("lab %s has no agent certificates (deployed without agents?): %w", name, err)
		}
		eps = append(eps, controller.AgentEndpoint{Node: r.Name, Addr: "unix://" + lab.AgentSocket(dir, r.Name), TLS: tlsCfg})
	}
	return nw, eps, nil
}

func topologyAgents(file string, addrs []string, certs pki.Files, plaintext bool) (*topo.Network, []controller.AgentEndpoint, error) {
	nw, err := topo.LoadNetwork(file)
	if err != nil {
		return nil, nil, err
	}
	byNode := map[string]string{}
	for _, a := range addrs {
		node, addr, ok := strings.Cut(a, "=")
		if !ok || node == "" || addr == "" {
			return nil, nil, usageError{fmt.Errorf("--agent %q: write NODE=ADDRESS", a)}
		}
		byNode[node] = addr
	}
	var eps []controller.AgentEndpoint
	for _, r := range nw.Routers() {
		addr, ok := byNode[r.Name]
		if !ok {
			return nil, nil, usageError{fmt.Errorf("--agent: no address for router %s", r.Name)}
		}
		var tlsCfg *tls.Config
		if !plaintext {
			if tlsCfg, err = pki.ClientConfig(certs, r.Name); err != nil {
				return nil, nil, err
			}
		}
		eps = append(eps, controller.AgentEndpoint{Node: r.Name, Addr: addr, TLS: tlsCfg})
	}
	return nw, eps, nil
}

func serve(ctx context.Context, a *app, c *controller.Controller, agents *controller.Agents, listen string) error {
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	srv := &http.Server{Handler: c.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = c.Run(ctx, agents) }()
	go func() { _ = c.Follow(ctx) }()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	a.log.Info("controller serving", "listen", lis.Addr().String(), "pid", os.Getpid())
	if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
