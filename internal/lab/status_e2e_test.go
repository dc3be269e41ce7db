package lab_test

import (
	"context"
	"errors"
	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"os"
	"strings"
	"testing"
	"time"
)

// TestPolicyStatusFromTheKernel runs a lab with its agents and controller:
// a policy is up once r1's kernel holds its routes; what the kernel would
// refuse through the API (a segment list past the SRH's 127 SIDs, the
// probe's 20,001 waypoints) is refused with 400 before anything is stored,
// while the longest list the kernel takes is installed; a route the kernel
// refuses (IPv6 disabled on r1's SID device, so that every IPv6 route
// through it gets EACCES) makes its policy failed with the kernel's error,
// is not pushed again every second, and comes up after a change once the
// kernel takes it.
func TestPolicyStatusFromTheKernel(t *testing.T) {
	t.Parallel()
	l := newLab(t, "triangle.yaml", nil)
	c := l.withController()
	ctx := context.Background()
	l.addPolicy(c, restv1.Policy{Name: "fwd", From: "h1", To: "h2", Include: []string{"r2"}})
	l.waitState(c, "fwd", restv1.StateUp, "")

	// r2, r3, r2, ... ending at r3, the endpoint: n SIDs.
	alternate := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = []string{"r3", "r2"}[(n-1-i)%2]
		}
		return out
	}
	for _, tt := range []struct {
		p      restv1.Policy
		reason string
	}{
		{restv1.Policy{Name: "huge", From: "h1", To: "h2", Segments: alternate(20001)}, "at most 127 SIDs in encap mode (an SRH holds 127); these 20001 segments make 20001"},
		{restv1.Policy{Name: "long", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:70::/64"}, Segments: alternate(128)}, "at most 127 SIDs"},
		{restv1.Policy{Name: "self", Headend: "r1", Endpoint: "r1", Prefixes: []string{"fd00:71::/64"}, Include: []string{"r2"}}, "r1 is also the headend"},
	} {
		_, err := c.AddPolicy(ctx, tt.p, false)
		var apiErr *restv1.APIError
		if !errors.As(err, &apiErr) || apiErr.Status != 400 || apiErr.Err == nil || !strings.Contains(apiErr.Err.Reason, tt.reason) {
			t.Errorf("%s: %v, want 400 ~%q", tt.p.Name, err, tt.reason)
		}
	}
	if _, err := c.Policy(ctx, "huge"); err == nil {
		t.Error("a refused policy was stored")
	}
	// The limit is the kernel's: 127 SIDs install.
	l.addPolicy(c, restv1.Policy{Name: "max", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:72::/64"}, Segments: alternate(127)})
	l.waitState(c, "max", restv1.StateUp, "")
	out, _ := l.run("r1", "ip", "-6", "route", "show", "fd00:72::/64")
	if n := strings.Count(out, "fc00:0:"); n != 127 {
		t.Errorf("r1's kernel route for fd00:72::/64 has %d SIDs, want 127:\n%.300s", n, out)
	}

	// The kernel refuses IPv6 routes through a device with IPv6 disabled
	// (and drops the ones it had). Registered first so that it runs even
	// when the test fails.
	t.Cleanup(func() { _, _ = l.run("r1", "sysctl", "-qw", "net.ipv6.conf.sr6.disable_ipv6=0") })
	if out, err := l.run("r1", "sysctl", "-qw", "net.ipv6.conf.sr6.disable_ipv6=1"); err != nil {
		t.Fatalf("disable IPv6 on r1's SID device: %v %s", err, out)
	}
	l.addPolicy(c, restv1.Policy{Name: "late", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:73::/64"}})
	v := l.waitState(c, "late", restv1.StateFailed, "headend r1's kernel refused fd00:73::/64: ")
	t.Logf("late: %s: %s", v.Status.State, v.Status.Reason)
	if len(v.Status.Segments) == 0 {
		t.Errorf("a failed policy still shows its computed segments: %+v", v.Status)
	}
	// Not retried every second: the agent applies r1's state once or twice
	// in 3 s, not once a second.
	agentLog := l.layout().AgentLog("r1")
	applied := func() int {
		data, _ := os.ReadFile(agentLog)
		return strings.Count(string(data), "msg=applied")
	}
	before := applied()
	time.Sleep(3 * time.Second)
	if n := applied() - before; n > 1 {
		t.Errorf("r1's agent applied its state %d times in 3 s after the refusal, want no retry", n)
	}
	if v, _ := c.Policy(ctx, "late"); v.Status.State != restv1.StateFailed {
		t.Errorf("late after 3 s: %+v", v.Status)
	}

	// The kernel takes it again; a change is pushed at once and confirmed.
	if out, err := l.run("r1", "sysctl", "-qw", "net.ipv6.conf.sr6.disable_ipv6=0"); err != nil {
		t.Fatalf("enable IPv6 on r1's SID device: %v %s", err, out)
	}
	if _, err := c.AddPolicy(ctx, restv1.Policy{Name: "late", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:73::/64"},
		Include: []string{"r2"}}, true); err != nil {
		t.Fatal(err)
	}
	l.waitState(c, "late", restv1.StateUp, "")
	l.waitState(c, "fwd", restv1.StateUp, "")
	if got := l.ping("h1", "h2", false, 3); got != 3 {
		t.Errorf("IPv6 through fwd after the kernel took its routes again: %d/3", got)
	}
}
