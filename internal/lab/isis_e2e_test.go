package lab_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/supervise"
	"github.com/sr6net/sr6/internal/testutil"
)

// daemons returns the lab's supervised daemons by name, as inspect reports
// them.
func (l *testLab) daemons() map[string]supervise.Status {
	l.t.Helper()
	in, err := lab.Inspect(context.Background(), l.name, l.opts)
	if err != nil {
		l.t.Fatal(err)
	}
	out := map[string]supervise.Status{}
	for _, d := range in.Daemons {
		out[d.Name] = d
	}
	return out
}

// isisRoute tells whether node has an IS-IS route to prefix in its kernel.
func (l *testLab) isisRoute(node, prefix string) error {
	out, err := l.run(node, "ip", "-6", "route", "show", prefix, "proto", "isis")
	if err != nil {
		return fmt.Errorf("ip route on %s: %v: %s", node, err, out)
	}
	if strings.TrimSpace(out) == "" {
		return fmt.Errorf("%s has no IS-IS route to %s", node, prefix)
	}
	return nil
}

// outage is what a route did after a daemon was killed.
type outage struct {
	lost      bool
	lostAfter time.Duration // from the kill to the first sample without it
	backAfter time.Duration // from the kill to the first sample with it again
	err       error
}

// watchRoute samples node's IS-IS route to prefix every 20 ms from now on,
// until it is back after a loss, or it was never lost for quiet; the
// channel gets what it saw, timed from the instant *killed holds (set by
// the caller once it killed).
func (l *testLab) watchRoute(node, prefix string, killed *time.Time, mu *sync.Mutex, quiet time.Duration) <-chan outage {
	ch := make(chan outage, 1)
	start := time.Now()
	go func() {
		var o outage
		for {
			err := l.isisRoute(node, prefix)
			now := time.Now()
			mu.Lock()
			at := *killed
			mu.Unlock()
			switch {
			case err != nil && !o.lost && !at.IsZero():
				o.lost, o.lostAfter = true, now.Sub(at)
			case err == nil && o.lost:
				o.backAfter = now.Sub(at)
				ch <- o
				return
			}
			if now.Sub(start) > quiet && !o.lost {
				ch <- o
				return
			}
			if now.Sub(start) > 3*quiet {
				o.err = fmt.Errorf("%s: no IS-IS route to %s for %s", node, prefix, now.Sub(at).Round(time.Millisecond))
				ch <- o
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return ch
}

// TestISISDaemonsComeBack: zebra and isisd are supervised daemons. SIGKILL
// r2's isisd, then r2's zebra: each is back within seconds (isisd also
// restarted after zebra, which FRR 8.4 needs to install its routes again),
// and the IGP routes through r2 come back. A new supervisor adopts them,
// and destroy leaves no FRR process.
func TestISISDaemonsComeBack(t *testing.T) {
	t.Parallel()
	testutil.RequirePrivileged(t, lab.FRRDir+"/zebra", lab.FRRDir+"/isisd")
	l := newLab(t, "line3.yaml", func(s string) string {
		return strings.Replace(s, "nodes:", "routing: isis\nnodes:", 1)
	})
	// FRR alone: the supervisor runs for the FRR daemons even without
	// agents or a controller.
	l.opts.Binary = sr6Binary
	l.deploy()
	layout := l.layout()
	r1Loc, r3Loc := l.nw.Node("r1").Locator.String(), l.nw.Node("r3").Locator.String()

	ds := l.daemons()
	for _, r := range []string{"r1", "r2", "r3"} {
		for _, d := range []string{"zebra", "isisd"} {
			if st := ds[d+"/"+r]; st.State != supervise.Ready || st.PID == 0 {
				t.Errorf("inspect: %s/%s is %+v, want ready", d, r, st)
			}
		}
	}
	if len(ds) != 6 {
		t.Errorf("inspect lists %d daemons, want 6 (zebra and isisd on 3 routers): %v", len(ds), ds)
	}
	if t.Failed() {
		t.FailNow()
	}

	var mu sync.Mutex
	times := map[string]time.Duration{}
	record := func(what string, d time.Duration) {
		mu.Lock()
		times[what] = d
		mu.Unlock()
		t.Logf("%s: %s", what, d.Round(time.Millisecond))
	}
	for _, killed := range []string{"isisd", "zebra"} {
		before := l.daemons()
		oldISISd := before["isisd/r2"]
		// r1 keeps its route through r2 if r2's isisd is back before r1's
		// adjacency times out (3 s), else it loses it for a while.
		var killMu sync.Mutex
		var killedAt time.Time
		routes := []struct {
			node, to, prefix string
			seen             <-chan outage
		}{
			{"r1", "r3", r3Loc, l.watchRoute("r1", r3Loc, &killedAt, &killMu, 5*time.Second)},
			{"r2", "r1", r1Loc, l.watchRoute("r2", r1Loc, &killedAt, &killMu, 5*time.Second)},
			{"r2", "r3", r3Loc, l.watchRoute("r2", r3Loc, &killedAt, &killMu, 5*time.Second)},
		}
		old, at := killDaemon(t, layout.FRRPid("r2", killed))
		killMu.Lock()
		killedAt = at
		killMu.Unlock()
		// Back: ready under a new pid; isisd restarted after zebra when zebra
		// was the one killed.
		record(killed+" r2 ready again", backWithin(t, killed+" of r2", at, 3*time.Second, func() error {
			ds := l.daemons()
			st := ds[killed+"/r2"]
			if st.State != supervise.Ready || st.PID == old || st.PID == 0 {
				return fmt.Errorf("%s/r2: %s (pid %d, killed %d)", killed, st.State, st.PID, old)
			}
			if is := ds["isisd/r2"]; is.State != supervise.Ready || is.PID == oldISISd.PID {
				return fmt.Errorf("isisd/r2: %s (pid %d, was %d)", is.State, is.PID, oldISISd.PID)
			}
			return nil
		}))
		ds := l.daemons()
		if killed == "zebra" {
			is := ds["isisd/r2"]
			if is.Restarts != oldISISd.Restarts+1 || is.LastExit == nil || !strings.Contains(is.LastExit.Reason, "zebra/r2 exited") {
				t.Errorf("isisd/r2 after zebra was killed: %+v, want restarted after zebra/r2", is)
			}
		}
		if st := ds[killed+"/r2"]; st.LastExit == nil || st.LastExit.Signal != "killed" {
			t.Errorf("%s/r2 last exit %+v, want killed", killed, st.LastExit)
		}
		// The routes through r2, and r2's own.
		// The routes through r2, and r2's own.
		for _, r := range routes {
			what := fmt.Sprintf("%s r2: %s's route to %s's locator", killed, r.node, r.to)
			switch o := <-r.seen; {
			case o.err != nil:
				t.Errorf("%s: %v", what, o.err)
			case o.lost:
				record(what+" back", o.backAfter)
				t.Logf("%s: lost %s after the kill", what, o.lostAfter.Round(time.Millisecond))
				if o.backAfter > 10*time.Second {
					t.Errorf("%s: back after %s, want within 10s", what, o.backAfter.Round(time.Millisecond))
				}
			default:
				t.Logf("%s: kept (r2's isisd back before the adjacency timed out)", what)
			}
			if err := l.isisRoute(r.node, r.prefix); err != nil {
				t.Error(err)
			}
		}
		eventually(t, 5*time.Second, "h1 reaches h2 over IS-IS after "+killed+" of r2 was killed", func() error {
			if got := l.ping("h1", "h2", false, 3); got != 3 {
				return fmt.Errorf("ping h1 -> h2: %d/3", got)
			}
			return nil
		})
		for _, n := range []string{"r1", "r3"} {
			for _, d := range []string{"zebra", "isisd"} {
				if st := ds[d+"/"+n]; st.PID != before[d+"/"+n].PID {
					t.Errorf("%s/%s restarted (pid %d -> %d): only r2's daemons were killed", d, n, before[d+"/"+n].PID, st.PID)
				}
			}
		}
	}

	// The supervisor dies, then r3's isisd: deploy again adopts the FRR
	// daemons still running, starts r3's isisd and waits for IS-IS.
	before := l.daemons()
	killDaemon(t, layout.SupervisorPid())
	killDaemon(t, layout.FRRPid("r3", "isisd"))
	time.Sleep(300 * time.Millisecond) // nothing may restart it now
	if p, ok := supervise.Running(layout.FRRPid("r3", "isisd")); ok {
		t.Fatalf("isisd of r3 (%d) runs again without a supervisor", p)
	}
	said, took := l.redeploy()
	record("deploy after the supervisor and r3's isisd died", took)
	for _, line := range []string{"supervisor was not running: started it",
		fmt.Sprintf("zebra/r1: running (pid %d): adopted", before["zebra/r1"].PID),
		fmt.Sprintf("isisd/r2: running (pid %d): adopted", before["isisd/r2"].PID),
		"isisd/r3: was not running: started", "isis converged", "re-converged"} {
		if !strings.Contains(said, line) {
			t.Errorf("deploy did not say %q", line)
		}
	}
	for name, st := range l.daemons() {
		if st.State != supervise.Ready {
			t.Errorf("after deploy: %s is %s", name, st.State)
		}
		if name != "isisd/r3" && st.PID != before[name].PID {
			t.Errorf("after deploy: %s has pid %d, want %d adopted", name, st.PID, before[name].PID)
		}
	}
	if err := l.isisRoute("r3", r1Loc); err != nil {
		t.Error(err)
	}

	dir := l.dir()
	if err := lab.Destroy(context.Background(), l.name, l.opts); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if pids := processesMentioning(dir); len(pids) > 0 {
		t.Errorf("FRR processes survived destroy: %v", pids)
	}
	t.Logf("times: %v", times)
}
