package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/sr6net/sr6/internal/intent"
	"github.com/sr6net/sr6/internal/store"
	"github.com/sr6net/sr6/internal/testutil"
	"github.com/sr6net/sr6/internal/topo"
)

// fakeAgents answers pushes as agents would: dead nodes fail, and the
// kernel refuses steering routes to refused prefixes.
type fakeAgents struct {
	mu      sync.Mutex
	dead    map[string]error
	refused map[string]string // prefix -> kernel error
	pushes  map[string]int
}

func newFakeAgents() *fakeAgents {
	return &fakeAgents{dead: map[string]error{}, refused: map[string]string{}, pushes: map[string]int{}}
}

func (f *fakeAgents) Push(_ context.Context, node string, st *intent.State) (Applied, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pushes[node]++
	if err := f.dead[node]; err != nil {
		return Applied{}, err
	}
	var a Applied
	for _, s := range st.Steering {
		r := RouteResult{Kind: "steering", Prefix: s.Prefix.String(), Policy: s.Policy, Installed: true}
		if e, ok := f.refused[s.Prefix.String()]; ok {
			r.Installed, r.Error = false, e
		}
		a.Routes = append(a.Routes, r)
	}
	return a, nil
}

func (f *fakeAgents) count(node string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.pushes[node]
}

// newFakeController is a triangle controller pushing to agents, logging
// into the returned buffer.
func newFakeController(t *testing.T, example string, agents Pusher) (*Controller, *testutil.SyncBuffer) {
	t.Helper()
	nw, err := topo.LoadNetwork(filepath.Join("..", "..", "examples", example))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &testutil.SyncBuffer{}
	c, err := New(nw, st, agents, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return c, logs
}

// TestStatusFromTheAgent: a computed policy is up only once its headend's
// agent reports its routes installed; a route the kernel refused makes it
// failed with the kernel's error; an unreachable agent makes it pending,
// saying so, also after it had been up.
func TestStatusFromTheAgent(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(f *fakeAgents)
		push   bool
		state  string
		reason string
	}{
		{"not pushed yet", nil, false, StatePending, "waiting for headend r1's agent"},
		{"installed", nil, true, StateUp, ""},
		{"refused by the kernel", func(f *fakeAgents) { f.refused["fd00:0:2:2::/64"] = "permission denied" }, true,
			StateFailed, "headend r1's kernel refused fd00:0:2:2::/64: permission denied"},
		{"headend's agent dead", func(f *fakeAgents) { f.dead["r1"] = errors.New("connection refused") }, true,
			StatePending, "headend r1's agent is unreachable"},
		{"headend's agent refuses the whole state", func(f *fakeAgents) { f.dead["r1"] = status.Error(codes.InvalidArgument, "steering[0]: bad") }, true,
			StateFailed, "headend r1's agent refused its state: "},
		{"another node's agent dead", func(f *fakeAgents) { f.dead["r2"] = errors.New("connection refused") }, true, StateUp, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAgents()
			if tt.setup != nil {
				tt.setup(f)
			}
			c, _ := newFakeController(t, "triangle.yaml", f)
			if _, err := c.AddPolicy(context.Background(), Policy{Name: "p", From: "h1", To: "h2", Include: []string{"r2"}}, false); err != nil {
				t.Fatal(err)
			}
			if tt.push {
				syncAgents(c)
			}
			v, _ := c.PolicyByName("p")
			if v.Status.State != tt.state || !strings.Contains(v.Status.Reason, tt.reason) || (tt.reason == "") != (v.Status.Reason == "") {
				t.Errorf("status %s %q, want %s ~%q", v.Status.State, v.Status.Reason, tt.state, tt.reason)
			}
			if len(v.Status.Path) == 0 || len(v.Status.Segments) == 0 {
				t.Errorf("the computed path and segments must show whatever the agent said: %+v", v.Status)
			}
		})
	}
	t.Run("up, then its agent dies", func(t *testing.T) {
		f := newFakeAgents()
		c, _ := newFakeController(t, "triangle.yaml", f)
		if _, err := c.AddPolicy(context.Background(), Policy{Name: "p", From: "h1", To: "h2"}, false); err != nil {
			t.Fatal(err)
		}
		syncAgents(c)
		if v, _ := c.PolicyByName("p"); v.Status.State != StateUp {
			t.Fatalf("before: %+v", v.Status)
		}
		c.agentUnreachable("r1", errors.New("link event stream ended: EOF"), time.Now())
		if v, _ := c.PolicyByName("p"); v.Status.State != StatePending || !strings.Contains(v.Status.Reason, "unreachable") {
			t.Errorf("after r1's agent died: %s %q, want pending / unreachable", v.Status.State, v.Status.Reason)
		}
		syncAgents(c) // it is back: a push succeeds
		if v, _ := c.PolicyByName("p"); v.Status.State != StateUp {
			t.Errorf("after r1's agent came back: %+v", v.Status)
		}
	})
}

// TestRefusedRoutesAreNotRetriedEverySecond: the node pusher, ticking every
// second, pushes a refused state again only after a long pause (doubling),
// or at once when the node's desired state changes; a dead agent's failures
// are logged once, not at every retry.
func TestRefusedRoutesAreNotRetriedEverySecond(t *testing.T) {
	f := newFakeAgents()
	f.refused["fd00:0:2:2::/64"] = "invalid argument"
	c, logs := newFakeController(t, "triangle.yaml", f)
	ctx := context.Background()
	if _, err := c.AddPolicy(ctx, Policy{Name: "p", From: "h1", To: "h2"}, false); err != nil {
		t.Fatal(err)
	}
	np := &nodePush{node: "r1"}
	start := time.Now()
	for s := range 60 { // a minute of one-second ticks
		c.pushStep(ctx, np, start.Add(time.Duration(s)*time.Second))
	}
	if n := f.count("r1"); n != 2 {
		t.Errorf("%d pushes in a minute of a refused state, want 2 (the first, then one after %s)", n, refusedRetry)
	}
	if n := strings.Count(logs.String(), "kernel refused"); n != 1 {
		t.Errorf("the refusal was logged %d times, want once:\n%s", n, logs)
	}
	if v, _ := c.PolicyByName("p"); v.Status.State != StateFailed || !strings.Contains(v.Status.Reason, "invalid argument") {
		t.Errorf("status %+v, want failed with the kernel's error", v.Status)
	}
	// A change to r1's state is pushed at the next tick; fixed, it is up.
	delete(f.refused, "fd00:0:2:2::/64")
	if _, err := c.AddPolicy(ctx, Policy{Name: "p", From: "h1", To: "h2", Include: []string{"r2"}}, true); err != nil {
		t.Fatal(err)
	}
	c.pushStep(ctx, np, start.Add(61*time.Second))
	if n := f.count("r1"); n != 3 {
		t.Errorf("%d pushes after the change, want 3", n)
	}
	if v, _ := c.PolicyByName("p"); v.Status.State != StateUp {
		t.Errorf("after the change: %+v", v.Status)
	}

	f.dead["r2"] = errors.New("connection refused")
	np2 := &nodePush{node: "r2"}
	for s := range 120 {
		c.pushStep(ctx, np2, start.Add(time.Duration(s)*time.Second))
	}
	if n := strings.Count(logs.String(), "push failed"); n > 2 {
		t.Errorf("a dead agent's failed push logged %d times in two minutes, want at most 2", n)
	}
	if n := f.count("r2"); n != 120 {
		t.Errorf("%d pushes to an unreachable agent in two minutes of ticks, want one a tick (120)", n)
	}
	// An agent that answers but refuses the whole state is not asked again
	// every second either.
	f.dead["r3"] = status.Error(codes.Internal, "netlink: no buffer space")
	np3 := &nodePush{node: "r3"}
	for s := range 60 {
		c.pushStep(ctx, np3, start.Add(time.Duration(s)*time.Second))
	}
	if n := f.count("r3"); n != 2 {
		t.Errorf("%d pushes in a minute to an agent refusing its state, want 2", n)
	}
	if n := strings.Count(logs.String(), "agent refused its desired state"); n != 1 {
		t.Errorf("the rejection was logged %d times, want once", n)
	}
}

// TestPolicyLimits: what the kernel would refuse is refused before it is
// stored, naming the field, the limit and the value.
func TestPolicyLimits(t *testing.T) {
	alternate := func(n int) []string { // r2, r3, r2, ... ending at r3, the endpoint
		out := make([]string, n)
		for i := range out {
			out[i] = []string{"r3", "r2"}[(n-1-i)%2]
		}
		return out
	}
	tests := []struct {
		name   string
		p      Policy
		field  string
		reason string // "" accepted
	}{
		{"127 SIDs encap", Policy{Name: "x", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:9::/64"}, Segments: alternate(127)}, "", ""},
		{"128 SIDs encap", Policy{Name: "x", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:9::/64"}, Segments: alternate(128)},
			"segments", "at most 127 SIDs in encap mode (an SRH holds 127); these 128 segments make 128"},
		{"20,001 waypoints", Policy{Name: "x", From: "h1", To: "h2", Segments: alternate(20001)}, "segments", "these 20001 segments make 20001"},
		{"126 SIDs inline", Policy{Name: "x", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:9::/64"}, Mode: "inline", Segments: alternate(126)}, "", ""},
		{"127 SIDs inline", Policy{Name: "x", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:9::/64"}, Mode: "inline", Segments: alternate(127)},
			"segments", "at most 126 SIDs in inline mode"},
		{"the endpoint's SID counts", Policy{Name: "x", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:9::/64"}, Segments: alternate(127)[:126]}, "", ""},
		{"the endpoint's SID counts past the limit", Policy{Name: "x", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:9::/64"},
			Segments: append(alternate(127), "r2")}, "segments", "these 128 segments make 129"},
		{"headend is the endpoint", Policy{Name: "x", Headend: "r1", Endpoint: "r1", Prefixes: []string{"fd00:9::/64"}, Include: []string{"r2"}},
			"endpoint", "r1 is also the headend"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestController(t, "triangle.yaml")
			v, err := c.AddPolicy(context.Background(), tt.p, false)
			if tt.reason == "" {
				if err != nil || v.Status.State == StateDown {
					t.Fatalf("refused: %v %+v", err, v.Status.Reason)
				}
				return
			}
			var in *InputError
			if !errors.As(err, &in) || in.Field != tt.field || !strings.Contains(in.Reason, tt.reason) {
				t.Fatalf("err %v, want %s: ~%q", err, tt.field, tt.reason)
			}
			if _, err := c.PolicyByName("x"); err == nil {
				t.Errorf("a refused policy was stored")
			}
		})
	}
	// Host form: two hosts of one router.
	c := newTestController(t, "dc8.yaml")
	_, err := c.AddPolicy(context.Background(), Policy{Name: "local", From: "h11", To: "hdc1"}, false)
	var in *InputError
	if !errors.As(err, &in) || in.Field != "to" || !strings.Contains(in.Reason, "both attached to r1") {
		t.Errorf("policy between two hosts of r1: %v", err)
	}
}

// TestConcurrentPostsOneWins: policies of different names for one prefix
// and headend, posted at the same time: exactly one is created, every
// other gets 409 in the API's error shape. Many rounds, so that the race
// the conflict check once lost shows.
func TestConcurrentPostsOneWins(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	srv, hc := guarded(t, c, HandlerConfig{}), authClient()
	const rounds, callers = 30, 8
	for round := range rounds {
		codes := make([]int, callers)
		bodies := make([]map[string]map[string]any, callers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := fmt.Sprintf(`{"name":"p%d-%d","headend":"r1","endpoint":"r3","prefixes":["fd00:%x::/64"]}`, round, i, round+1)
				<-start
				resp, err := hc.Post(srv.URL+"/v1/policies", "application/json", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				defer resp.Body.Close()
				codes[i] = resp.StatusCode
				_ = json.NewDecoder(resp.Body).Decode(&bodies[i])
			}()
		}
		close(start)
		wg.Wait()
		created := 0
		for i, code := range codes {
			switch code {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
				e := bodies[i]["error"]
				if e["field"] != "prefixes[0]" || !strings.Contains(fmt.Sprint(e["reason"]), "already steered at r1 by policy") {
					t.Errorf("round %d: 409 body %v", round, bodies[i])
				}
			default:
				t.Errorf("round %d: status %d %v", round, code, bodies[i])
			}
		}
		if created != 1 {
			t.Fatalf("round %d: %d of %d concurrent posts for one prefix were created, want exactly 1 (%v)", round, created, callers, codes)
		}
	}
	// The same name twice is a conflict too.
	for i, want := range []int{http.StatusCreated, http.StatusConflict} {
		body := fmt.Sprintf(`{"name":"dup","headend":"r1","endpoint":"r3","prefixes":["fd00:fff%d::/64"]}`, i)
		resp, err := hc.Post(srv.URL+"/v1/policies", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("post %d of one name: %d, want %d", i+1, resp.StatusCode, want)
		}
	}
}

// TestHeldDownPolicyRecomputesOnlyWhatChanges: with a policy held down (a
// shared store gave two policies one prefix), adding policies at r1 must
// not recompute everything: r2's and r3's desired states stay as they are.
// Removing the holder brings the held one up.
func TestHeldDownPolicyRecomputesOnlyWhatChanges(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	ctx := context.Background()
	for _, p := range []Policy{
		{Name: "a-holder", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:99::/64"}},
		{Name: "b-held", Headend: "r1", Endpoint: "r2", Prefixes: []string{"fd00:99::/64"}},
	} {
		data, _ := json.Marshal(p)
		if _, err := c.store.Put(ctx, policyPrefix+p.Name, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if v, _ := c.PolicyByName("b-held"); v.Status.State != StateDown || !strings.Contains(v.Status.Reason, "by policy a-holder") {
		t.Fatalf("held: %+v", v.Status)
	}
	_, r2 := c.desiredVersion("r2")
	_, r3 := c.desiredVersion("r3")
	recomputes := c.recomputes
	for i := range 30 {
		if _, err := c.AddPolicy(ctx, Policy{Name: fmt.Sprintf("n%d", i), Headend: "r1", Endpoint: "r3",
			Prefixes: []string{fmt.Sprintf("fd00:a:%x::/64", i)}}, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, v := c.desiredVersion("r2"); v != r2 {
		t.Errorf("r2's desired state was rebuilt %d times by 30 adds at r1, want 0", v-r2)
	}
	if _, v := c.desiredVersion("r3"); v != r3 {
		t.Errorf("r3's desired state was rebuilt %d times by 30 adds at r1, want 0", v-r3)
	}
	if n := c.recomputes - recomputes; n != 0 {
		t.Errorf("%d full recomputations for 30 adds, want 0", n)
	}
	if v, _ := c.PolicyByName("b-held"); v.Status.State != StateDown {
		t.Errorf("held after the adds: %+v", v.Status)
	}
	if err := c.DeletePolicy(ctx, "a-holder"); err != nil {
		t.Fatal(err)
	}
	syncAgents(c)
	if v, _ := c.PolicyByName("b-held"); v.Status.State != StateUp {
		t.Errorf("held after its holder was deleted: %+v", v.Status)
	}
	if got := steeringOf(c, "r1")["fd00:99::/64"]; got != "MODE_ENCAP fc00:0:2::d6" {
		t.Errorf("r1 steers fd00:99::/64 as %q, want held's path to r2", got)
	}
	// Up, it holds the prefix against a new policy.
	_, err := c.AddPolicy(ctx, Policy{Name: "c-new", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:99::/64"}}, false)
	var conflict *ConflictError
	if !errors.As(err, &conflict) || !strings.Contains(err.Error(), "by policy b-held") {
		t.Errorf("a new policy for b-held's prefix: %v, want a conflict", err)
	}
}
