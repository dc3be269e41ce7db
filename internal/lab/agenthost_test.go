package lab

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sr6net/sr6/internal/agent"
	"github.com/sr6net/sr6/internal/pki"
	"github.com/sr6net/sr6/internal/supervise"
)

// TestHostReadiness: the agent host is ready once every agent answers over
// mutual TLS; the check names those that do not, remembers those that did
// for the same host process, and starts over for another one, whose
// probes a check of the old one left running do not count.
func TestHostReadiness(t *testing.T) {
	l := Layout{Dir: t.TempDir()}
	ca, err := pki.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	nodes := []string{"r1", "r2", "r3"}
	if err := ca.IssueAll(l.PKI(), append([]string{}, nodes...), true); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Issue(l.PKI(), ControllerIdentity, false); err != nil {
		t.Fatal(err)
	}
	r := &hostReadiness{labDir: l.Dir, pidFile: l.AgentHostPid(), nodes: nodes}
	check := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return r.check(ctx)
	}
	if err := check(); err == nil || !strings.Contains(err.Error(), "3 of 3 agents not answering yet (r1, r2, r3)") {
		t.Fatalf("no host: %v", err)
	}
	if err := supervise.WritePidFile(l.AgentHostPid(), os.Getpid()); err != nil {
		t.Fatal(err)
	}
	// A host serving r1 and r2 (in this process's namespace: GetState
	// only reads).
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	var cfgs []agent.Config
	for _, n := range nodes[:2] {
		if err := os.MkdirAll(l.Node(n), 0o755); err != nil {
			t.Fatal(err)
		}
		cfg, err := agentOptions(l, n).Config(quiet)
		if err != nil {
			t.Fatal(err)
		}
		cfg.StateFile = ""
		cfgs = append(cfgs, cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = agent.RunHost(ctx, cfgs, quiet)
	}()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := check()
		if err != nil && strings.Contains(err.Error(), "1 of 3 agents not answering yet (r3)") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("host of r1 and r2: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	r.mu.Lock()
	remembered := r.ready["r1"] && r.ready["r2"] && !r.ready["r3"]
	r.mu.Unlock()
	if !remembered {
		t.Errorf("ready agents: %v, want r1 and r2", r.ready)
	}
	// Another host process: what the last one answered counts no more.
	if err := supervise.WritePidFile(l.AgentHostPid(), 1); err != nil {
		t.Fatal(err)
	}
	r.nodes = nodes[:2]
	if err := check(); err != nil {
		t.Errorf("r1 and r2 of the new host: %v", err)
	}
	r.mu.Lock()
	if r.pid != 1 || len(r.ready) != 2 {
		t.Errorf("after the new host: pid %d, ready %v", r.pid, r.ready)
	}
	r.mu.Unlock()
}
