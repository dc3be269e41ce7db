package lab_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sr6net/sr6/internal/controller"
	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/supervise"
)

// ownedRoutes lists node's kernel routes of protocol 86 (sr6's own: SIDs,
// steering, underlay), IPv4 and IPv6, one sorted line each.
func (l *testLab) ownedRoutes(node string) []string {
	l.t.Helper()
	var lines []string
	for _, fam := range []string{"-4", "-6"} {
		out, err := l.run(node, "ip", fam, "route", "show", "proto", "86")
		if err != nil {
			l.t.Fatalf("ip %s route on %s: %v: %s", fam, node, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			if line = strings.TrimSpace(line); line != "" {
				lines = append(lines, line)
			}
		}
	}
	slices.Sort(lines)
	return lines
}

// killDaemon SIGKILLs the process a pid file of the lab names and returns
// its pid and when it was killed.
func killDaemon(t *testing.T, pidFile string) (int, time.Time) {
	t.Helper()
	pid, ok := supervise.Running(pidFile)
	if !ok {
		t.Fatalf("nothing runs from %s", pidFile)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	return pid, time.Now()
}

func healthy(url string) error {
	resp, err := http.Get(url + "/healthz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: %s", resp.Status)
	}
	return nil
}

// backWithin polls ready every 10 ms and fails the test unless it passes
// within limit of since; it returns how long it took.
func backWithin(t *testing.T, what string, since time.Time, limit time.Duration, ready func() error) time.Duration {
	t.Helper()
	for {
		err := ready()
		if err == nil {
			took := time.Since(since)
			if took > limit {
				t.Errorf("%s back after %s, want within %s", what, took.Round(time.Millisecond), limit)
			}
			return took
		}
		if time.Since(since) > 3*limit {
			t.Fatalf("%s not back within %s: %v", what, 3*limit, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSupervisedDaemonsComeBack kills the controller, then the agent host
// (every router's agent), then the supervisor itself (with the controller): each time the
// lab comes back by itself (or, for the supervisor, with a deploy), the
// policy is up and the headend's kernel routes equal the desired state.
func TestSupervisedDaemonsComeBack(t *testing.T) {
	t.Parallel()
	l := newLab(t, "triangle.yaml", nil)
	c := l.withController()
	st, err := l.opts.Store.Load(l.name)
	if err != nil {
		t.Fatal(err)
	}
	layout := l.layout()
	l.addPolicy(c, controller.Policy{Name: "fwd", From: "h1", To: "h2", Include: []string{"r2"}})
	eventually(t, 5*time.Second, "fwd programmed on r1", func() error {
		if n, err := l.steeringCount("r1"); err != nil || n != 2 {
			return fmt.Errorf("r1 has %d steering routes, want 2 (%v)", n, err)
		}
		return nil
	})
	want := l.ownedRoutes("r1")
	r2End := l.nw.Node("r2").SIDs.End.String()
	if !slices.ContainsFunc(want, func(s string) bool { return strings.Contains(s, "seg6") && strings.Contains(s, r2End) }) {
		t.Fatalf("r1 has no steering route through r2's End SID %s:\n%s", r2End, strings.Join(want, "\n"))
	}
	converged := func(what string) {
		t.Helper()
		eventually(t, 5*time.Second, what+": policy up", func() error {
			vs, err := c.Policies(context.Background())
			if err != nil {
				return err
			}
			if len(vs) != 1 || vs[0].Name != "fwd" || vs[0].Status.State != "up" {
				return fmt.Errorf("policies %+v", vs)
			}
			return nil
		})
		eventually(t, 5*time.Second, what+": r1's routes", func() error {
			if got := l.ownedRoutes("r1"); !slices.Equal(got, want) {
				return fmt.Errorf("r1 has\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
			return nil
		})
	}
	var mu sync.Mutex
	times := map[string]time.Duration{}
	record := func(what string, d time.Duration) {
		mu.Lock()
		times[what] = d
		mu.Unlock()
		t.Logf("%s: back in %s", what, d.Round(time.Millisecond))
	}

	// The controller.
	old, killed := killDaemon(t, layout.ControllerPid())
	record("controller", backWithin(t, "controller", killed, 2*time.Second, func() error {
		if p, ok := supervise.Running(layout.ControllerPid()); !ok || p == old {
			return fmt.Errorf("not restarted")
		}
		return healthy(st.Controller)
	}))
	converged("after the controller was killed")

	// The agent host, and with it every router's agent. The kernel keeps
	// what they installed: r3's routes stay while nothing serves it. The
	// headend's are flushed, which only the restarted agent (from its
	// saved state) or the reconnecting controller can put back.
	r3 := l.ownedRoutes("r3")
	old, killed = killDaemon(t, layout.AgentHostPid())
	for _, fam := range []string{"-4", "-6"} {
		if out, err := l.run("r1", "ip", fam, "route", "flush", "proto", "86"); err != nil {
			t.Fatalf("flush: %v: %s", err, out)
		}
	}
	if got := l.ownedRoutes("r3"); !slices.Equal(got, r3) {
		t.Errorf("r3's routes changed when the agent host died:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(r3, "\n"))
	}
	record("agent host", backWithin(t, "agent host", killed, 2*time.Second, func() error {
		if p, ok := supervise.Running(layout.AgentHostPid()); !ok || p == old {
			return fmt.Errorf("not restarted")
		}
		for _, n := range []string{"r1", "r2", "r3"} {
			if _, err := l.nodeState(n); err != nil {
				return fmt.Errorf("%s: %w", n, err)
			}
		}
		return nil
	}))
	converged("after the agent host was killed")
	// The controller reconnected to the agents: a change reaches r1.
	if err := c.DeletePolicy(context.Background(), "fwd"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "fwd removed from r1 through the reconnected controller", func() error {
		if n, err := l.steeringCount("r1"); err != nil || n != 0 {
			return fmt.Errorf("r1 has %d steering routes, want 0 (%v)", n, err)
		}
		return nil
	})
	l.addPolicy(c, controller.Policy{Name: "fwd", From: "h1", To: "h2", Include: []string{"r2"}})
	converged("after the policy was added again")

	// The supervisor, and the controller while no supervisor runs: deploy
	// again adopts the agents and starts the controller.
	killDaemon(t, layout.SupervisorPid())
	agentPid, _ := supervise.Running(layout.AgentHostPid())
	killDaemon(t, layout.ControllerPid())
	time.Sleep(300 * time.Millisecond) // nothing may restart it now
	if p, ok := supervise.Running(layout.ControllerPid()); ok {
		t.Fatalf("controller %d runs without a supervisor", p)
	}
	in, err := lab.Inspect(context.Background(), l.name, l.opts)
	if err != nil {
		t.Fatal(err)
	}
	if in.Supervisor == nil || in.Supervisor.Running {
		t.Errorf("inspect: supervisor %+v, want not running", in.Supervisor)
	}
	states := map[string]supervise.State{}
	for _, d := range in.Daemons {
		states[d.Name] = d.State
	}
	if states["controller"] != lab.DaemonDead || states["agents"] != lab.DaemonUnsupervised {
		t.Errorf("inspect without a supervisor: %v", states)
	}
	said, took := l.redeploy()
	record("deploy after the supervisor died", took)
	for _, line := range []string{"supervisor was not running: started it", "controller: was not running: started",
		"agents: running (pid " + fmt.Sprint(agentPid) + "): adopted", "re-converged"} {
		if !strings.Contains(said, line) {
			t.Errorf("deploy did not say %q", line)
		}
	}
	if p, ok := supervise.Running(layout.AgentHostPid()); !ok || p != agentPid {
		t.Errorf("agent host: pid %d (running %v), want %d adopted", p, ok, agentPid)
	}
	if err := healthy(st.Controller); err != nil {
		t.Errorf("controller after deploy: %v", err)
	}
	converged("after the supervisor was killed and deploy ran again")
	in, err = lab.Inspect(context.Background(), l.name, l.opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range in.Daemons {
		if d.State != supervise.Ready {
			t.Errorf("inspect after deploy: %s is %s", d.Name, d.State)
		}
		if d.Name == "controller" && d.Restarts != 1 {
			t.Errorf("controller restarts %d, want 1 (counted by the first supervisor)", d.Restarts)
		}
	}
	// And deploy once more: nothing to do.
	if said, _ = l.redeploy(); !strings.Contains(said, "nothing to do") {
		t.Errorf("third deploy said %q", said)
	}

	// destroy ends every daemon, and nothing brings one back.
	pids := []int{}
	for _, f := range []string{layout.SupervisorPid(), layout.ControllerPid(), layout.AgentHostPid()} {
		if p, ok := supervise.Running(f); ok {
			pids = append(pids, p)
		}
	}
	if err := lab.Destroy(context.Background(), l.name, l.opts); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	for _, p := range pids {
		// An exited orphan may wait a moment for init to reap it: a
		// zombie holds nothing.
		if stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p)); err == nil && !strings.Contains(string(stat), ") Z ") {
			t.Errorf("process %d survived destroy: %s", p, stat)
		}
	}
	t.Logf("restart times: %v", times)
}
