package lab_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/lab"
)

// sr6Binary is built once for the tests that run agents and controllers.
var sr6Binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sr6-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sr6Binary = filepath.Join(dir, "sr6")
	build := exec.Command("go", "build", "-o", sr6Binary, "github.com/sr6net/sr6/cmd/sr6")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sr6:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// withController deploys l with agents and a controller and returns a
// client of its REST API.
func (l *testLab) withController() *restv1.Client {
	l.t.Helper()
	l.opts.Controller, l.opts.Binary = true, sr6Binary
	st := l.deploy()
	if st.Controller == "" {
		l.t.Fatal("deployed without a controller URL")
	}
	c, err := l.opts.Store.ControllerClient(l.name, "")
	if err != nil {
		l.t.Fatal(err)
	}
	return c
}

// addPolicy adds p, which must be computed (pending until its headend's
// agent confirms it: see waitState).
func (l *testLab) addPolicy(c *restv1.Client, p restv1.Policy) restv1.PolicyView {
	l.t.Helper()
	v, err := c.AddPolicy(context.Background(), p, false)
	if err != nil {
		l.t.Fatalf("add policy %s: %v", p.Name, err)
	}
	if v.Status.State != restv1.StatePending && v.Status.State != restv1.StateUp {
		l.t.Fatalf("policy %s is %s: %s", p.Name, v.Status.State, v.Status.Reason)
	}
	return v
}

// waitState waits until policy name is in state with a reason containing
// reason, and returns it.
func (l *testLab) waitState(c *restv1.Client, name, state, reason string) restv1.PolicyView {
	l.t.Helper()
	var v restv1.PolicyView
	eventually(l.t, 10*time.Second, "policy "+name+" "+state, func() error {
		var err error
		if v, err = c.Policy(context.Background(), name); err != nil {
			return err
		}
		if v.Status.State != state || !strings.Contains(v.Status.Reason, reason) {
			return fmt.Errorf("%s %q, want %s ~%q", v.Status.State, v.Status.Reason, state, reason)
		}
		return nil
	})
	return v
}

// eventually retries cond every 50 ms for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nodeState reads back what node's agent has installed.
func (l *testLab) nodeState(node string) (*agentv1.NodeState, error) {
	client, closeFn, err := lab.AgentClient(l.dir(), node)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := client.GetState(ctx, &agentv1.GetStateRequest{})
	if err != nil {
		return nil, fmt.Errorf("state of %s: %w", node, err)
	}
	return st, nil
}

func (l *testLab) mustNodeState(node string) *agentv1.NodeState {
	l.t.Helper()
	st, err := l.nodeState(node)
	if err != nil {
		l.t.Fatal(err)
	}
	return st
}

// steeringCount is how many steering routes node's agent reports.
func (l *testLab) steeringCount(node string) (int, error) {
	st, err := l.nodeState(node)
	if err != nil {
		return 0, err
	}
	return len(st.Steering), nil
}

// waitSteering waits until each node's agent reports the given number of
// steering routes.
func (l *testLab) waitSteering(want map[string]int) {
	l.t.Helper()
	for node, n := range want {
		eventually(l.t, 5*time.Second, "steering on "+node, func() error {
			if got, err := l.steeringCount(node); err != nil || got != n {
				return fmt.Errorf("%s has %d steering routes, want %d (%v)", node, got, n, err)
			}
			return nil
		})
	}
}

func steeredPrefixes(st *agentv1.NodeState) []string {
	var out []string
	for _, s := range st.Steering {
		out = append(out, s.Prefix+" "+strings.Join(s.Segments, ","))
	}
	return out
}

// TestControllerPolicyOnTheWire: a policy created through the REST API
// makes h1 -> h2 traffic cross r2 with an SRH, and nothing crosses the
// direct link.
func TestControllerPolicyOnTheWire(t *testing.T) {
	t.Parallel()
	l := newLab(t, "triangle.yaml", nil)
	c := l.withController()
	v := l.addPolicy(c, restv1.Policy{Name: "fwd", From: "h1", To: "h2", Include: []string{"r2"}})
	l.addPolicy(c, restv1.Policy{Name: "back", From: "h2", To: "h1", Include: []string{"r2"}})
	if got := strings.Join(v.Status.Path, ">"); got != "r1>r2>r3" {
		t.Fatalf("path %s", got)
	}
	l.waitState(c, "fwd", restv1.StateUp, "")
	l.waitState(c, "back", restv1.StateUp, "")
	eventually(t, 5*time.Second, "policy programmed on r1", func() error {
		if n, err := l.steeringCount("r1"); err != nil || n != 2 {
			return fmt.Errorf("r1 has %d steering routes, want 2 (%v)", n, err)
		}
		return nil
	})
	viaR2 := l.capture("r2", "eth1", "ip6 and ip6[6] == 43")
	direct := l.capture("r3", "eth3", "(icmp and icmp[0] == 8) or (icmp6 and ip6[40] == 128) or (ip6 and ip6[6] == 43)")
	if got := l.ping("h1", "h2", true, 5); got != 5 {
		t.Fatalf("IPv4 through the controller's policy: %d/5", got)
	}
	r2End := l.nw.Node("r2").SIDs.End.String()
	srh := 0
	for _, line := range viaR2() {
		if strings.Contains(line, "> "+r2End+": RT6") {
			srh++
		}
	}
	if srh < 5 {
		t.Errorf("r2 saw %d SRH packets addressed to its End SID, want 5", srh)
	}
	if lines := direct(); len(lines) != 0 {
		t.Errorf("the direct link carried the flow:\n%s", strings.Join(lines, "\n"))
	}
	// Bad input is refused with the field and the reason, and changes nothing.
	_, err := c.AddPolicy(context.Background(), restv1.Policy{Name: "bad", From: "h1", To: "h2", Metric: "fastest"}, false)
	if err == nil || !strings.Contains(err.Error(), `metric: unknown metric "fastest" (allowed: [igp hops latency])`) {
		t.Errorf("bad metric: %v", err)
	}
}

// TestControllerReroutes fails the link a policy uses and checks traffic
// flows again over the other path, then comes back.
func TestControllerReroutes(t *testing.T) {
	t.Parallel()
	l := newLab(t, "triangle.yaml", nil)
	c := l.withController()
	l.addPolicy(c, restv1.Policy{Name: "fwd", From: "h1", To: "h2"})
	l.addPolicy(c, restv1.Policy{Name: "back", From: "h2", To: "h1"})
	eventually(t, 5*time.Second, "IPv4 over the direct path", func() error {
		if got := l.ping("h1", "h2", true, 1); got != 1 {
			return fmt.Errorf("no reply")
		}
		return nil
	})
	if _, err := l.run("r1", "ip", "link", "set", "eth3", "down"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "rerouted over r2", func() error {
		v, err := c.Policy(context.Background(), "fwd")
		if err != nil {
			return err
		}
		if got := strings.Join(v.Status.Path, ">"); got != "r1>r2>r3" {
			return fmt.Errorf("path %s", got)
		}
		return nil
	})
	viaR2 := l.capture("r2", "eth1", "ip6 and ip6[6] == 43")
	eventually(t, 5*time.Second, "IPv4 after the failure", func() error {
		if got := l.ping("h1", "h2", true, 3); got != 3 {
			return fmt.Errorf("%d/3 replies", got)
		}
		return nil
	})
	if n := len(viaR2()); n < 3 {
		t.Errorf("r2 carried %d SRv6 packets after the failure, want at least 3", n)
	}
	if _, err := l.run("r1", "ip", "link", "set", "eth3", "up"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "back on the direct path", func() error {
		v, _ := c.Policy(context.Background(), "fwd")
		if got := strings.Join(v.Status.Path, ">"); got != "r1>r3" {
			return fmt.Errorf("path %s", got)
		}
		return nil
	})
}

// TestRestartsConverge kills the lab's supervisor and the agent host (the
// headend's agent with it), changes policies while the agent is down,
// deploys again (which restarts it), then kills the controller (which the
// supervisor restarts): the node ends with exactly the routes of the
// current policies (none stale, none doubled).
func TestRestartsConverge(t *testing.T) {
	t.Parallel()
	l := newLab(t, "triangle.yaml", nil)
	c := l.withController()
	l.addPolicy(c, restv1.Policy{Name: "old", From: "h1", To: "h2", Include: []string{"r2"}})
	eventually(t, 5*time.Second, "old programmed", func() error {
		if n, err := l.steeringCount("r1"); err != nil || n != 2 {
			return fmt.Errorf("%d steering routes (%v)", n, err)
		}
		return nil
	})

	// With its supervisor gone, nothing restarts the killed agent: the
	// policies change while it is down.
	layout := l.layout()
	killDaemon(t, layout.SupervisorPid())
	killDaemon(t, layout.AgentHostPid())
	// A policy whose headend's agent is dead is not up.
	l.waitState(c, "old", restv1.StatePending, "headend r1's agent is unreachable")
	if err := c.DeletePolicy(context.Background(), "old"); err != nil {
		t.Fatal(err)
	}
	l.addPolicy(c, restv1.Policy{Name: "new", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:77::/64"}})
	// The kernel still holds the old routes: nobody removed them.
	out, _ := l.run("r1", "ip", "-6", "route", "show", "fd00:0:2:2::/64")
	if !strings.Contains(out, "seg6") {
		t.Fatalf("expected the stale steering route while the agent is down, got %q", out)
	}
	// Deploying again starts a supervisor, which starts the dead agent.
	l.deploy()
	want := "fd00:77::/64 " + l.nw.Node("r3").SIDs.DT6.String()
	eventually(t, 10*time.Second, "r1 converged after its agent restarted", func() error {
		st, err := l.nodeState("r1")
		if err != nil {
			return err
		}
		got := steeredPrefixes(st)
		if len(got) != 1 || got[0] != want {
			return fmt.Errorf("r1 steers %v, want [%s]", got, want)
		}
		return nil
	})

	killDaemon(t, layout.ControllerPid())
	eventually(t, 10*time.Second, "controller back with its policies", func() error {
		vs, err := c.Policies(context.Background())
		if err != nil {
			return err
		}
		if len(vs) != 1 || vs[0].Name != "new" || vs[0].Status.State != restv1.StateUp {
			return fmt.Errorf("policies %+v", vs)
		}
		return nil
	})
	before := l.mustNodeState("r1")
	time.Sleep(300 * time.Millisecond)
	after := l.mustNodeState("r1")
	if len(after.Steering) != 1 || len(after.Sids) != len(before.Sids) || len(after.Underlay) != len(before.Underlay) {
		t.Errorf("r1 after the controller restart: %d steering, %d SIDs (was %d), %d underlay (was %d)",
			len(after.Steering), len(after.Sids), len(before.Sids), len(after.Underlay), len(before.Underlay))
	}
	out, _ = l.run("r1", "ip", "-6", "route", "show", "proto", "86")
	if n := strings.Count(out, "fd00:77::/64"); n != 1 {
		t.Errorf("r1 has %d routes for fd00:77::/64, want exactly 1:\n%s", n, out)
	}
}
