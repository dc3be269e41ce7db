package lab

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/topo"
	"github.com/sr6net/sr6/internal/underlay"
)

// FRRDir is where Debian's frr package installs its daemons.
const FRRDir = "/usr/lib/frr"

// startISIS writes each router's configuration, starts zebra and isisd in
// its namespace and waits until every router has learned a route to the
// loopback and locator of every router it is connected to.
func (d *deployer) startISIS(ctx context.Context) error {
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
	routers := d.nw.Routers()
	err = d.eachNode(ctx, routers, func(r *topo.Node) error {
		// Each router's FRR files live in its own folder of the lab, so
		// that labs and routers never share a socket or pid file.
		l, dir := d.layout, d.layout.Node(r.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		// FRR daemons drop privileges to the frr user, which must be able to
		// write their pid files, sockets and log here.
		if err := os.Chown(dir, owner.uid, owner.gid); err != nil {
			return err
		}
		cfg := underlay.ISISConfig(r)
		for daemon, text := range map[string]string{"zebra": cfg.Zebra, "isisd": cfg.ISISd} {
			if err := os.WriteFile(l.FRRConf(r.Name, daemon), []byte(text), 0o644); err != nil {
				return err
			}
		}
		for _, daemon := range []string{"zebra", "isisd"} {
			if err := startDaemon(ctx, d.ns(r), l, r.Name, daemon); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return d.waitConverged(ctx, routers)
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

// startDaemon starts an FRR daemon in the background (-d) in namespace ns
// and waits for its pid file, which FRR writes once it is initialised.
func startDaemon(ctx context.Context, ns string, l Layout, node, daemon string) error {
	args := []string{
		"-d", "-f", l.FRRConf(node, daemon), "-i", l.FRRPid(node, daemon), "-z", l.FRRZserv(node),
		"--vty_socket", l.FRRVtyDir(node), "-u", frrUser, "-g", frrUser, "-P", "0",
		"--log", "file:" + l.FRRLog(node),
	}
	cmd := exec.CommandContext(ctx, filepath.Join(FRRDir, daemon), args...)
	out, err := os.OpenFile(l.FRROut(node, daemon), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	// -d forks the daemon and the parent exits: Run returns when it has.
	if err := nsutil.Run(ns, cmd); err != nil {
		// The lab folder goes away on rollback: carry the daemon's words.
		msg, _ := os.ReadFile(out.Name())
		logTail, _ := os.ReadFile(l.FRRLog(node))
		return fmt.Errorf("start %s: %w: %s", daemon, err, lastLines(string(msg)+string(logTail), 3))
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(l.FRRPid(node, daemon)); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s wrote no pid file within 10s (see %s)", daemon, l.FRRLog(node))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waitConverged polls each router's kernel routes until the IGP has
// installed a route to the loopback and locator of every router in the same
// connected part of the graph.
func (d *deployer) waitConverged(ctx context.Context, routers []*topo.Node) error {
	ctx, cancel := context.WithTimeout(ctx, d.opts.ConvergeTimeout)
	defer cancel()
	start := time.Now()
	pending := map[*topo.Node][]netip.Prefix{}
	for _, r := range routers {
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
