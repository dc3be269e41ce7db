package lab

import "path/filepath"

// Layout is the folder of one lab and every file sr6 keeps in it, named
// once here (docs/lab.md has the same table). Everything a lab owns on disk
// lives under Dir, except its lock, so that destroy can remove the folder
// while it holds the lock.
type Layout struct{ Dir string }

// Layout is the folder layout of lab name; a name that breaks the lab-name
// rule is refused, so that no path of it leaves the state directory.
func (s Store) Layout(name string) (Layout, error) {
	dir, err := s.LabDir(name)
	if err != nil {
		return Layout{}, err
	}
	return Layout{Dir: dir}, nil
}

func (l Layout) join(parts ...string) string {
	return filepath.Join(append([]string{l.Dir}, parts...)...)
}

// State is the lab's state file (see State).
func (l Layout) State() string { return l.join("state.json") }

// Lock is the lab's lock file, beside its folder.
func (l Layout) Lock() string {
	return filepath.Join(filepath.Dir(l.Dir), "."+filepath.Base(l.Dir)+".lock")
}

// PKI holds the lab's CA, certificates and the REST API token.
func (l Layout) PKI() string { return l.join("pki") }

// APIToken holds the bearer token of the lab controller's REST API (hex,
// mode 0600).
func (l Layout) APIToken() string { return l.join("pki", "api.token") }

// Node is the folder of one node's files.
func (l Layout) Node(node string) string { return l.join(node) }

// AgentSocket is where node's agent listens (gRPC over mutual TLS).
func (l Layout) AgentSocket(node string) string { return l.join(node, "agent.sock") }

// AgentState keeps the desired state node's agent applied last.
func (l Layout) AgentState(node string) string { return l.join(node, "agent.state") }

// AgentLog is node's agent's output.
func (l Layout) AgentLog(node string) string { return l.join(node, "agent.log") }

// AgentPid named the running agent of node when each had a process of its
// own (sr6 before the agent host); destroy still ends one it finds.
func (l Layout) AgentPid(node string) string { return l.join(node, "agent.pid") }

// AgentHostLog is the output of the lab's agent host (the process serving
// every router's agent); each agent also logs to its AgentLog.
func (l Layout) AgentHostLog() string { return l.join("agents.log") }

// AgentHostPid names the running agent host, for its supervisor.
func (l Layout) AgentHostPid() string { return l.join("agents.pid") }

// ControllerLog is the lab controller's output.
func (l Layout) ControllerLog() string { return l.join("controller.log") }

// ControllerDB is the lab controller's bbolt store.
func (l Layout) ControllerDB() string { return l.join("controller.db") }

// ControllerBus is the storage of the controller's embedded measurement
// bus.
func (l Layout) ControllerBus() string { return l.join("bus") }

// ControllerPid names the running controller, for its supervisor.
func (l Layout) ControllerPid() string { return l.join("controller.pid") }

// SupervisorPid names the lab's running supervisor.
func (l Layout) SupervisorPid() string { return l.join("supervisor.pid") }

// SupervisorStatus is the supervisor's view of its daemons (see
// DaemonsStatus), rewritten atomically on every change.
func (l Layout) SupervisorStatus() string { return l.join("supervisor.json") }

// SupervisorLog is the supervisor's output.
func (l Layout) SupervisorLog() string { return l.join("supervisor.log") }

// FRRConf is the configuration of an FRR daemon (zebra, isisd) of node.
func (l Layout) FRRConf(node, daemon string) string { return l.join(node, daemon+".conf") }

// FRRPid names the running FRR daemon (zebra, isisd) of node, for its
// supervisor, as AgentPid does the agent.
func (l Layout) FRRPid(node, daemon string) string { return l.join(node, daemon+".pid") }

// FRRLockPid is the pid file an FRR daemon of node writes and locks itself
// (-i): a second copy of the daemon refuses to start while the first holds
// it. sr6 does not read it.
func (l Layout) FRRLockPid(node, daemon string) string { return l.join(node, daemon+".frr-pid") }

// FRRVty is the vty socket of an FRR daemon of node (in FRRVtyDir), which
// vtysh and the readiness check talk to.
func (l Layout) FRRVty(node, daemon string) string {
	return filepath.Join(l.FRRVtyDir(node), daemon+".vty")
}

// FRROut catches what an FRR daemon prints (its supervised output) besides
// what it logs to FRRLog.
func (l Layout) FRROut(node, daemon string) string { return l.join(node, daemon+".out") }

// FRRZserv is zebra's API socket of node.
func (l Layout) FRRZserv(node string) string { return l.join(node, "zserv.api") }

// FRRLog is the shared log of node's FRR daemons.
func (l Layout) FRRLog(node string) string { return l.join(node, "frr.log") }

// FRRVtyDir is where node's FRR daemons put their vty sockets.
func (l Layout) FRRVtyDir(node string) string { return l.Node(node) }
