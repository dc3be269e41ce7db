package lab_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/kinds/registry"
	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/supervise"
	"github.com/sr6net/sr6/internal/testutil"
)

// ring4 is a ring of four routers with a host on r1 and one on r3; NAME
// is replaced by the lab's name.
const ring4 = `version: 1
name: NAME
nodes:
  r1: {kind: router}
  r2: {kind: router}
  r3: {kind: router}
  r4: {kind: router}
  h1: {kind: host}
  h2: {kind: host}
links:
  - endpoints: [r1:eth1, r2:eth1]
  - endpoints: [r2:eth2, r3:eth1]
  - endpoints: [r3:eth2, r4:eth1]
  - endpoints: [r4:eth2, r1:eth2]
  - endpoints: [h1:eth0, r1:eth0]
  - endpoints: [h2:eth0, r3:eth0]
`

// newTextLab is newLab for a topology given as text.
func newTextLab(t *testing.T, text string) *testLab {
	t.Helper()
	testutil.RequirePrivileged(t, "ping", "ip", "nft")
	name := testutil.UniqueName("t")
	text = strings.Replace(text, "name: NAME", "name: "+name, 1)
	nw, err := registry.Default().ParseNetwork("test.yaml", []byte(text))
	if err != nil {
		t.Fatalf("topology: %v", err)
	}
	l := &testLab{t: t, name: name, nw: nw, data: []byte(text),
		opts: lab.Options{Store: lab.Store{Dir: t.TempDir()}, Progress: &testWriter{t: t}}}
	t.Cleanup(func() {
		if err := lab.Destroy(context.Background(), name, l.opts); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if left := namespacesOf(name); len(left) > 0 {
			t.Errorf("namespaces left after destroy: %v", left)
		}
	})
	return l
}

// change deploys text (the lab's topology, changed) onto the running lab
// and makes it the lab's topology for the helpers.
func (l *testLab) change(ctx context.Context, text string) (string, error) {
	l.t.Helper()
	text = strings.Replace(text, "name: NAME", "name: "+l.name, 1)
	nw, err := registry.Default().ParseNetwork("test.yaml", []byte(text))
	if err != nil {
		l.t.Fatalf("topology: %v", err)
	}
	var progress bytes.Buffer
	opts := l.opts
	opts.Progress = &progress
	_, err = lab.Deploy(ctx, nw, "test.yaml", []byte(text), opts)
	l.t.Logf("deploy of the changed topology said:\n%s", progress.String())
	if err == nil {
		// The helpers read addresses from the plan the lab runs.
		st, lerr := l.opts.Store.Load(l.name)
		if lerr != nil {
			l.t.Fatal(lerr)
		}
		if l.nw, lerr = lab.StateNetwork(st); lerr != nil {
			l.t.Fatal(lerr)
		}
		l.data = []byte(text)
	}
	return progress.String(), err
}

func (l *testLab) mustChange(text string) string {
	l.t.Helper()
	out, err := l.change(context.Background(), text)
	if err != nil {
		l.t.Fatalf("deploy the changed topology: %v", err)
	}
	return out
}

// route returns node's kernel routes to dst (`ip -6 -d route show`).
func (l *testLab) route(node, dst string) string {
	l.t.Helper()
	out, err := l.run(node, "ip", "-6", "-d", "route", "show", dst)
	if err != nil {
		l.t.Fatalf("ip route on %s: %v\n%s", node, err, out)
	}
	return strings.TrimSpace(out)
}

// monitorRoutes records the route changes in node's namespace until the
// returned function is called, which returns them.
func (l *testLab) monitorRoutes(node string) func() []string {
	l.t.Helper()
	cmd := exec.Command("ip", "-6", "monitor", "route")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		l.t.Fatal(err)
	}
	if err := nsutil.Start(l.ns(node), cmd); err != nil {
		l.t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			mu.Lock()
			lines = append(lines, sc.Text())
			mu.Unlock()
		}
	}()
	// ip monitor has no "listening" line: give it a moment to subscribe.
	time.Sleep(200 * time.Millisecond)
	stopped := false
	stop := func() []string {
		if !stopped {
			stopped = true
			_ = cmd.Process.Kill()
			<-done
			_ = cmd.Wait()
		}
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(lines)
	}
	l.t.Cleanup(func() { stop() })
	return stop
}

// agentPIDs are the pids of the lab's agent processes by daemon name: the
// agent host's.
func (l *testLab) agentPIDs() map[string]int {
	l.t.Helper()
	out := map[string]int{}
	for name, s := range l.daemons() {
		if (name == "agents" || strings.HasPrefix(name, "agent/")) && s.State == supervise.Ready {
			out[name] = s.PID
		}
	}
	return out
}

// agentStarts counts how many times node's agent started serving, by its
// log: the agents of routers that stay through a change run on.
func (l *testLab) agentStarts(node string) int {
	l.t.Helper()
	data, err := os.ReadFile(filepath.Join(l.dir(), node, "agent.log"))
	if err != nil {
		l.t.Fatalf("agent log of %s: %v", node, err)
	}
	return strings.Count(string(data), "agent serving")
}

// agentAnswers asks node's agent for its state over mutual TLS.
func (l *testLab) agentAnswers(node string) error {
	client, closeFn, err := lab.AgentClient(l.dir(), node)
	if err != nil {
		return err
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err = client.GetState(ctx, &agentv1.GetStateRequest{})
	return err
}

// pingAddr pings addr from node and returns how many replies came.
func (l *testLab) pingAddr(node, addr string, count int) int {
	l.t.Helper()
	out, _ := l.run(node, "ping", "-n", "-q", "-c", fmt.Sprint(count), "-i", "0.05", "-W", "1", addr)
	var sent, got int
	for _, line := range strings.Split(out, "\n") {
		if _, err := fmt.Sscanf(line, "%d packets transmitted, %d received", &sent, &got); err == nil {
			return got
		}
	}
	l.t.Fatalf("ping output not understood: %s", out)
	return 0
}

func (l *testLab) stateFile() []byte {
	l.t.Helper()
	data, err := os.ReadFile(l.layout().State())
	if err != nil {
		l.t.Fatal(err)
	}
	return data
}

// TestChangeRunningLab changes a running ring with a controller, a policy
// and a loss session, one step after the other: adding a router and a
// link leaves the policy and its steering route alone (not even
// replaced), removing a link reroutes, a loss changes in place, --dry-run
// and a bad file change nothing.
func TestChangeRunningLab(t *testing.T) {
	t.Parallel()
	l := newTextLab(t, ring4)
	c := l.withController()
	ctx := context.Background()
	l.addPolicy(c, restv1.Policy{Name: "fwd", From: "h1", To: "h2", Include: []string{"r2"}})
	l.waitState(c, "fwd", restv1.StateUp, "")
	if _, err := c.StartSession(ctx, restv1.Session{Name: "s1", Policy: "fwd", PeriodMs: 1000}); err != nil {
		t.Fatal(err)
	}
	h2net := l.nw.Node("h2").Interfaces[0].Link.Subnet6.String()

	ring5 := strings.Replace(ring4, "  h1: {kind: host}\n", "  r5: {kind: router}\n  h1: {kind: host}\n", 1) +
		"  - endpoints: [r2:eth3, r5:eth1]\n"

	t.Run("add a router and a link", func(t *testing.T) {
		l.t = t
		before := l.route("r1", h2net)
		if !strings.Contains(before, "encap seg6") {
			t.Fatalf("no steering route to %s on r1: %s", h2net, before)
		}
		pids := l.agentPIDs()
		starts := map[string]int{}
		for _, r := range []string{"r1", "r2", "r3", "r4"} {
			starts[r] = l.agentStarts(r)
		}
		stop := l.monitorRoutes("r1")
		out := l.mustChange(ring5)
		for _, want := range []string{"+ add node r5", "+ add link r2:eth3--r5:eth1"} {
			if !strings.Contains(out, want) {
				t.Errorf("deploy did not say %q", want)
			}
		}
		// The policy, its session and its route stayed.
		v := l.waitState(c, "fwd", restv1.StateUp, "")
		if strings.Join(v.Status.Path, ">") != "r1>r2>r3" {
			t.Errorf("policy path %v", v.Status.Path)
		}
		time.Sleep(500 * time.Millisecond) // let the restarted controller push
		if after := l.route("r1", h2net); after != before {
			t.Errorf("steering route changed:\nbefore %s\nafter  %s", before, after)
		}
		// Only routes toward what is new changed on r1: no route that
		// stays was replaced or deleted, the steering route least of all.
		r5 := l.nw.Node("r5")
		fresh := []string{r5.Loopback.String() + " ", r5.Locator.String(), r5.Interfaces[0].Link.Subnet6.String()}
		for _, line := range stop() {
			// The kernel announces its local route again when an agent
			// refreshes an address it has (not a change of any route).
			if strings.Contains(line, "table local") && !strings.HasPrefix(line, "Deleted") {
				continue
			}
			if !slices.ContainsFunc(fresh, func(p string) bool { return strings.Contains(line, p) }) {
				t.Errorf("a route that stays was touched on r1: %s", line)
			}
		}
		if ss, err := c.Sessions(ctx); err != nil || len(ss) != 1 || ss[0].Name != "s1" {
			t.Errorf("sessions after the change: %+v (%v)", ss, err)
		}
		// ... and it goes on measuring.
		changed := time.Now()
		eventually(t, 10*time.Second, "a loss result after the change", func() error {
			rs, err := c.Results(ctx, "s1", changed, time.Time{})
			if err != nil || len(rs) == 0 {
				return fmt.Errorf("%d results since the change (%v)", len(rs), err)
			}
			return nil
		})
		// The agents that stayed were not restarted; r5's runs.
		now := l.agentPIDs()
		for name, pid := range pids {
			if now[name] != pid {
				t.Errorf("%s: pid %d, was %d", name, now[name], pid)
			}
		}
		if len(now) == 0 {
			t.Errorf("no agent process: %v", l.daemons())
		}
		for r, n := range starts {
			if got := l.agentStarts(r); got != n {
				t.Errorf("%s's agent started again through the change (%d starts, was %d)", r, got, n)
			}
		}
		// The host serves r5's agent too.
		eventually(t, 10*time.Second, "r5's agent answers", func() error { return l.agentAnswers("r5") })
		// The new router answers on its loopback from every other one.
		lo := l.nw.Node("r5").Loopback.String()
		for _, r := range []string{"r1", "r2", "r3", "r4"} {
			if n := l.pingAddr(r, lo, 3); n == 0 {
				t.Errorf("%s cannot ping r5's loopback %s", r, lo)
			}
		}
		if n := l.ping("h1", "h2", false, 5); n == 0 {
			t.Error("h1 cannot reach h2")
		}
	})

	noR1R2 := strings.Replace(ring5, "  - endpoints: [r1:eth1, r2:eth1]\n", "", 1)
	t.Run("remove a link", func(t *testing.T) {
		l.t = t
		out := l.mustChange(noR1R2)
		if !strings.Contains(out, "- remove link r1:eth1--r2:eth1") {
			t.Errorf("deploy did not name the removed link")
		}
		if _, err := l.run("r1", "ip", "link", "show", "eth1"); err == nil {
			t.Error("r1:eth1 still exists")
		}
		// Rerouted around the ring: r1>r4>r3>r2 to visit r2, then r3.
		v := l.waitState(c, "fwd", restv1.StateUp, "")
		if p := v.Status.Path; len(p) < 2 || p[1] == "r2" {
			t.Errorf("policy path %v still uses r1-r2", v.Status.Path)
		}
		if n := l.ping("h1", "h2", false, 5); n == 0 {
			t.Error("h1 cannot reach h2 after the reroute")
		}
		// The static underlay moved too: r1 reaches r2's loopback via r4
		// (by longest-prefix match: the compressed table may hold no route
		// to that one address).
		if rt, err := l.run("r1", "ip", "-6", "route", "get", l.nw.Node("r2").Loopback.String()); err != nil || !strings.Contains(rt, "dev eth2") {
			t.Errorf("r1's route to r2: %s (%v)", rt, err)
		}
	})

	lossy := strings.Replace(noR1R2, "  - endpoints: [r3:eth2, r4:eth1]\n", "  - endpoints: [r3:eth2, r4:eth1]\n    loss: 50%\n", 1)
	t.Run("change a link's loss", func(t *testing.T) {
		l.t = t
		pids := l.agentPIDs()
		out := l.mustChange(lossy)
		if !strings.Contains(out, "~ set link r3:eth2--r4:eth1: loss 0% -> 50%") {
			t.Errorf("deploy did not name the loss change")
		}
		for _, end := range [][2]string{{"r3", "eth2"}, {"r4", "eth1"}} {
			rules, err := l.run(end[0], "nft", "list", "chain", "netdev", lab.ImpairTable, lab.LossChain(end[1]))
			if err != nil || !strings.Contains(rules, "< 5000") {
				t.Errorf("%s:%s loss rule: %v\n%s", end[0], end[1], err, rules)
			}
		}
		l.mustChange(noR1R2)
		if rules, err := l.run("r3", "nft", "list", "chain", "netdev", lab.ImpairTable, lab.LossChain("eth2")); err == nil {
			t.Errorf("loss rule left after the loss went: %s", rules)
		}
		now := l.agentPIDs()
		for name, pid := range pids {
			if now[name] != pid {
				t.Errorf("%s restarted by a loss change: pid %d, was %d", name, now[name], pid)
			}
		}
	})

	t.Run("dry run changes nothing", func(t *testing.T) {
		l.t = t
		before, nsBefore := l.stateFile(), namespacesOf(l.name)
		text := strings.Replace(ring4, "name: NAME", "name: "+l.name, 1)
		p, err := lab.PlanDeploy("test.yaml", []byte(text), l.opts)
		if err != nil {
			t.Fatal(err)
		}
		if p.UpToDate || len(p.Changes) != 3 {
			t.Errorf("plan back to the ring of four: %+v", p.Changes)
		}
		// Through the command, as a user runs it.
		file := filepath.Join(t.TempDir(), "ring4.yaml")
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(sr6Binary, "--state-dir", l.opts.Store.Dir, "lab", "deploy", "--dry-run", file).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "- remove node r5") {
			t.Errorf("lab deploy --dry-run: %v\n%s", err, out)
		}
		if !bytes.Equal(l.stateFile(), before) || !slices.Equal(namespacesOf(l.name), nsBefore) {
			t.Error("--dry-run changed the lab")
		}
		up := filepath.Join(t.TempDir(), "same.yaml")
		if err := os.WriteFile(up, l.data, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err = exec.Command(sr6Binary, "--state-dir", l.opts.Store.Dir, "lab", "deploy", "--dry-run", up).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "up to date") {
			t.Errorf("lab deploy --dry-run of the running file: %v\n%s", err, out)
		}
	})

	t.Run("bad file changes nothing", func(t *testing.T) {
		l.t = t
		before, nsBefore := l.stateFile(), namespacesOf(l.name)
		text := strings.Replace(string(l.data), "  - endpoints: [r2:eth3, r5:eth1]\n", "  - endpoints: [r2:eth3, r5:eth1]\n  - endpoints: [r2:eth4, r9:eth1]\n", 1)
		file := filepath.Join(t.TempDir(), "bad.yaml")
		if err := os.WriteFile(file, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		line := 1 + strings.Count(text[:strings.Index(text, "r9:eth1")], "\n")
		for _, args := range [][]string{{"lab", "deploy", file}, {"lab", "deploy", "--dry-run", file}} {
			out, err := exec.Command(sr6Binary, append([]string{"--state-dir", l.opts.Store.Dir}, args...)...).CombinedOutput()
			if err == nil || !strings.Contains(string(out), fmt.Sprintf("%s:%d:", file, line)) || !strings.Contains(string(out), "r9") {
				t.Errorf("%v: %v\n%s", args, err, out)
			}
		}
		if !bytes.Equal(l.stateFile(), before) || !slices.Equal(namespacesOf(l.name), nsBefore) {
			t.Error("a bad file changed the lab")
		}
		if v := l.waitState(c, "fwd", restv1.StateUp, ""); v.Name != "fwd" {
			t.Error("policy gone")
		}
	})

	t.Run("remove a router a policy names", func(t *testing.T) {
		l.t = t
		h1net := l.nw.Node("h1").Interfaces[0].Link.Subnet6.String()
		l.addPolicy(c, restv1.Policy{Name: "from5", Headend: "r5", Endpoint: "r1", Prefixes: []string{h1net}})
		l.mustChange(strings.Replace(strings.Replace(noR1R2, "  r5: {kind: router}\n", "", 1), "  - endpoints: [r2:eth3, r5:eth1]\n", "", 1))
		if namespaces := namespacesOf(l.name); slices.Contains(namespaces, l.ns("r5")) {
			t.Errorf("r5's namespace is left: %v", namespaces)
		}
		l.waitState(c, "from5", restv1.StateDown, `"r5" is not a router`)
		l.waitState(c, "fwd", restv1.StateUp, "")
		if _, ok := l.agentPIDs()["agent/r5"]; ok {
			t.Error("r5's agent still supervised")
		}
	})
}

// TestChangeThatStopsHalfWayIsFinishedByTheNextDeploy: a change that
// fails after removing and creating part of the lab records it; deploying
// another file is refused, the same file finishes it, and destroy finds
// every namespace meanwhile.
func TestChangeThatStopsHalfWayIsFinishedByTheNextDeploy(t *testing.T) {
	t.Parallel()
	l := newTextLab(t, ring4)
	l.opts.Agents, l.opts.Binary = true, sr6Binary
	l.deploy()
	// r0 first in the file: a plan without pins would renumber every
	// router after it.
	grown := strings.Replace(ring4, "nodes:\n", "nodes:\n  r0: {kind: router}\n", 1) + "  - endpoints: [r0:eth1, r4:eth3]\n"
	r1lo := l.nw.Node("r1").Loopback
	_, err := l.change(lab.WithFault(context.Background(), "routes and SIDs"), grown)
	if err == nil || !strings.Contains(err.Error(), "again to finish") {
		t.Fatalf("deploy with a fault: %v", err)
	}
	st, lerr := l.opts.Store.Load(l.name)
	if lerr != nil {
		t.Fatal(lerr)
	}
	if st.Phase != lab.PhaseUpdating || st.Previous == nil || !slices.Contains(st.Namespaces, l.ns("r0")) {
		t.Fatalf("state after the fault: phase %s, previous %v, namespaces %v", st.Phase, st.Previous != nil, st.Namespaces)
	}
	if _, err := l.change(context.Background(), ring4); err == nil || !strings.Contains(err.Error(), "half way") {
		t.Fatalf("deploy of another file half way: %v", err)
	}
	out := l.mustChange(grown)
	if !strings.Contains(out, "+ add node r0") {
		t.Errorf("the finishing deploy did not redo the change")
	}
	st, _ = l.opts.Store.Load(l.name)
	if st.Phase != lab.PhaseRunning || st.Previous != nil {
		t.Fatalf("state after finishing: phase %s", st.Phase)
	}
	if got := l.nw.Node("r1").Loopback; got != r1lo {
		t.Errorf("r1's loopback moved from %s to %s", r1lo, got)
	}
	lo := l.nw.Node("r0").Loopback.String()
	for _, r := range []string{"r1", "r2", "r3"} {
		if n := l.pingAddr(r, lo, 3); n == 0 {
			t.Errorf("%s cannot ping r0's loopback %s", r, lo)
		}
	}
	if err := l.agentAnswers("r0"); err != nil {
		t.Errorf("r0's agent: %v", err)
	}
	if out := l.mustChange(grown); !strings.Contains(out, "already deployed") {
		t.Errorf("deploying the same file again: %s", out)
	}
	// --replace keeps its meaning: destroy, then deploy from scratch.
	before := l.agentPIDs()["agents"]
	l.opts.Replace = true
	out = l.mustChange(ring4)
	if !strings.Contains(out, "removing the previous deployment") || strings.Contains(out, "changes") {
		t.Errorf("--replace did not redeploy: %s", out)
	}
	if slices.Contains(namespacesOf(l.name), l.ns("r0")) {
		t.Error("r0 survived --replace")
	}
	if now := l.agentPIDs()["agents"]; now == before || now == 0 {
		t.Errorf("agent host: pid %d, was %d: not redeployed", now, before)
	}
}
