package bench

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/testutil"
)

// buildSR6 builds the sr6 binary the labs' agents and controllers run.
func buildSR6(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sr6")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/sr6net/sr6/cmd/sr6").CombinedOutput(); err != nil {
		t.Fatalf("build sr6: %v\n%s", err, out)
	}
	return bin
}

// benchLab are the options of a small run of the lab benchmark in a state
// directory of the test's own, every lab destroyed at the end even if the
// benchmark left one.
func benchLab(t *testing.T) LabOptions {
	t.Helper()
	dir := t.TempDir()
	o := LabOptions{Sizes: []int{4}, Repeat: 1, WorkDir: dir, StateDir: filepath.Join(dir, "state"),
		Prefix: testutil.UniqueName("bt"), Binary: buildSR6(t), ReadyTimeout: time.Minute}
	t.Cleanup(func() {
		opts := lab.Options{Store: lab.Store{Dir: o.StateDir}}
		labs, _ := lab.List(opts)
		for name := range labs {
			t.Errorf("lab %s left behind", name)
			_ = lab.Destroy(context.Background(), name, opts)
		}
		if left := namespacesOf(o.Prefix); len(left) > 0 {
			t.Errorf("namespaces left behind: %v", left)
		}
	})
	return o
}

func namespacesOf(prefix string) []string {
	all, _ := nsutil.List()
	var out []string
	for _, ns := range all {
		if strings.HasPrefix(ns, prefix+"-") {
			out = append(out, ns)
		}
	}
	return out
}

// TestRunLabSmall runs the benchmark on a 4-router ring, Mininet off: the
// bare and full deploys are measured, the full one with every agent
// connected and its processes' RSS, the policies installed; nothing is
// left.
func TestRunLabSmall(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := benchLab(t)
	o.Policies, o.PoliciesAt = 40, 4
	var progress strings.Builder
	rs, err := RunLab(context.Background(), o, &progress)
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if len(rs) != 1 {
		t.Fatalf("%d results, want 1", len(rs))
	}
	r := rs[0]
	if r.Routers != 4 || r.Hosts != 2 || r.Topology != "gen ring --routers 4" {
		t.Errorf("topology %q: %d routers, %d hosts", r.Topology, r.Routers, r.Hosts)
	}
	if !r.Bare.ok() || r.Bare.Deploy <= 0 || r.Bare.Destroy <= 0 {
		t.Errorf("bare: %+v", r.Bare)
	}
	// The supervisor, the agent host (serving the 4 agents) and the
	// controller.
	if !r.Full.ok() || r.Full.Deploy <= r.Bare.Deploy || r.Full.RSS < 6<<20 || r.Full.Procs != 3 {
		t.Errorf("full: %+v (bare %+v)", r.Full, r.Bare)
	}
	var sum uint64
	for _, v := range r.Full.ByDaemon {
		sum += v
	}
	if r.Full.ByDaemon["supervisor"] == 0 || r.Full.ByDaemon["controller"] == 0 || r.Full.ByDaemon["agents"] == 0 || sum != r.Full.RSS+r.Full.FRRRSS {
		t.Errorf("RSS by daemon %v, want the supervisor, the agent host and the controller in it, summing to %d", r.Full.ByDaemon, r.Full.RSS+r.Full.FRRRSS)
	}
	if r.Mininet.Skipped == "" {
		t.Errorf("mininet not skipped: %+v", r.Mininet)
	}
	if p := r.Policies; p == nil || p.Failed != "" || p.Skipped != "" || p.Count != 40 || p.Done < p.API || p.API <= 0 {
		t.Errorf("policies: %+v", p)
	}
}

// TestRunLabInterrupted: Ctrl-C during the full deploy (a 4-router one
// takes about 0.2 s: the cancel comes 20 ms into it) ends the benchmark
// with an interruption, and the lab it was deploying is gone.
func TestRunLabInterrupted(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := benchLab(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &cancelOn{line: "sr6 bare deploy", cancel: func() { time.AfterFunc(20*time.Millisecond, cancel) }}
	rs, err := RunLab(ctx, o, w)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("RunLab: %v, want an interruption", err)
	}
	if len(rs) != 1 || !rs[0].Bare.ok() || rs[0].Full.ok() {
		t.Errorf("results %+v, want the bare run only", rs)
	}
}

// cancelOn calls cancel once a progress line holds line.
type cancelOn struct {
	line   string
	cancel func()
	once   sync.Once
}

func (c *cancelOn) Write(p []byte) (int, error) {
	if strings.Contains(string(p), c.line) {
		c.once.Do(c.cancel)
	}
	return len(p), nil
}
