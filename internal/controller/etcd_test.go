package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sr6net/sr6/internal/store"
	"github.com/sr6net/sr6/internal/testutil"
	"github.com/sr6net/sr6/internal/topo"
)

// TestTwoControllersShareEtcd runs two controllers on one etcd prefix: a
// policy created or deleted through one shows up, computed, in the other.
func TestTwoControllersShareEtcd(t *testing.T) {
	ep := testutil.StartEtcd(t)
	url := "etcd://" + ep + "/" + testutil.UniqueName("sr6")
	nw, err := topo.LoadNetwork("../../examples/triangle.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var cs []*Controller
	for range 2 {
		st, err := store.Open(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		c, err := New(nw, st, nopPusher{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Load(ctx); err != nil {
			t.Fatal(err)
		}
		go func() { _ = c.Follow(ctx) }()
		cs = append(cs, c)
	}
	a, b := cs[0], cs[1]
	time.Sleep(200 * time.Millisecond) // both watches are open
	if _, err := a.AddPolicy(ctx, Policy{Name: "shared", From: "h1", To: "h2", Include: []string{"r2"}}, false); err != nil {
		t.Fatal(err)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within 5s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("b sees the policy a created", func() bool {
		v, err := b.PolicyByName("shared")
		return err == nil && strings.Join(v.Status.Path, ">") == "r1>r2>r3"
	})
	if got := steeringOf(b, "r1")["10.0.2.0/24"]; got != "MODE_ENCAP fc00:0:2::1,fc00:0:3::d4" {
		t.Errorf("b's desired state for r1: %q", got)
	}
	// The name is taken for both.
	if _, err := b.AddPolicy(ctx, Policy{Name: "shared", From: "h2", To: "h1"}, false); err == nil {
		t.Error("b created a policy whose name a already took")
	}
	if err := b.DeletePolicy(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	waitFor("a sees the deletion", func() bool { _, err := a.PolicyByName("shared"); return err != nil })
	if len(steeringOf(a, "r1")) != 0 {
		t.Errorf("a still steers at r1 after the deletion: %v", steeringOf(a, "r1"))
	}
}
