package bench

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/gen"
	"github.com/sr6net/sr6/internal/kinds/registry"
	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/topo"
)

// LabOptions configure the lab benchmark.
type LabOptions struct {
	Sizes []int // router counts
	// Shape is the gen shape: ring, line, grid (square, the side rounded
	// up), or auto: a ring below GridFrom routers, a grid from it.
	Shape string
	// Repeat is how many runs per size and tool (the median is reported);
	// sizes of GridFrom routers and more run once, a run takes minutes.
	Repeat int
	Python string // interpreter with the mininet module
	Script string // the Mininet reference script; "" skips Mininet
	// WorkDir is a scratch folder for topology files.
	WorkDir string
	// StateDir is the lab state directory the benchmark's labs live in.
	StateDir string
	// Prefix starts every lab name (a random suffix makes each unique).
	Prefix string
	// Binary is the sr6 executable the labs run; "" is this process's.
	Binary string
	// SkipFullAbove skips the full deploy above that many routers; 0: no
	// limit (the free-memory check still applies).
	SkipFullAbove int
	// Policies are added at sizes of PoliciesAt routers and more, into the
	// full lab, before it is destroyed; 0 adds none.
	Policies, PoliciesAt int
	// MininetTimeout bounds one Mininet run (deploy and destroy).
	MininetTimeout time.Duration
	// ReadyTimeout bounds the wait for every agent to be connected, and
	// for the policies to be installed.
	ReadyTimeout time.Duration
	// MemAvailable reads free memory; nil is /proc/meminfo's MemAvailable.
	MemAvailable func() (uint64, error)
}

// GridFrom is the size from which the auto shape is a grid: `sr6 gen
// grid --rows 32 --cols 32` for 1,000 routers, the size of the goals.
const GridFrom = 1000

func (o *LabOptions) defaults() {
	if o.Repeat < 1 {
		o.Repeat = 1
	}
	if o.Shape == "" {
		o.Shape = "auto"
	}
	if o.Prefix == "" {
		o.Prefix = "bench"
	}
	if o.MininetTimeout <= 0 {
		o.MininetTimeout = 10 * time.Minute
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 5 * time.Minute
	}
	if o.MemAvailable == nil {
		o.MemAvailable = memAvailable
	}
}

// Shapes are the allowed values of LabOptions.Shape.
var Shapes = []string{"auto", "ring", "line", "grid"}

// Seconds is a duration that JSON encodes as seconds.
type Seconds time.Duration

// MarshalJSON writes the duration in seconds, to the millisecond.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return json.Marshal(math.Round(time.Duration(s).Seconds()*1000) / 1000)
}

// Run is one tool's medians at one size. A run that did not happen says
// why in Skipped; one that went wrong in Failed.
type Run struct {
	Deploy  Seconds `json:"deploy_s"`
	Destroy Seconds `json:"destroy_s"`
	RSS     uint64  `json:"rss_bytes,omitempty"`     // sr6 full: its processes; Mininet: python and its shells
	FRRRSS  uint64  `json:"frr_rss_bytes,omitempty"` // FRR daemons of the lab, if any
	Procs   int     `json:"processes,omitempty"`     // processes in RSS
	// ByDaemon splits sr6 full's RSS of the last run by daemon kind.
	ByDaemon map[string]uint64 `json:"rss_by_daemon_bytes,omitempty"`
	Runs     int               `json:"runs"`
	Skipped  string            `json:"skipped,omitempty"`
	Failed   string            `json:"failed,omitempty"`
	deploys  []time.Duration
	destroys []time.Duration
	rss      []uint64
}

func (r *Run) ok() bool { return r.Skipped == "" && r.Failed == "" && r.Runs > 0 }

func (r *Run) add(deploy, destroy time.Duration, rss, frr uint64, procs int) {
	r.deploys, r.destroys, r.rss = append(r.deploys, deploy), append(r.destroys, destroy), append(r.rss, rss)
	r.Runs++
	r.Deploy, r.Destroy, r.RSS = Seconds(median(r.deploys)), Seconds(median(r.destroys)), medianU(r.rss)
	r.FRRRSS, r.Procs = frr, procs
}

// PolicyRun is the policies step at one size.
type PolicyRun struct {
	Count   int     `json:"count"`
	API     Seconds `json:"api_s"`  // until the last REST call returned
	Done    Seconds `json:"done_s"` // until every headend's agent reported its steering routes installed
	Skipped string  `json:"skipped,omitempty"`
	Failed  string  `json:"failed,omitempty"`
}

// LabResult is one size's figures.
type LabResult struct {
	Topology       string     `json:"topology"` // the gen command line
	Routers        int        `json:"routers"`
	Hosts          int        `json:"hosts"`
	Links          int        `json:"links"`
	Bare           Run        `json:"sr6_bare"`
	Full           Run        `json:"sr6_full"`
	Mininet        Run        `json:"mininet"`
	MininetVersion string     `json:"mininet_version,omitempty"`
	Policies       *PolicyRun `json:"policies,omitempty"`
	Goals          Goals      `json:"goals"`
}

// Goals are what a size's figures are held to; zero: no goal.
type Goals struct {
	FullDeploy Seconds `json:"full_deploy_s,omitempty"`
	FullRSS    uint64  `json:"full_rss_bytes,omitempty"`
	Destroy    Seconds `json:"destroy_s,omitempty"`
	Policies   Seconds `json:"policies_s,omitempty"`
}

// goalsFor are the goals of issue 8: a 100-router ring fully deployed in
// 1.5 s with all sr6 processes under 600 MB; a 1,000-router grid in 20 s
// under 4 GB, destroyed in 5 s, 10,000 policies in 10 s.
func goalsFor(routers int) Goals {
	g := Goals{Destroy: Seconds(5 * time.Second)}
	switch {
	case routers >= GridFrom:
		g.FullDeploy, g.FullRSS, g.Policies = Seconds(20*time.Second), 4e9, Seconds(10*time.Second)
	case routers >= 100:
		g.FullDeploy, g.FullRSS = Seconds(1500*time.Millisecond), 600e6
	}
	return g
}

// genOptions is the generated topology of size routers: one host on each
// attachment router, as `sr6 gen` places them.
func genOptions(shape string, size int) (gen.Options, string, error) {
	if shape == "auto" {
		shape = "ring"
		if size >= GridFrom {
			shape = "grid"
		}
	}
	switch shape {
	case "ring", "line":
		return gen.Options{Shape: shape, Routers: size, Hosts: 1}, fmt.Sprintf("gen %s --routers %d", shape, size), nil
	case "grid":
		side := int(math.Ceil(math.Sqrt(float64(size))))
		return gen.Options{Shape: "grid", Rows: side, Cols: side, Hosts: 1}, fmt.Sprintf("gen grid --rows %d --cols %d", side, side), nil
	}
	return gen.Options{}, "", fmt.Errorf("shape %q: allowed values: %s", shape, strings.Join(Shapes, ", "))
}

// labName is a fresh lab name: prefix, size and a random suffix, so that
// two benchmarks (or a leftover of a killed one) never meet.
func labName(prefix string, routers int) (string, error) {
	var b [2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	name := fmt.Sprintf("%s-%d-%s", prefix, routers, hex.EncodeToString(b[:]))
	if err := topo.CheckLabName(name); err != nil {
		return "", fmt.Errorf("--prefix %q: %w", prefix, err)
	}
	return name, nil
}

// topology generates the size's topology under name.
func topology(o gen.Options, name string) (*topo.Network, []byte, error) {
	o.Name = name
	data, err := gen.YAML(o)
	if err != nil {
		return nil, nil, err
	}
	nw, err := registry.Default().ParseNetwork(name+".yaml", data)
	if err != nil {
		return nil, nil, err
	}
	return nw, data, nil
}

// RunLab measures, for each size, sr6's bare deploy (no agents, no
// controller), sr6's full deploy (the default: agents and controller,
// until the controller reports every agent connected) and Mininet on the
// same topology, alternating the tools so that none gets a warmer machine.
// It returns what it measured so far with an interruption's error.
func RunLab(ctx context.Context, o LabOptions, progress io.Writer) ([]LabResult, error) {
	o.defaults()
	if !isRoot() {
		return nil, lab.ErrNotRoot
	}
	if o.PoliciesAt <= 0 {
		o.PoliciesAt = GridFrom
	}
	// Every size's shape and lab name, checked before anything is deployed.
	for _, size := range o.Sizes {
		g, _, err := genOptions(o.Shape, size)
		if err != nil {
			return nil, err
		}
		if _, err := labName(o.Prefix, routerCount(g)); err != nil {
			return nil, err
		}
	}
	var results []LabResult
	for _, size := range o.Sizes {
		gopts, cmdline, err := genOptions(o.Shape, size)
		if err != nil {
			return results, err
		}
		nw, _, err := topology(gopts, o.Prefix)
		if err != nil {
			return results, fmt.Errorf("%d routers: %w", size, err)
		}
		routers := len(nw.NodesWith(topo.Underlay))
		res := LabResult{Topology: cmdline, Routers: routers, Hosts: len(nw.Nodes) - routers, Links: len(nw.Links), Goals: goalsFor(routers)}
		jsonPath := filepath.Join(o.WorkDir, fmt.Sprintf("bench%d.json", size))
		if err := writeNetworkJSON(nw, jsonPath); err != nil {
			return results, err
		}
		runs := o.Repeat
		if routers >= GridFrom {
			runs = 1
		}
		if o.Script == "" {
			res.Mininet.Skipped = "not asked for (--mininet=false)"
		}
		if o.SkipFullAbove > 0 && routers > o.SkipFullAbove {
			res.Full.Skipped = fmt.Sprintf("above --skip-full-above %d", o.SkipFullAbove)
		}
		wantPolicies := o.Policies > 0 && routers >= o.PoliciesAt
		fmt.Fprintf(progress, "%s: %s routers, %d hosts, %s links\n", cmdline, thousands(int64(routers)), res.Hosts, thousands(int64(res.Links)))
		if res.Full.Skipped != "" {
			fmt.Fprintf(progress, "  sr6 full deploy skipped: %s\n", res.Full.Skipped)
		}
		for i := range runs {
			if res.Bare.Failed == "" {
				r, _, err := o.sr6Once(ctx, gopts, false, 0, progress)
				if ctx.Err() != nil {
					return append(results, res), fmt.Errorf("interrupted: %w", err)
				}
				if err != nil {
					res.Bare.Failed = err.Error()
				} else {
					res.Bare.add(r.deploy, r.destroy, 0, 0, 0)
					fmt.Fprintf(progress, "  run %d: sr6 bare deploy %s destroy %s\n", i+1, secs(r.deploy), secs(r.destroy))
				}
			}
			if res.Full.Skipped == "" && res.Full.Failed == "" {
				if why := o.fullTooBig(routers, results); why != "" {
					res.Full.Skipped = why
					fmt.Fprintf(progress, "  sr6 full deploy skipped: %s\n", why)
				}
			}
			if res.Full.Skipped == "" && res.Full.Failed == "" {
				n := 0
				if wantPolicies && i == 0 {
					n = o.Policies
				}
				r, pol, err := o.sr6Once(ctx, gopts, true, n, progress)
				if ctx.Err() != nil {
					return append(results, res), fmt.Errorf("interrupted: %w", err)
				}
				if err != nil {
					res.Full.Failed = err.Error()
				} else {
					res.Full.add(r.deploy, r.destroy, r.rss.SR6, r.rss.FRR, r.rss.Procs)
					fmt.Fprintf(progress, "  run %d: sr6 full deploy %s (every agent connected) destroy %s, RSS %s in %d processes (%s)\n",
						i+1, secs(r.deploy), secs(r.destroy), mb(r.rss.SR6+r.rss.FRR), r.rss.Procs, byDaemon(r.rss.ByDaemon))
					res.Full.ByDaemon = r.rss.ByDaemon
				}
				if pol != nil {
					res.Policies = pol
				}
			}
			if res.Mininet.Skipped == "" && res.Mininet.Failed == "" {
				m, err := o.mininetOnce(ctx, jsonPath)
				if ctx.Err() != nil {
					return append(results, res), fmt.Errorf("interrupted: %w", err)
				}
				if err != nil {
					res.Mininet.Failed = err.Error()
					fmt.Fprintf(progress, "  mininet failed: %v\n", err)
				} else {
					res.MininetVersion = m.Version
					res.Mininet.add(seconds(m.Deploy), seconds(m.Destroy), m.RSS, 0, m.Procs)
					fmt.Fprintf(progress, "  run %d: mininet deploy %s destroy %s, RSS %s in %d processes\n",
						i+1, secs(seconds(m.Deploy)), secs(seconds(m.Destroy)), mb(m.RSS), m.Procs)
				}
			}
		}
		if wantPolicies && res.Policies == nil {
			why := "the full deploy did not run"
			if res.Full.Failed != "" {
				why = "the full deploy failed"
			}
			res.Policies = &PolicyRun{Count: o.Policies, Skipped: why}
		}
		results = append(results, res)
	}
	return results, nil
}

// fullTooBig tells why a full deploy of routers would not fit in free
// memory, or "". The estimate extrapolates the RSS measured at the
// smaller sizes of this run (a line through the two largest, or through
// the origin from one), with a margin of a quarter; with none yet, 4 MB
// a router (measured: 0.85 GB for the 1,024-router grid with the agent
// host, controller and supervisor).
// The deploy must fit in three quarters of MemAvailable: the machine is
// shared.
func (o LabOptions) fullTooBig(routers int, done []LabResult) string {
	est, basis := estimateRSS(routers, done)
	avail, err := o.MemAvailable()
	if err != nil {
		return fmt.Sprintf("cannot tell free memory: %v", err)
	}
	if est <= avail/4*3 {
		return ""
	}
	return fmt.Sprintf("would need about %s (%s), more than 3/4 of MemAvailable %s", mb(est), basis, mb(avail))
}

// estimateRSS extrapolates the full deploy's RSS at routers from the
// measured ones, with a 25 % margin.
func estimateRSS(routers int, done []LabResult) (uint64, string) {
	type point struct{ n, rss float64 }
	var pts []point
	for _, r := range done {
		if r.Full.ok() && r.Routers < routers {
			pts = append(pts, point{float64(r.Routers), float64(r.Full.RSS + r.Full.FRRRSS)})
		}
	}
	slices.SortFunc(pts, func(a, b point) int { return int(a.n - b.n) })
	n := float64(routers)
	var est float64
	var basis string
	switch len(pts) {
	case 0:
		est, basis = n*4e6, "4 MB a router, no smaller size measured"
	case 1:
		est = pts[0].rss / pts[0].n * n
		basis = fmt.Sprintf("extrapolated from %s at %.0f routers", mb(uint64(pts[0].rss)), pts[0].n)
	default:
		a, b := pts[len(pts)-2], pts[len(pts)-1]
		slope := max((b.rss-a.rss)/(b.n-a.n), 0)
		est = b.rss + slope*(n-b.n)
		basis = fmt.Sprintf("extrapolated from %s at %.0f and %s at %.0f routers", mb(uint64(a.rss)), a.n, mb(uint64(b.rss)), b.n)
	}
	return uint64(est * 1.25), basis
}

func writeNetworkJSON(nw *topo.Network, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := nw.WriteJSON(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sr6Run is one sr6 deploy and destroy.
type sr6Run struct {
	deploy, destroy time.Duration
	rss             LabRSS
}

// sr6Once deploys a fresh lab of the topology, bare or full; full waits
// until the controller reports every agent connected, then measures the
// lab's RSS and adds policies (if n > 0). The lab is destroyed whatever
// happens, also when ctx ends.
func (o LabOptions) sr6Once(ctx context.Context, g gen.Options, full bool, policies int, progress io.Writer) (r sr6Run, pol *PolicyRun, err error) {
	name, err := labName(o.Prefix, routerCount(g))
	if err != nil {
		return r, nil, err
	}
	nw, data, err := topology(g, name)
	if err != nil {
		return r, nil, err
	}
	opts := lab.Options{Store: lab.Store{Dir: o.StateDir}, Agents: full, Controller: full, Binary: o.Binary}
	destroyed := false
	defer func() {
		if !destroyed {
			if derr := lab.Destroy(context.WithoutCancel(ctx), name, opts); derr != nil && !errors.Is(derr, os.ErrNotExist) {
				err = errors.Join(err, fmt.Errorf("clean up lab %s: %w", name, derr))
			}
		}
	}()
	start := time.Now()
	if _, err := lab.Deploy(ctx, nw, name+".yaml", data, opts); err != nil {
		return r, nil, err
	}
	if full {
		c, err := opts.Store.ControllerClient(name, "")
		if err != nil {
			return r, nil, err
		}
		if err := waitConnected(ctx, c, o.ReadyTimeout); err != nil {
			return r, nil, fmt.Errorf("lab %s deployed in %s: %w", name, secs(time.Since(start)), err)
		}
		r.deploy = time.Since(start)
		if r.rss, err = labRSS(opts.Store, name); err != nil {
			return r, nil, err
		}
		if policies > 0 {
			fmt.Fprintf(progress, "  every agent connected after %s; adding %d policies\n", secs(r.deploy), policies)
			pol = &PolicyRun{Count: policies}
			labDir, err := opts.Store.LabDir(name)
			if err != nil {
				return r, nil, err
			}
			p, err := provisionPolicies(ctx, c, nw, labDir, policies, o.ReadyTimeout)
			if err != nil {
				pol.Failed = err.Error()
				fmt.Fprintf(progress, "  policies failed: %v\n", err)
			} else {
				pol.API, pol.Done = Seconds(p.API), Seconds(p.Done)
				fmt.Fprintf(progress, "  %d policies installed after %s (REST calls done after %s)\n", policies, secs(p.Done), secs(p.API))
			}
		}
	} else {
		r.deploy = time.Since(start)
	}
	start = time.Now()
	destroyed = true
	if err := lab.Destroy(ctx, name, opts); err != nil {
		return r, pol, err
	}
	r.destroy = time.Since(start)
	return r, pol, nil
}

// byDaemon is "agent 3,500 MB, controller 60 MB, ...", largest first.
func byDaemon(m map[string]uint64) string {
	keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int { return cmp.Compare(m[b], m[a]) })
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + mb(m[k])
	}
	return strings.Join(parts, ", ")
}

func routerCount(g gen.Options) int {
	if g.Shape == "grid" {
		return g.Rows * g.Cols
	}
	return g.Routers
}

// waitConnected polls GET /v1/nodes until every router's agent is
// connected.
func waitConnected(ctx context.Context, c *restv1.Client, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		nodes, err := c.Nodes(ctx)
		if err == nil && len(nodes) > 0 {
			var missing []string
			for _, n := range nodes {
				if !n.Agent.Connected {
					missing = append(missing, n.Name)
				}
			}
			if len(missing) == 0 {
				return nil
			}
			err = fmt.Errorf("%d of %d agents not connected (%s: %s)", len(missing), len(nodes), missing[0], agentError(nodes, missing[0]))
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("the controller lists no router")
			}
			return fmt.Errorf("waiting %s for every agent to be connected: %w", timeout, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func agentError(nodes []restv1.NodeStatus, name string) string {
	for _, n := range nodes {
		if n.Name == name {
			return n.Agent.Error
		}
	}
	return ""
}

type mininetRun struct {
	Version string  `json:"version"`
	Deploy  float64 `json:"deploy_s"`
	Destroy float64 `json:"destroy_s"`
	RSS     uint64  `json:"rss_bytes"`
	Procs   int     `json:"processes"`
}

// mininetStopGrace is how long a Mininet run that is cancelled (timeout,
// Ctrl-C) gets after SIGTERM to stop its network: net.stop() of a
// 1,000-node network took 100 s.
const mininetStopGrace = 5 * time.Minute

// mininetOnce runs the reference script on the topology file. A timeout
// or an interruption sends it SIGTERM, on which it stops its network
// (net.stop(): its own shells and links only) before exiting.
func (o LabOptions) mininetOnce(ctx context.Context, jsonPath string) (mininetRun, error) {
	if _, err := os.Stat(o.Script); err != nil {
		return mininetRun{}, fmt.Errorf("reference script: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.MininetTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, o.Python, o.Script, "--topology", jsonPath)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = mininetStopGrace
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return mininetRun{}, fmt.Errorf("timed out after %s (then stopped by SIGTERM)", o.MininetTimeout)
		}
		return mininetRun{}, fmt.Errorf("%s %s: %w: %s", o.Python, o.Script, err, strings.TrimSpace(lastLine(errOut.String())))
	}
	var r mininetRun
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &r); err != nil {
		return mininetRun{}, fmt.Errorf("reference output %q: %w", out.String(), err)
	}
	if r.Deploy <= 0 {
		return mininetRun{}, errors.New("reference reported no deploy time")
	}
	return r, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func medianU(xs []uint64) uint64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return s[len(s)/2]
}
