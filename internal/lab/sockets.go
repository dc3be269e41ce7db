package lab

import (
	"fmt"
	"path/filepath"

	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/topo"
)

// unixPathMax is the longest path a unix socket can be bound to: sun_path
// holds 108 bytes, the last a NUL.
const unixPathMax = 107

// checkSocketPaths refuses, before anything is created, a lab whose unix
// sockets (agents', FRR's) would not fit in sun_path. Found by deploying:
// with a long --state-dir and long names, zebra and isisd silently failed
// to meet and deploy waited 90 s for IS-IS to converge, then rolled back.
// The topology alone cannot tell (the state directory is part of the
// path), so this is deploy's check, not validation's.
func checkSocketPaths(labDir string, nw *topo.Network, agents bool) error {
	abs, err := filepath.Abs(labDir)
	if err != nil {
		return err
	}
	l := Layout{Dir: abs}
	// The nodes that run FRR and the agent, as their kinds say.
	var paths []string
	frr, err := frrNodes(nw)
	if err != nil {
		return err
	}
	for _, n := range frr {
		paths = append(paths, l.FRRZserv(n.Name), l.FRRVty(n.Name, "isisd"), l.FRRVty(n.Name, "zebra"))
	}
	if agents {
		withAgent, err := nodeKinds().NodesRunning(nw, kinds.DaemonAgent)
		if err != nil {
			return err
		}
		for _, n := range withAgent {
			paths = append(paths, l.AgentSocket(n.Name))
		}
	}
	for _, p := range paths {
		if len(p) > unixPathMax {
			return fmt.Errorf("deploy %s: socket %s is %d bytes long, and a unix socket path is at most %d: use a shorter --state-dir (or shorter lab and node names)",
				nw.Name, p, len(p), unixPathMax)
		}
	}
	return nil
}
