package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	"github.com/sr6net/sr6/internal/agent"
	"github.com/sr6net/sr6/internal/controller"
	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/pki"
	"github.com/sr6net/sr6/internal/supervise"
	"github.com/sr6net/sr6/internal/topo"
)

// ControllerIdentity names the controller's client certificate.
const ControllerIdentity = "controller"

// issueCredentials creates the lab's CA, a server certificate per router's
// agent, the controller's client certificate and, with a controller, the
// REST API token.
func (d *deployer) issueCredentials() error {
	ca, err := pki.NewCA("sr6 lab " + d.nw.Name)
	if err != nil {
		return err
	}
	dir := d.layout.PKI()
	// Kept for a change of topology that adds routers (see apply.go).
	if err := ca.SaveKey(dir); err != nil {
		return err
	}
	if _, err := ca.Issue(dir, ControllerIdentity, false); err != nil {
		return err
	}
	withAgent, err := nodeKinds().NodesRunning(d.nw, kinds.DaemonAgent)
	if err != nil {
		return err
	}
	if err := issueAll(ca, dir, d.layout, withAgent); err != nil {
		return err
	}
	if d.opts.Controller {
		_, err := controller.NewTokenFile(d.layout.APIToken())
		return err
	}
	return nil
}

// controllerName names the lab's controller in supervisor status (the
// agents' host is agentHostName).
const controllerName = "controller"

// agentOptions are the arguments node's agent runs with in a lab.
func agentOptions(l Layout, node string) agent.Options {
	f := pki.In(l.PKI(), node)
	o := agent.DefaultOptions()
	o.Node, o.Listen, o.StateFile = node, "unix://"+l.AgentSocket(node), l.AgentState(node)
	o.CA, o.Cert, o.Key = f.CA, f.Cert, f.Key
	return o
}

// daemonSpecs are the supervised daemons of the lab st describes: per
// node, in file order, the daemons its kind runs (FRR's zebra and isisd
// with `routing: isis`, isisd after zebra), then, when the lab has agents,
// the one agent host serving every agent the kinds run (see
// agentHostSpec), then the controller; the last two in the host's
// namespace.
func daemonSpecs(st *State, nw *topo.Network, l Layout, binary, stateDir string) ([]supervise.Spec, error) {
	var specs []supervise.Spec
	var agents []string
	for _, n := range nw.Nodes {
		daemons, err := nodeKinds().Daemons(nw, n)
		if err != nil {
			return nil, err
		}
		node, ns := n.Name, Namespace(st.Name, n.Name)
		for _, daemon := range daemons {
			switch daemon {
			case kinds.DaemonAgent:
				if st.Agents {
					agents = append(agents, node)
				}
			case kinds.DaemonZebra, kinds.DaemonISISd:
				spec, err := frrSpec(ns, l, node, daemon, slices.Contains(daemons, kinds.DaemonZebra))
				if err != nil {
					return nil, err
				}
				specs = append(specs, spec)
			default:
				return nil, fmt.Errorf("node %s: the lab does not know how to start daemon %q of kind %s", node, daemon, n.Kind)
			}
		}
	}
	if len(agents) > 0 {
		specs = append(specs, agentHostSpec(st, l, binary, stateDir, agents))
	}
	if st.Controller != "" {
		args, err := controllerArgs(st, l, stateDir)
		if err != nil {
			return nil, err
		}
		url := st.Controller
		specs = append(specs, supervise.Spec{
			Name: controllerName, Path: binary, Args: args,
			LogFile: l.ControllerLog(), PidFile: l.ControllerPid(),
			Ready: func(ctx context.Context) error { return controllerReady(ctx, url) },
			// At 1,024 routers it took 9 to 10 s to serve on busy cores
			// (killed four times at 10 s); a few routers need far less.
			ReadyTimeout: 10*time.Second + time.Duration(len(nw.Nodes))*10*time.Millisecond,
		})
	}
	return specs, nil
}

// controllerArgs are the arguments of the lab's controller: it listens on
// the address of the URL in the state, keeps its store and bus in the lab
// folder and reads the token deploy wrote.
func controllerArgs(st *State, l Layout, stateDir string) ([]string, error) {
	host, err := listenAddr(st.Controller)
	if err != nil {
		return nil, err
	}
	o := controller.DefaultOptions()
	o.StateDir, o.Lab, o.Listen = stateDir, st.Name, host
	o.StoreURL, o.BusDir, o.TokenFile = "bolt://"+l.ControllerDB(), l.ControllerBus(), l.APIToken()
	return o.Args(), nil
}

func listenAddr(url string) (string, error) {
	const scheme = "http://"
	if len(url) <= len(scheme) || url[:len(scheme)] != scheme {
		return "", fmt.Errorf("controller URL %q: want http://HOST:PORT", url)
	}
	host := url[len(scheme):]
	if _, _, err := net.SplitHostPort(host); err != nil {
		return "", fmt.Errorf("controller URL %q: %w", url, err)
	}
	return host, nil
}

// AgentClient dials node's agent of the lab in labDir over mutual TLS.
func AgentClient(labDir, node string) (agentv1.AgentClient, func(), error) {
	l := Layout{Dir: labDir}
	tlsCfg, err := pki.ClientConfig(pki.In(l.PKI(), ControllerIdentity), node)
	if err != nil {
		return nil, nil, err
	}
	conn, err := grpc.NewClient("unix://"+l.AgentSocket(node), grpc.WithTransportCredentials(credentials.NewTLS(tlsCfg)))
	if err != nil {
		return nil, nil, err
	}
	return agentv1.NewAgentClient(conn), func() { conn.Close() }, nil
}

// controllerReady: GET /healthz answers 200.
func controllerReady(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /healthz: %s", resp.Status)
	}
	return nil
}

// freeURL picks a free loopback port for the lab's controller.
func freeURL() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return "http://127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port), nil
}

var errNoDaemons = errors.New("lab runs no daemons")

// readyTimeout bounds how long deploy waits for the daemons.
const readyTimeout = 30 * time.Second
