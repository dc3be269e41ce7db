package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/supervise"
	"github.com/sr6net/sr6/internal/topo"
)

// Inspection is the live view of a lab: its plan joined with what the
// kernel reports now.
type Inspection struct {
	Name     string       `json:"name"`
	Source   string       `json:"source"`
	Phase    string       `json:"phase"`
	Routing  string       `json:"routing"`
	Deployed time.Time    `json:"deployed"`
	Nodes    []NodeStatus `json:"nodes"`
	// Supervisor and Daemons are the lab's supervised daemons (FRR's,
	// agents, controller); absent for a lab that runs none.
	Supervisor *SupervisorHealth  `json:"supervisor,omitempty"`
	Daemons    []supervise.Status `json:"daemons,omitempty"`
}

// SupervisorHealth tells whether a lab's supervisor runs.
type SupervisorHealth struct {
	PID     int  `json:"pid,omitempty"`
	Running bool `json:"running"`
}

// Daemon states Inspect reports when the supervisor is not running, so
// that its last word is not taken for the truth.
const (
	// DaemonUnsupervised: the process runs, but nothing restarts it.
	DaemonUnsupervised supervise.State = "unsupervised"
	// DaemonDead: the process is gone and nothing restarts it.
	DaemonDead supervise.State = "dead"
)

// NodeStatus is one node of an Inspection.
type NodeStatus struct {
	Name       string            `json:"name"`
	Kind       string            `json:"kind"`
	Namespace  string            `json:"namespace"`
	Present    bool              `json:"present"`
	Loopback   *netip.Addr       `json:"loopback,omitempty"`
	Locator    *netip.Prefix     `json:"locator,omitempty"`
	SIDs       *topo.SIDs        `json:"sids,omitempty"`
	Interfaces []InterfaceStatus `json:"interfaces"`
	Processes  []string          `json:"processes,omitempty"`
	// Agent says which process serves the node's agent (the lab's agent
	// host, which runs outside the node's namespace); "" without one.
	Agent string `json:"agent,omitempty"`
}

// InterfaceStatus is one interface of a NodeStatus.
type InterfaceStatus struct {
	Name      string   `json:"name"`
	Peer      string   `json:"peer"`
	State     string   `json:"state"` // kernel operstate, "missing" if absent
	Addresses []string `json:"addresses"`
	// Impairment is what is done to the packets the interface sends: the
	// topology's, or the one set at runtime (sr6 lab impair).
	Impairment *restv1.Impairment `json:"impairment,omitempty"`
}

// Inspect reports lab name as planned and as the kernel sees it now.
func Inspect(ctx context.Context, name string, opts Options) (*Inspection, error) {
	opts.defaults()
	st, err := opts.Store.Load(name)
	if err != nil {
		return nil, err
	}
	nw, err := stateNetwork(st)
	if err != nil {
		return nil, fmt.Errorf("lab %s: stored topology: %w", name, err)
	}
	in := &Inspection{Name: st.Name, Source: st.Source, Phase: st.Phase, Routing: nw.Routing,
		Deployed: st.Deployed}
	impaired := effectiveImpairments(st, nw)
	for _, n := range nw.Nodes {
		ns := Namespace(name, n.Name)
		s := NodeStatus{Name: n.Name, Kind: n.Kind, Namespace: ns, Present: nsutil.Exists(ns)}
		if n.Has(topo.SRv6) {
			s.Loopback, s.Locator, s.SIDs = &n.Loopback, &n.Locator, &n.SIDs
		}
		for _, ifc := range n.Interfaces {
			is := InterfaceStatus{Name: ifc.Name, Peer: endpointName(ifc.Peer), State: "missing", Addresses: []string{}}
			if imp, ok := impaired[endpointName(ifc)]; ok {
				is.Impairment = &imp
			}
			s.Interfaces = append(s.Interfaces, is)
		}
		if s.Present {
			if err := readInterfaces(ns, s.Interfaces); err != nil {
				return nil, fmt.Errorf("inspect %s: %w", n.Name, err)
			}
			pids, _ := nsutil.PIDs(ns)
			for _, pid := range pids {
				if comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); err == nil {
					s.Processes = append(s.Processes, fmt.Sprintf("%s[%d]", strings.TrimSpace(string(comm)), pid))
				}
			}
		}
		in.Nodes = append(in.Nodes, s)
	}
	if err := markAgents(st, nw, opts.Store, in.Nodes); err != nil {
		return nil, err
	}
	if supervised(st, nw) {
		layout, err := opts.Store.Layout(name)
		if err != nil {
			return nil, err
		}
		in.Supervisor, in.Daemons = daemonHealth(layout)
	}
	return in, nil
}

// daemonHealth joins the supervisor's status file with whether the
// supervisor still runs; without it, each daemon's pid is checked here.
func daemonHealth(l Layout) (*SupervisorHealth, []supervise.Status) {
	pid, running := supervise.Running(l.SupervisorPid())
	h := &SupervisorHealth{PID: pid, Running: running}
	st, err := ReadDaemonsStatus(l)
	if err != nil {
		return h, nil
	}
	ds := st.Daemons
	if running && st.Supervisor == pid {
		return h, ds
	}
	// The pid file's start time tells a daemon from a later process that
	// reuses its pid.
	for i := range ds {
		if pid, ok := supervise.Running(ds[i].PidFile); ok && ds[i].PidFile != "" {
			ds[i].State, ds[i].PID = DaemonUnsupervised, pid
		} else {
			ds[i].State, ds[i].PID = DaemonDead, 0
		}
	}
	return h, ds
}

func readInterfaces(ns string, ifcs []InterfaceStatus) error {
	return withHandle(ns, func(h *netlink.Handle) error {
		for i := range ifcs {
			link, err := h.LinkByName(ifcs[i].Name)
			if err != nil {
				continue
			}
			ifcs[i].State = link.Attrs().OperState.String()
			addrs, err := h.AddrList(link, netlink.FAMILY_ALL)
			if err != nil {
				return err
			}
			for _, a := range addrs {
				if a.IP.IsLinkLocalUnicast() {
					continue
				}
				ifcs[i].Addresses = append(ifcs[i].Addresses, a.IPNet.String())
			}
		}
		return nil
	})
}

// List returns the labs this store knows, with their phase.
func List(opts Options) (map[string]string, error) {
	opts.defaults()
	names, err := opts.Store.List()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range names {
		if st, err := opts.Store.Load(n); err == nil {
			out[n] = st.Phase
		}
	}
	return out, nil
}

// Exec replaces the current process with argv running in node's namespace
// of lab name.
func Exec(name, node string, argv []string, opts Options) error {
	opts.defaults()
	st, err := opts.Store.Load(name)
	if err != nil {
		return err
	}
	ns := Namespace(name, node)
	found := false
	for _, n := range st.Namespaces {
		found = found || n == ns
	}
	if !found {
		return fmt.Errorf("lab %s has no node %q", name, node)
	}
	if len(argv) == 0 {
		shell := os.Getenv("SHELL")
		if shell == "" {
			shell = "/bin/sh"
		}
		argv = []string{shell}
	}
	return nsutil.Exec(ns, argv, append(os.Environ(), "SR6_LAB="+name, "SR6_NODE="+node))
}
