package lab

import (
	"fmt"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/controller"
	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/pki"
)

// ControllerConfig is the configuration of the controller of lab o.Lab: the
// lab's network, its agents on their sockets over mutual TLS, and its
// store, bus and token in the lab folder unless o names others.
func (s Store) ControllerConfig(o controller.Options) (controller.Config, error) {
	st, err := s.Load(o.Lab)
	if err != nil {
		return controller.Config{}, err
	}
	nw, err := stateNetwork(st)
	if err != nil {
		return controller.Config{}, err
	}
	withAgent, err := nodeKinds().NodesRunning(nw, kinds.DaemonAgent)
	if err != nil {
		return controller.Config{}, err
	}
	l, err := s.Layout(o.Lab)
	if err != nil {
		return controller.Config{}, err
	}
	var eps []controller.AgentEndpoint
	for _, r := range withAgent {
		tlsCfg, err := pki.ClientConfig(pki.In(l.PKI(), ControllerIdentity), r.Name)
		if err != nil {
			return controller.Config{}, fmt.Errorf("lab %s has no agent certificates (deployed without agents?): %w", o.Lab, err)
		}
		eps = append(eps, controller.AgentEndpoint{Node: r.Name, Addr: "unix://" + l.AgentSocket(r.Name), TLS: tlsCfg})
	}
	if o.StoreURL == "" {
		o.StoreURL = "bolt://" + l.ControllerDB()
	}
	if o.BusDir == "" {
		o.BusDir = l.ControllerBus()
	}
	if o.TokenFile == "" {
		o.TokenFile = l.APIToken()
	}
	// A lab's namespaces share this host's clock.
	o.ClocksSynced = true
	return o.Config(nw, eps)
}

// ControllerClient is a REST client of lab name's controller, sending
// token, or the lab's own token when token is "".
func (s Store) ControllerClient(name, token string) (*restv1.Client, error) {
	st, err := s.Load(name)
	if err != nil {
		return nil, err
	}
	if st.Controller == "" {
		return nil, fmt.Errorf("lab %s runs no controller (deployed with --controller=false)", name)
	}
	if token == "" {
		l, err := s.Layout(name)
		if err != nil {
			return nil, err
		}
		// The token in the lab folder (mode 0600): the CLI and the UI send
		// it to the controller.
		if token, err = restv1.ReadTokenFile(l.APIToken()); err != nil {
			return nil, fmt.Errorf("controller token of lab %s: %w", name, err)
		}
	}
	return restv1.NewClient(st.Controller, restv1.WithToken(token)), nil
}
