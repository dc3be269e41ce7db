package agent

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	"github.com/sr6net/sr6/internal/dataplane"
	"github.com/sr6net/sr6/internal/intent"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/testutil"
)

func ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// hostNamespaces makes two namespaces joined by a veth pair, a1 in the
// first and b1 in the second, removed when the test ends.
func hostNamespaces(t *testing.T) (a, b string) {
	t.Helper()
	a, b = testutil.UniqueName("sr6ha"), testutil.UniqueName("sr6hb")
	for _, ns := range []string{a, b} {
		t.Cleanup(func() {
			if err := nsutil.Delete(ns); err != nil {
				t.Errorf("delete namespace %s: %v", ns, err)
			}
		})
		if err := nsutil.Create(ns); err != nil {
			t.Fatal(err)
		}
		ip(t, "-n", ns, "link", "set", "lo", "up")
	}
	ip(t, "-n", a, "link", "add", "a1", "type", "veth", "peer", "name", "b1", "netns", b)
	ip(t, "-n", a, "link", "set", "a1", "up")
	ip(t, "-n", b, "link", "set", "b1", "up")
	// Up is the operational state, which follows the carrier a moment later.
	for _, l := range [][2]string{{a, "a1"}, {b, "b1"}} {
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(ip(t, "-n", l[0], "link", "show", l[1]), "state UP") {
			if time.Now().After(deadline) {
				t.Fatalf("%s never came up", l[1])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return a, b
}

// netnsInode identifies the network namespace of a thread or a path.
func netnsInode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// TestHostServesEachNamespace runs two agents in one process, each for its
// own namespace: link snapshots, routes and GetState are each namespace's
// own, nothing lands in the process's namespace, and no thread of the
// process is left in another namespace.
func TestHostServesEachNamespace(t *testing.T) {
	testutil.RequirePrivileged(t, "ip")
	self := netnsInode(t, "/proc/thread-self/ns/net")
	nsA, nsB := hostNamespaces(t)
	dir := t.TempDir()
	cfgs := []Config{
		{Node: "ra", Netns: nsutil.Path(nsA), Listen: "unix://" + filepath.Join(dir, "a.sock"), StateFile: filepath.Join(dir, "a.state"), Insecure: true},
		{Node: "rb", Netns: nsutil.Path(nsB), Listen: "unix://" + filepath.Join(dir, "b.sock"), StateFile: filepath.Join(dir, "b.state"), Insecure: true},
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := RunHost(ctx, cfgs, nil); err != nil {
			t.Errorf("RunHost: %v", err)
		}
	}()
	// Stopped before the namespaces go (cleanups run last first).
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	client := func(cfg Config) agentv1.AgentClient {
		conn, err := grpc.NewClient(cfg.Listen, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return agentv1.NewAgentClient(conn)
	}
	ca, cb := client(cfgs[0]), client(cfgs[1])
	callCtx, callCancel := context.WithTimeout(ctx, 10*time.Second)
	defer callCancel()

	// Each agent's link snapshot is its namespace's interfaces only.
	for _, tc := range []struct {
		c    agentv1.AgentClient
		node string
		ifc  string
	}{{ca, "ra", "a1"}, {cb, "rb", "b1"}} {
		stream, err := tc.c.WatchLinks(callCtx, &agentv1.WatchLinksRequest{}, grpc.WaitForReady(true))
		if err != nil {
			t.Fatal(err)
		}
		ev, err := stream.Recv()
		if err != nil {
			t.Fatalf("%s: link snapshot: %v", tc.node, err)
		}
		if ev.Node != tc.node || ev.Interface != tc.ifc || !ev.Snapshot || !ev.Up {
			t.Errorf("%s: first link event %v, want %s up in the snapshot", tc.node, ev, tc.ifc)
		}
	}

	// A route applied through ra is in ra's namespace only.
	pf := netip.MustParsePrefix("fd00:a0a0::/64")
	desired := intent.ToProto(intent.State{Generation: 7, State: dataplane.State{
		Underlay: []dataplane.UnderlayRoute{{Prefix: pf, Unreachable: true}}}})
	if _, err := ca.Apply(callCtx, &agentv1.ApplyRequest{State: desired}, grpc.WaitForReady(true)); err != nil {
		t.Fatalf("apply on ra: %v", err)
	}
	if out := ip(t, "-n", nsA, "-6", "route", "show", "proto", "86"); !strings.Contains(out, pf.String()) {
		t.Errorf("ra's namespace lacks %s:\n%s", pf, out)
	}
	if out := ip(t, "-n", nsB, "-6", "route", "show", "proto", "86"); strings.Contains(out, pf.String()) {
		t.Errorf("rb's namespace has ra's route:\n%s", out)
	}
	if out := ip(t, "-6", "route", "show", "proto", "86"); strings.Contains(out, pf.String()) {
		t.Errorf("the process's own namespace has ra's route:\n%s", out)
	}
	st, err := ca.GetState(callCtx, &agentv1.GetStateRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Node != "ra" || st.Generation != 7 || len(st.Underlay) != 1 || len(st.Interfaces) != 1 || st.Interfaces[0].Name != "a1" {
		t.Errorf("ra's state: node %s generation %d underlay %v interfaces %v", st.Node, st.Generation, st.Underlay, st.Interfaces)
	}
	if st, err = cb.GetState(callCtx, &agentv1.GetStateRequest{}); err != nil {
		t.Fatal(err)
	} else if len(st.Underlay) != 0 || len(st.Interfaces) != 1 || st.Interfaces[0].Name != "b1" {
		t.Errorf("rb's state: underlay %v interfaces %v", st.Underlay, st.Interfaces)
	}
	if _, err := os.Stat(cfgs[0].StateFile); err != nil {
		t.Errorf("ra's state file: %v", err)
	}

	// Every thread of this process is back in its own namespace. Not the
	// main thread: nsutil.Create ends a locked goroutine in the namespace it
	// made, and when that goroutine ran on the main thread, which the Go
	// runtime cannot end, the runtime parks the thread for good instead of
	// reusing it.
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	for _, task := range tasks {
		if task.Name() == fmt.Sprint(os.Getpid()) {
			continue
		}
		var stt unix.Stat_t
		if err := unix.Stat(fmt.Sprintf("/proc/self/task/%s/ns/net", task.Name()), &stt); err != nil {
			continue // the thread ended meanwhile
		}
		if stt.Ino != self {
			t.Errorf("thread %s is in another network namespace (inode %d, the process's %d)", task.Name(), stt.Ino, self)
		}
	}
}
