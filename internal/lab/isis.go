package lab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/supervise"
	"github.com/sr6net/sr6/internal/topo"
	"github.com/sr6net/sr6/internal/underlay"
)

// FRRDir is where Debian's frr package installs its daemons.
const FRRDir = "/usr/lib/frr"

// configureISIS checks that FRR is installed and writes the configuration
// of every node whose kind runs zebra or isisd into its folder; the lab's
// supervisor starts the daemons (see frrSpec).
func (d *deployer) configureISIS(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(FRRDir, "isisd")); err != nil {
		return fmt.Errorf("routing isis needs FRR (Debian package frr): %w", err)
	}
	owner, err := frrOwner()
	if err != nil {
		return err
	}
	if err := searchable(d.layout.Dir); err != nil {
		return fmt.Errorf("FRR daemons run as user %s: %w", frrUser, err)
	}
	nodes, err := frrNodes(d.nw)
	if err != nil {
		return err
	}
	return d.eachNode(ctx, nodes, func(n *topo.Node) error {
		// Each node's FRR files live in its own folder of the lab, so
		// that labs and nodes never share a socket or pid file.
		l, dir := d.layout, d.layout.Node(n.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		// FRR daemons drop privileges to the frr user, which must be able to
		// write their pid files, sockets and log here.
		if err := os.Chown(dir, owner.uid, owner.gid); err != nil {
			return err
		}
		cfg := underlay.ISISConfig(n)
		for daemon, text := range map[kinds.Daemon]string{kinds.DaemonZebra: cfg.Zebra, kinds.DaemonISISd: cfg.ISISd} {
			if err := os.WriteFile(l.FRRConf(n.Name, string(daemon)), []byte(text), 0o644); err != nil {
				return err
			}
		}
		return nil
	})
}

// frrNodes are the nodes of nw whose kind runs zebra or isisd, in file
// order.
func frrNodes(nw *topo.Network) ([]*topo.Node, error) {
	var out []*topo.Node
	for _, n := range nw.Nodes {
		ds, err := nodeKinds().Daemons(nw, n)
		if err != nil {
			return nil, err
		}
		if slices.Contains(ds, kinds.DaemonZebra) || slices.Contains(ds, kinds.DaemonISISd) {
			out = append(out, n)
		}
	}
	return out, nil
}

// convergeISIS waits until every node running isisd has learned its
// routes (see waitConverged).
func (d *deployer) convergeISIS(ctx context.Context) error {
	nodes, err := nodeKinds().NodesRunning(d.nw, kinds.DaemonISISd)
	if err != nil {
		return err
	}
	return d.waitConverged(ctx, nodes)
}

// frrName names an FRR daemon of node in supervisor status, as agentName
// does agents: "zebra/r1".
func frrName(daemon kinds.Daemon, node string) string { return string(daemon) + "/" + node }

// frrSpec is the supervised FRR daemon (zebra or isisd) of node, in its
// namespace ns. It runs in the foreground (no -d), so that it is the
// supervisor's child; its own pid file (-i) only keeps a second copy from
// starting. isisd runs after zebra of the same node: started before zebra
// serves, it waits about 10 s to reconnect, and after a zebra restart FRR
// 8.4's isisd reconnects but never installs its routes again.
func frrSpec(ns string, l Layout, node string, daemon kinds.Daemon, withZebra bool) (supervise.Spec, error) {
	name := string(daemon)
	spec := supervise.Spec{
		Name: frrName(daemon, node), Netns: ns, Path: filepath.Join(FRRDir, name),
		Args: []string{
			"-f", l.FRRConf(node, name), "-i", l.FRRLockPid(node, name), "-z", l.FRRZserv(node),
			"--vty_socket", l.FRRVtyDir(node), "-u", frrUser, "-g", frrUser, "-P", "0",
			"--log", "file:" + l.FRRLog(node),
		},
		LogFile: l.FRROut(node, name), PidFile: l.FRRPid(node, name),
		Ready: func(ctx context.Context) error { return frrReady(ctx, l, node, daemon) },
	}
	switch daemon {
	case kinds.DaemonZebra:
	case kinds.DaemonISISd:
		if !withZebra {
			return supervise.Spec{}, fmt.Errorf("node %s runs isisd without zebra, which it needs", node)
		}
		spec.After = []string{frrName(kinds.DaemonZebra, node)}
	default:
		return supervise.Spec{}, fmt.Errorf("node %s: %q is not an FRR daemon sr6 knows", node, daemon)
	}
	return spec, nil
}

// frrReady: the daemon answers a command on its vty socket. Only its main
// loop answers, the loop that also accepts zebra's clients and runs IS-IS,
// and zebra opens its API socket (zserv) before that loop starts: an answer
// proves the daemon serves. (Dialling zserv and hanging up would also
// prove it, but zebra logs each such client as an error.)
func frrReady(ctx context.Context, l Layout, node string, daemon kinds.Daemon) error {
	_, err := vtyCommand(ctx, l.FRRVty(node, string(daemon)), "show version")
	return err
}

// vtyCommand runs one command on an FRR daemon's vty socket as vtysh does:
// it sends the command NUL-terminated, and the daemon answers with the
// output, three NUL bytes and a status byte (0 is CMD_SUCCESS).
func vtyCommand(ctx context.Context, socket, command string) (string, error) {
	var dialer net.Dialer
	conn, err := dialer.DialContext(ctx, "unix", socket)
	if err != nil {
		return "", fmt.Errorf("vty: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := conn.Write(append([]byte(command), 0)); err != nil {
		return "", fmt.Errorf("vty %s: %w", socket, err)
	}
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := conn.Read(buf)
		out = append(out, buf[:n]...)
		if k := len(out); k >= 4 && out[k-4] == 0 && out[k-3] == 0 && out[k-2] == 0 {
			text := string(out[:k-4])
			if status := out[k-1]; status != 0 {
				return text, fmt.Errorf("vty %s: %q: status %d: %s", socket, command, status, lastLines(text, 2))
			}
			return text, nil
		}
		if err != nil {
			return "", fmt.Errorf("vty %s: %q: %w", socket, command, err)
		}
	}
}

// frrUser is the account Debian's frr package runs its daemons as.
const frrUser = "frr"

type ids struct{ uid, gid int }

func frrOwner() (ids, error) {
	u, err := user.Lookup(frrUser)
	if err != nil {
		return ids{}, fmt.Errorf("routing isis needs the %s user of the FRR package: %w", frrUser, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err1 != nil || err2 != nil {
		return ids{}, fmt.Errorf("user %s has non-numeric ids %s:%s", frrUser, u.Uid, u.Gid)
	}
	return ids{uid: uid, gid: gid}, nil
}

// searchable checks that every folder down to dir lets other users
// through (o+x), as the frr user needs to reach its files.
func searchable(dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return err
		}
		if st.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("it cannot enter %s (mode %v): use a --state-dir it can reach, or chmod o+x %s", p, st.Mode().Perm(), p)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// waitConverged polls the kernel routes of each of nodes (those running
// isisd) until the IGP has installed a route to the loopback and locator of
// every underlay node in the same connected part of the graph.
func (d *deployer) waitConverged(ctx context.Context, nodes []*topo.Node) error {
	ctx, cancel := context.WithTimeout(ctx, d.opts.ConvergeTimeout)
	defer cancel()
	start := time.Now()
	pending := map[*topo.Node][]netip.Prefix{}
	for _, r := range nodes {
		dist, _ := underlay.ShortestPaths(d.nw, r)
		for o := range dist {
			if o != r {
				pending[r] = append(pending[r], netip.PrefixFrom(o.Loopback, 128), o.Locator)
			}
		}
	}
	for {
		for r, want := range pending {
			missing, err := missingRoutes(d.ns(r), want)
			if err != nil {
				return err
			}
			if len(missing) == 0 {
				delete(pending, r)
			} else {
				pending[r] = missing
			}
		}
		if len(pending) == 0 {
			fmt.Fprintf(d.opts.Progress, "  isis converged after %s\n", time.Since(start).Round(time.Millisecond))
			return nil
		}
		select {
		case <-ctx.Done():
			for r, m := range pending {
				return fmt.Errorf("IS-IS did not converge within %s: %s has no route to %v (logs in %s)",
					d.opts.ConvergeTimeout, r.Name, m, d.layout.FRRLog(r.Name))
			}
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func missingRoutes(ns string, want []netip.Prefix) ([]netip.Prefix, error) {
	var missing []netip.Prefix
	err := withHandle(ns, func(h *netlink.Handle) error {
		routes, err := h.RouteList(nil, netlink.FAMILY_V6)
		if err != nil {
			return err
		}
		have := map[netip.Prefix]bool{}
		for _, rt := range routes {
			if rt.Dst == nil || rt.Type != unix.RTN_UNICAST {
				continue
			}
			ones, _ := rt.Dst.Mask.Size()
			if a, ok := netip.AddrFromSlice(rt.Dst.IP); ok {
				have[netip.PrefixFrom(a, ones)] = true
			}
		}
		for _, p := range want {
			if !have[p] {
				missing = append(missing, p)
			}
		}
		return nil
	})
	return missing, err
}
