package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/sync/errgroup"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/gen"
	"github.com/sr6net/sr6/internal/kinds/registry"
	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/pathcomp"
	"github.com/sr6net/sr6/internal/topo"
)

// ControllerResult is one line of the controller benchmark: a figure and
// the goal it is held against.
type ControllerResult struct {
	Name   string
	Value  string
	Goal   string
	Met    bool
	Detail string
}

// CSPF times path computation on grids of about 1k and 10k nodes: random
// source/destination pairs, IGP metric, then the same with a waypoint and
// an excluded node; each path is also compressed into a segment list.
func CSPF(paths int) ([]ControllerResult, error) {
	var out []ControllerResult
	for _, size := range []struct{ rows, cols int }{{32, 32}, {100, 100}} {
		g, err := pathcomp.GridGraph(size.rows, size.cols, 1)
		if err != nil {
			return nil, err
		}
		rng := rand.New(rand.NewPCG(7, uint64(size.rows)))
		n := g.NumNodes()
		for _, constrained := range []bool{false, true} {
			start := time.Now()
			for i := 0; i < paths; i++ {
				src, dst := pathcomp.NodeID(rng.IntN(n)), pathcomp.NodeID(rng.IntN(n))
				var c pathcomp.Constraints
				if constrained {
					c.Include = []pathcomp.NodeID{pathcomp.NodeID(rng.IntN(n))}
					if x := pathcomp.NodeID(rng.IntN(n)); x != src && x != dst && x != c.Include[0] {
						c.ExcludeNodes = []pathcomp.NodeID{x}
					}
				}
				p, err := g.Compute(src, dst, c)
				if err != nil {
					continue
				}
				if _, err := g.Segments(p, false); err != nil {
					return nil, err
				}
			}
			per := time.Since(start) / time.Duration(paths)
			name := fmt.Sprintf("CSPF + segments, %d nodes", n)
			if constrained {
				name += ", waypoint + exclusion"
			}
			out = append(out, ControllerResult{Name: name, Value: fmt.Sprintf("%.3f ms/path", ms64(per)),
				Goal: "< 10 ms/path", Met: per < 10*time.Millisecond, Detail: fmt.Sprintf("%d links, %d paths", g.NumLinks(), paths)})
		}
	}
	return out, nil
}

func ms64(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// controllerLab deploys a generated lab with agents and a controller.
func controllerLab(ctx context.Context, o gen.Options, dir string) (*topo.Network, lab.Options, *restv1.Client, error) {
	data, err := gen.YAML(o)
	if err != nil {
		return nil, lab.Options{}, nil, err
	}
	nw, err := registry.Default().ParseNetwork("bench.yaml", data)
	if err != nil {
		return nil, lab.Options{}, nil, err
	}
	opts := lab.Options{Store: lab.Store{Dir: dir}, Controller: true}
	st, err := lab.Deploy(ctx, nw, "bench.yaml", data, opts)
	if err != nil {
		return nil, opts, nil, err
	}
	client, err := opts.Store.ControllerClient(st.Name, "")
	if err != nil {
		return nil, opts, nil, err
	}
	return nw, opts, client, nil
}

// Provision creates n router-to-router policies (each with its own prefix)
// in a 20-router grid lab through the REST API, and times how long until
// every agent reports every steering route installed.
func Provision(ctx context.Context, n int, dir string) (ControllerResult, error) {
	nw, opts, c, err := controllerLab(ctx, gen.Options{Shape: "grid", Rows: 4, Cols: 5, Name: "benchprov"}, dir)
	if err != nil {
		return ControllerResult{}, err
	}
	defer lab.Destroy(context.WithoutCancel(ctx), nw.Name, opts)
	labDir, err := opts.Store.LabDir(nw.Name)
	if err != nil {
		return ControllerResult{}, err
	}
	p, err := provisionPolicies(ctx, c, nw, labDir, n, 2*time.Minute)
	if err != nil {
		return ControllerResult{}, err
	}
	return ControllerResult{Name: fmt.Sprintf("%d policies computed and programmed, 20-router lab", n),
		Value: fmt.Sprintf("%.0f ms (%.0f policies/s)", ms64(p.Done), float64(n)/p.Done.Seconds()),
		Goal:  "< 1 s", Met: p.Done < time.Second,
		Detail: fmt.Sprintf("REST calls done after %.0f ms (%d clients)", ms64(p.API), provisionClients)}, nil
}

// provisionClients is how many REST clients add policies at once.
const provisionClients = 8

// Provisioned is how long policies took to reach a lab.
type Provisioned struct {
	Policies int           `json:"policies"`
	API      time.Duration `json:"-"` // until the last REST call returned
	Done     time.Duration `json:"-"` // until every headend's agent reported its steering routes installed
}

// provisionPolicies adds n router-to-router policies, each with its own
// prefix, to the running lab in labDir through its controller c (from
// provisionClients clients at once), and returns once every headend's
// agent reports its share of the steering routes installed in its kernel.
func provisionPolicies(ctx context.Context, c *restv1.Client, nw *topo.Network, labDir string, n int, timeout time.Duration) (Provisioned, error) {
	routers := nw.NodesWith(topo.Underlay)
	if len(routers) < 2 {
		return Provisioned{}, fmt.Errorf("lab %s: %d routers, policies need 2", nw.Name, len(routers))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	policies := make([]restv1.Policy, n)
	want := map[string]int{} // headend -> its steering routes
	for i := range policies {
		h := rng.IntN(len(routers))
		e := (h + 1 + rng.IntN(len(routers)-1)) % len(routers)
		policies[i] = restv1.Policy{Name: fmt.Sprintf("p%d", i), Headend: routers[h].Name, Endpoint: routers[e].Name,
			Prefixes: []string{fmt.Sprintf("fd00:b%03x:%x::/64", i/4096, i%4096)}}
		want[routers[h].Name]++
	}
	agents, err := dialAgents(labDir, want)
	if err != nil {
		return Provisioned{}, err
	}
	defer agents.close()
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(provisionClients)
	for _, p := range policies {
		g.Go(func() error {
			_, err := c.AddPolicy(gctx, p, false)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return Provisioned{}, fmt.Errorf("add policies: %w", err)
	}
	res := Provisioned{Policies: n, API: time.Since(start)}
	for {
		left, err := agents.installed(ctx, want)
		if err != nil {
			return Provisioned{}, err
		}
		if left == 0 {
			break
		}
		if time.Since(start) > timeout {
			return Provisioned{}, fmt.Errorf("%d of %d headends still lack steering routes after %s", left, len(want), timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	res.Done = time.Since(start)
	return res, nil
}

// steeringWatch holds one connection per headend's agent: a lab of 1,000
// routers cannot afford a TLS handshake per agent and poll.
type steeringWatch struct {
	clients map[string]agentv1.AgentClient
	closers []func()
}

func dialAgents(labDir string, nodes map[string]int) (*steeringWatch, error) {
	w := &steeringWatch{clients: map[string]agentv1.AgentClient{}}
	for node := range nodes {
		client, closeFn, err := lab.AgentClient(labDir, node)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("agent %s: %w", node, err)
		}
		w.clients[node], w.closers = client, append(w.closers, closeFn)
	}
	return w, nil
}

func (w *steeringWatch) close() {
	for _, f := range w.closers {
		f()
	}
}

// installed asks the agents of the headends in want that are not done yet
// for their kernel's state, drops from want those that report at least
// their count of steering routes, and returns how many are left. Done
// headends are not asked again: each answer holds the router's whole
// state, underlay included.
func (w *steeringWatch) installed(ctx context.Context, want map[string]int) (int, error) {
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(16)
	// The goroutines delete from want: they range over a copy.
	for node, n := range maps.Clone(want) {
		g.Go(func() error {
			st, err := w.clients[node].GetState(gctx, &agentv1.GetStateRequest{})
			if err != nil {
				return fmt.Errorf("state of %s: %w", node, err)
			}
			if len(st.Steering) >= n {
				mu.Lock()
				delete(want, node)
				mu.Unlock()
			}
			return nil
		})
	}
	err := g.Wait()
	return len(want), err
}

var pingLine = regexp.MustCompile(`^\[(\d+\.\d+)\] \d+ bytes from .*icmp_seq=(\d+)`)

// Reroute sends a ping every 5 ms from h1 to h2 over a policy in a
// 12-router ring, takes down the first link of the policy's path, and
// measures how long after the link went down replies flow again.
func Reroute(ctx context.Context, dir string) (ControllerResult, error) {
	nw, opts, c, err := controllerLab(ctx, gen.Options{Shape: "ring", Routers: 12, Hosts: 1, Name: "benchrr"}, dir)
	if err != nil {
		return ControllerResult{}, err
	}
	defer lab.Destroy(context.WithoutCancel(ctx), nw.Name, opts)
	fwd, err := c.AddPolicy(ctx, restv1.Policy{Name: "fwd", From: "h1", To: "h2"}, false)
	if err != nil {
		return ControllerResult{}, err
	}
	if _, err := c.AddPolicy(ctx, restv1.Policy{Name: "back", From: "h2", To: "h1"}, false); err != nil {
		return ControllerResult{}, err
	}
	first := nw.Node(fwd.Status.Path[0])
	var cut *topo.Interface
	for _, ifc := range first.Interfaces {
		if ifc.Peer.Node.Name == fwd.Status.Path[1] {
			cut = ifc
		}
	}
	if cut == nil {
		return ControllerResult{}, errors.New("no interface on the policy's first hop")
	}
	dst := nw.Node("h2").Interfaces[0].Addr4.Addr().String()
	time.Sleep(500 * time.Millisecond) // let the policy reach the agents
	var out bytes.Buffer
	ping := exec.CommandContext(ctx, "ping", "-D", "-n", "-i", "0.005", "-W", "1", "-w", "4", dst)
	ping.Stdout = &out
	if err := nsutil.Start(lab.Namespace(nw.Name, "h1"), ping); err != nil {
		return ControllerResult{}, fmt.Errorf("ping: %w", err)
	}
	time.Sleep(1500 * time.Millisecond)
	down := time.Now()
	setDown := exec.Command("ip", "link", "set", cut.Name, "down")
	if err := nsutil.Run(lab.Namespace(nw.Name, first.Name), setDown); err != nil {
		return ControllerResult{}, fmt.Errorf("link down: %w", err)
	}
	_ = ping.Wait()
	restored, lost, err := restoreTime(&out, down)
	if err != nil {
		return ControllerResult{}, err
	}
	after, _ := c.Policy(ctx, "fwd")
	return ControllerResult{Name: "reroute: link down -> traffic flowing on the new path",
		Value: fmt.Sprintf("%.0f ms", ms64(restored)), Goal: "< 1 s", Met: restored < time.Second,
		Detail: fmt.Sprintf("%s down; %d probes lost (5 ms apart); path %s -> %s", cut.Link, lost,
			strings.Join(fwd.Status.Path, ">"), strings.Join(after.Status.Path, ">"))}, nil
}

// restoreTime reads `ping -D` output: the first reply received after the
// link went down whose sequence number follows the last lost probe marks
// the restoration.
func restoreTime(r io.Reader, down time.Time) (time.Duration, int, error) {
	type reply struct {
		seq int
		at  time.Time
	}
	var replies []reply
	got := map[int]bool{}
	maxSeq := 0
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := pingLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		ts, _ := strconv.ParseFloat(m[1], 64)
		seq, _ := strconv.Atoi(m[2])
		at := time.Unix(0, int64(ts*1e9))
		replies = append(replies, reply{seq, at})
		got[seq] = true
		maxSeq = max(maxSeq, seq)
	}
	if len(replies) == 0 {
		return 0, 0, errors.New("no ping reply at all")
	}
	lastLost, lost := 0, 0
	for s := 1; s <= maxSeq; s++ {
		if !got[s] {
			lastLost, lost = s, lost+1
		}
	}
	for _, rp := range replies {
		if rp.seq > lastLost && rp.at.After(down) {
			return rp.at.Sub(down), lost, nil
		}
	}
	return 0, lost, errors.New("traffic never came back")
}

// PrintController writes the results beside their goals.
func PrintController(w io.Writer, rs []ControllerResult) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BENCHMARK\tRESULT\tGOAL\tMET\tDETAIL")
	for _, r := range rs {
		met := "yes"
		if !r.Met {
			met = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Name, r.Value, r.Goal, met, r.Detail)
	}
	return tw.Flush()
}
