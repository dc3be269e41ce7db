package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
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
	routers := nw.NodesWith(topo.Underlay)
	rng := rand.New(rand.NewPCG(1, 2))
	policies := make([]restv1.Policy, n)
	for i := range policies {
		h := rng.IntN(len(routers))
		e := (h + 1 + rng.IntN(len(routers)-1)) % len(routers)
		policies[i] = restv1.Policy{Name: fmt.Sprintf("p%d", i), Headend: routers[h].Name, Endpoint: routers[e].Name,
			Prefixes: []string{fmt.Sprintf("fd00:b%03x:%x::/64", i/4096, i%4096)}}
	}
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(8)
	for _, p := range policies {
		g.Go(func() error {
			_, err := c.AddPolicy(gctx, p, false)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return ControllerResult{}, fmt.Errorf("add policies: %w", err)
	}
	api := time.Since(start)
	labDir, err := opts.Store.LabDir(nw.Name)
	if err != nil {
		return ControllerResult{}, err
	}
	for {
		total, err := installedSteering(ctx, labDir, routers)
		if err != nil {
			return ControllerResult{}, err
		}
		if total >= n {
			break
		}
		if time.Since(start) > 2*time.Minute {
			return ControllerResult{}, fmt.Errorf("only %d of %d steering routes installed after 2 minutes", total, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	done := time.Since(start)
	return ControllerResult{Name: fmt.Sprintf("%d policies computed and programmed, 20-router lab", n),
		Value: fmt.Sprintf("%.0f ms (%.0f policies/s)", ms64(done), float64(n)/done.Seconds()),
		Goal:  "< 1 s", Met: done < time.Second,
		Detail: fmt.Sprintf("REST calls done after %.0f ms (8 clients)", ms64(api))}, nil
}

func installedSteering(ctx context.Context, labDir string, routers []*topo.Node) (int, error) {
	var total atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	for _, r := range routers {
		g.Go(func() error {
			client, closeFn, err := lab.AgentClient(labDir, r.Name)
			if err != nil {
				return err
			}
			defer closeFn()
			st, err := client.GetState(gctx, &agentv1.GetStateRequest{})
			if err != nil {
				return err
			}
			total.Add(int64(len(st.Steering)))
			return nil
		})
	}
	err := g.Wait()
	return int(total.Load()), err
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
