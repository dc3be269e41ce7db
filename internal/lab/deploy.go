package lab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/topo"
)

// Options tune lab operations.
type Options struct {
	Store    Store
	Log      *slog.Logger
	Progress io.Writer // human progress lines; nil for none
	// Parallel bounds concurrent per-node work; 0 picks a default.
	Parallel int
	// Replace lets deploy tear down a lab of the same name that was
	// deployed from a different topology.
	Replace bool
	// ConvergeTimeout bounds the wait for IS-IS to converge.
	ConvergeTimeout time.Duration
	// Agents starts `sr6 agent` in every router; Controller also starts
	// `sr6 controller` for the lab (it needs the agents).
	Agents, Controller bool
	// Binary is the sr6 executable run for agents and the controller;
	// "" is this process's own executable.
	Binary string
}

func (o *Options) defaults() {
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Parallel <= 0 {
		// Namespace and netlink work is mostly kernel time under a few
		// global locks; a small multiple of the cores keeps them busy.
		o.Parallel = 4 * runtime.NumCPU()
	}
	if o.ConvergeTimeout <= 0 {
		o.ConvergeTimeout = 90 * time.Second
	}
	if o.Binary == "" {
		o.Binary, _ = os.Executable()
	}
	if o.Controller {
		o.Agents = true
	}
}

// ErrNotRoot is returned when a lab operation needs privileges sr6 lacks.
var ErrNotRoot = errors.New("lab operations need root (CAP_SYS_ADMIN and CAP_NET_ADMIN) to create network namespaces")

// Deploy builds the lab described by nw; source is the topology file text
// and sourceName its file name (kept in the state file). Deploying the same
// topology again is a no-op; a failed deploy is rolled back, leaving nothing.
func Deploy(ctx context.Context, nw *topo.Network, sourceName string, source []byte, opts Options) (*State, error) {
	opts.defaults()
	if os.Geteuid() != 0 {
		return nil, ErrNotRoot
	}
	unlock, err := opts.Store.Lock(nw.Name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	layout, err := opts.Store.Layout(nw.Name)
	if err != nil {
		return nil, err
	}
	if err := checkSocketPaths(layout.Dir, nw, opts.Agents); err != nil {
		return nil, err
	}

	hash := topologyHash(source)
	if old, err := opts.Store.Load(nw.Name); err == nil {
		switch {
		case old.Phase == PhaseRunning && old.Hash == hash && allExist(old.Namespaces):
			return reconverge(ctx, nw, old, layout, opts)
		case (old.Phase == PhaseRunning && old.Hash != hash || old.Phase == PhaseUpdating) && !opts.Replace:
			// Another topology (or a change that stopped half way): apply
			// only the difference.
			return deployChange(ctx, old, sourceName, source, layout, opts)
		}
		fmt.Fprintf(opts.Progress, "lab %s: removing the previous deployment (%s)\n", nw.Name, old.Phase)
		if err := destroyLocked(ctx, nw.Name, old, opts); err != nil {
			return nil, fmt.Errorf("deploy %s: clear previous deployment: %w", nw.Name, err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if leftovers := labNamespaces(nw.Name); len(leftovers) > 0 {
		return nil, fmt.Errorf("deploy %s: namespaces %v exist but the lab has no state; run `sr6 lab destroy %s` first",
			nw.Name, leftovers, nw.Name)
	}

	st := &State{Name: nw.Name, Source: sourceName, Topology: string(source), Hash: hash,
		Phase: PhaseDeploying, Deployed: time.Now().UTC()}
	for _, n := range nw.Nodes {
		st.Namespaces = append(st.Namespaces, Namespace(nw.Name, n.Name))
	}
	// Written first: from here on a crash leaves a state file naming every
	// namespace this deploy may create.
	if err := opts.Store.Save(st); err != nil {
		return nil, err
	}
	d := &deployer{nw: nw, opts: opts, layout: layout, st: st}
	start := time.Now()
	routers := len(nw.Routers())
	fmt.Fprintf(opts.Progress, "deploying lab %s: %d routers, %d hosts, %d links, routing %s\n",
		nw.Name, routers, len(nw.Nodes)-routers, len(nw.Links), nw.Routing)
	if err := d.run(ctx); err != nil {
		switch {
		case ctx.Err() != nil && errors.Is(err, ctx.Err()):
			err = fmt.Errorf("interrupted: %w", err)
		case ctx.Err() != nil:
			// A step waiting when the signal came reports its own
			// timeout or failure: the cause is the interruption.
			err = fmt.Errorf("interrupted (%w) during: %w", ctx.Err(), err)
		}
		fmt.Fprintf(opts.Progress, "deploy failed, rolling back: %v\n", err)
		if derr := destroyLocked(context.WithoutCancel(ctx), nw.Name, st, opts); derr != nil {
			return nil, fmt.Errorf("deploy %s: %w (rollback also failed: %v)", nw.Name, err, derr)
		}
		return nil, fmt.Errorf("deploy %s: %w", nw.Name, err)
	}
	st.Phase = PhaseRunning
	if err := opts.Store.Save(st); err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Progress, "lab %s deployed in %s\n", nw.Name, time.Since(start).Round(time.Millisecond))
	return st, nil
}

func allExist(namespaces []string) bool {
	for _, ns := range namespaces {
		if !nsutil.Exists(ns) {
			return false
		}
	}
	return true
}

// labNamespaces lists the existing namespaces named after lab.
func labNamespaces(lab string) []string {
	all, _ := nsutil.List()
	var out []string
	for _, ns := range all {
		if l, ok := labOf(ns); ok && l == lab {
			out = append(out, ns)
		}
	}
	return out
}

// reconverge brings a running lab's daemons back: a deploy of the same
// topology starts what is missing instead of doing nothing.
func reconverge(ctx context.Context, nw *topo.Network, st *State, layout Layout, opts Options) (*State, error) {
	if !supervised(st, nw) {
		fmt.Fprintf(opts.Progress, "lab %s is already deployed from this topology (without daemons): nothing to do\n", nw.Name)
		return st, nil
	}
	// A lab whose daemons no supervisor ever owned was deployed by an
	// older sr6, whose FRR daemons wrote pid files of another format:
	// supervising it now would start second copies beside them.
	if _, err := os.Stat(layout.SupervisorStatus()); errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("deploy %s: the lab was deployed by an older sr6 (its daemons have no supervisor): redeploy it with --replace", nw.Name)
	}
	d := &deployer{nw: nw, opts: opts, layout: layout, st: st}
	report, err := d.ensureDaemons(ctx)
	for _, line := range report {
		fmt.Fprintf(opts.Progress, "  %s\n", line)
	}
	if err == nil && nw.Routing == topo.RoutingISIS {
		// A restarted isisd or zebra has its routes again only once IS-IS
		// has converged.
		err = d.convergeISIS(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("deploy %s: %w", nw.Name, err)
	}
	if len(report) == 0 {
		fmt.Fprintf(opts.Progress, "lab %s is already deployed from this topology, its daemons ready: nothing to do\n", nw.Name)
	} else {
		fmt.Fprintf(opts.Progress, "lab %s re-converged: every daemon ready\n", nw.Name)
	}
	return st, nil
}

// deployer runs the steps of one deploy.
type deployer struct {
	nw     *topo.Network
	opts   Options
	layout Layout
	st     *State // saved again once the daemons are known
	// only limits the steps to some nodes and links (a change of a running
	// lab: see apply.go); nil acts on the whole network.
	only *subset
}

func (d *deployer) run(ctx context.Context) error {
	steps := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"namespaces", d.createNamespaces},
		{"links", d.createLinks},
		{"interfaces", d.configureInterfaces},
		{"carrier", d.waitCarrier},
		{"routes and SIDs", d.installRoutes},
		{"impairments", d.applyImpairments},
	}
	type step = struct {
		name string
		fn   func(context.Context) error
	}
	isis := d.nw.Routing == topo.RoutingISIS
	if isis {
		steps = append(steps, step{"isis config", d.configureISIS})
	}
	if d.opts.Agents || supervised(d.st, d.nw) {
		steps = append(steps, step{"daemons", d.startDaemons})
	}
	if isis {
		// After the supervisor has started FRR (and the rest).
		steps = append(steps, step{"isis converge", d.convergeISIS})
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("before %s: %w", s.name, err)
		}
		t := time.Now()
		if err := s.fn(ctx); err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		fmt.Fprintf(d.opts.Progress, "  %-16s done in %s\n", s.name, time.Since(t).Round(time.Millisecond))
	}
	return nil
}

// startDaemons issues the lab's credentials, records which daemons it
// runs (and the controller's address) in the state, then starts the lab's
// supervisor, which starts them (FRR's too), and waits until they are all
// ready.
func (d *deployer) startDaemons(ctx context.Context) error {
	if d.opts.Agents {
		if err := d.issueCredentials(); err != nil {
			return err
		}
		d.st.Agents = true
	}
	if d.opts.Controller {
		url, err := freeURL()
		if err != nil {
			return err
		}
		d.st.Controller = url
	}
	if err := d.opts.Store.Save(d.st); err != nil {
		return err
	}
	_, err := d.ensureDaemons(ctx)
	return err
}

// eachNode runs fn for every node with bounded parallelism.
func (d *deployer) eachNode(ctx context.Context, nodes []*topo.Node, fn func(*topo.Node) error) error {
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(d.opts.Parallel)
	for _, n := range nodes {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := fn(n); err != nil {
				return fmt.Errorf("node %s: %w", n.Name, err)
			}
			return nil
		})
	}
	return g.Wait()
}

func (d *deployer) ns(n *topo.Node) string { return Namespace(d.nw.Name, n.Name) }

func (d *deployer) createNamespaces(ctx context.Context) error {
	return d.eachNode(ctx, d.stepNodes(), func(n *topo.Node) error {
		if err := nsutil.Create(d.ns(n)); err != nil {
			return err
		}
		return writeSysctls(d.ns(n), nodeSysctls(n))
	})
}
