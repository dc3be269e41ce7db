package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/intent"
	"github.com/sr6net/sr6/internal/store"
	"github.com/sr6net/sr6/internal/topo"
)

type nopPusher struct{}

func (nopPusher) Push(context.Context, string, *intent.State) (Applied, error) {
	return Applied{}, nil
}

// syncAgents pushes every node's desired state once, as the node pushers
// do, so that the agents' answers (c.push's) become the policies' status.
func syncAgents(c *Controller) {
	for _, r := range c.routers {
		c.pushStep(context.Background(), &nodePush{node: r.Name}, time.Now())
	}
}

func newTestController(t *testing.T, example string) *Controller {
	t.Helper()
	c, _ := newFakeController(t, example, nopPusher{})
	return c
}

// steeringOf is node's steering, prefix -> "MODE_<mode> segments" (the
// agent API's names for the modes).
func steeringOf(c *Controller, node string) map[string]string {
	out := map[string]string{}
	for _, s := range c.Desired(node).Steering {
		segs := make([]string, len(s.Segments))
		for i, a := range s.Segments {
			segs[i] = a.String()
		}
		out[s.Prefix.String()] = "MODE_" + strings.ToUpper(string(s.Mode)) + " " + strings.Join(segs, ",")
	}
	return out
}

func TestPolicyPaths(t *testing.T) {
	tests := []struct {
		name     string
		p        Policy
		path     string
		segments string
		r1       map[string]string
	}{
		{"shortest path needs only the service SID", Policy{Name: "a", From: "h1", To: "h2"}, "r1>r3", "fc00:0:3::d6",
			map[string]string{"10.0.2.0/24": "MODE_ENCAP fc00:0:3::d4", "fd00:0:2:2::/64": "MODE_ENCAP fc00:0:3::d6"}},
		{"waypoint r2", Policy{Name: "b", From: "h1", To: "h2", Include: []string{"r2"}}, "r1>r2>r3", "fc00:0:2::1,fc00:0:3::d6",
			map[string]string{"10.0.2.0/24": "MODE_ENCAP fc00:0:2::1,fc00:0:3::d4", "fd00:0:2:2::/64": "MODE_ENCAP fc00:0:2::1,fc00:0:3::d6"}},
		{"excluded link", Policy{Name: "c", From: "h1", To: "h2", ExcludeLinks: []string{"r3:eth3"}}, "r1>r2>r3", "fc00:0:2::1,fc00:0:3::d6", nil},
		{"excluded node leaves the direct path", Policy{Name: "d", From: "h1", To: "h2", ExcludeNodes: []string{"r2"}}, "r1>r3", "fc00:0:3::d6", nil},
		{"inline keeps the endpoint's End", Policy{Name: "e", From: "h1", To: "h2", Include: []string{"r2"}, Mode: "inline"}, "r1>r2>r3",
			"fc00:0:2::1,fc00:0:3::1", map[string]string{"fd00:0:2:2::/64": "MODE_INLINE fc00:0:2::1,fc00:0:3::1"}},
		{"explicit segments", Policy{Name: "f", From: "h1", To: "h2", Segments: []string{"r2"}}, "r1>r2>r3", "fc00:0:2::1,fc00:0:3::d6", nil},
		{"explicit End.X SID over the direct link, then r3", Policy{Name: "h", From: "h1", To: "h2", Segments: []string{"r2", "fc00:0:2::e002"}},
			"r1>r2>r3", "fc00:0:2::1,fc00:0:2::e002,fc00:0:3::d6", nil},
		{"router form", Policy{Name: "g", Headend: "r1", Endpoint: "r2", Prefixes: []string{"fd00:99::1/64"}}, "r1>r2", "fc00:0:2::d6",
			map[string]string{"fd00:99::/64": "MODE_ENCAP fc00:0:2::d6"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestController(t, "triangle.yaml")
			v, err := c.AddPolicy(context.Background(), tt.p, false)
			if err != nil {
				t.Fatal(err)
			}
			if v.Status.State != StatePending {
				t.Fatalf("state %s before the agent confirmed it: %s", v.Status.State, v.Status.Reason)
			}
			syncAgents(c)
			if v, _ = c.PolicyByName(tt.p.Name); v.Status.State != StateUp {
				t.Fatalf("state %s: %s", v.Status.State, v.Status.Reason)
			}
			if got := strings.Join(v.Status.Path, ">"); got != tt.path {
				t.Errorf("path %s, want %s", got, tt.path)
			}
			if got := strings.Join(v.Status.Segments, ","); got != tt.segments {
				t.Errorf("segments %s, want %s", got, tt.segments)
			}
			got := steeringOf(c, "r1")
			for prefix, want := range tt.r1 {
				if got[prefix] != want {
					t.Errorf("r1 steers %s as %q, want %q", prefix, got[prefix], want)
				}
			}
		})
	}
}

func TestRerouteOnLinkFailure(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	ctx := context.Background()
	if _, err := c.AddPolicy(ctx, Policy{Name: "p", From: "h1", To: "h2"}, false); err != nil {
		t.Fatal(err)
	}
	// The longest-prefix match: the static underlay is compressed, so the
	// route that carries an address may be an aggregate.
	underlayVia := func(node, prefix string) string {
		a := netip.MustParsePrefix(prefix).Addr()
		dev, bits := "", -1
		for _, u := range c.Desired(node).Underlay {
			if !u.Unreachable && u.Prefix.Contains(a) && u.Prefix.Bits() > bits {
				dev, bits = u.Dev, u.Prefix.Bits()
			}
		}
		return dev
	}
	if got := underlayVia("r1", "fd00:0:ff::3/128"); got != "eth3" {
		t.Fatalf("before: r1 reaches r3 via %q, want eth3", got)
	}
	c.LinkEvent("r1", "eth3", false)
	syncAgents(c)
	v, _ := c.PolicyByName("p")
	if got := strings.Join(v.Status.Path, ">"); got != "r1>r2>r3" || v.Status.State != "up" {
		t.Errorf("after failure: %s %s", v.Status.State, got)
	}
	if got := underlayVia("r1", "fd00:0:ff::3/128"); got != "eth1" {
		t.Errorf("after failure: r1 reaches r3 via %q, want eth1 (the static underlay is recomputed)", got)
	}
	// With r2 excluded there is no way left.
	if _, err := c.AddPolicy(ctx, Policy{Name: "p", From: "h1", To: "h2", ExcludeNodes: []string{"r2"}}, true); err != nil {
		t.Fatal(err)
	}
	v, _ = c.PolicyByName("p")
	if v.Status.State != "down" || !strings.Contains(v.Status.Reason, "no path") {
		t.Errorf("excluded r2 with r1-r3 down: %s %q, want down / no path", v.Status.State, v.Status.Reason)
	}
	if len(steeringOf(c, "r1")) != 0 {
		t.Errorf("a down policy still steers at r1: %v", steeringOf(c, "r1"))
	}
	c.LinkEvent("r3", "eth3", true)
	syncAgents(c)
	v, _ = c.PolicyByName("p")
	if v.Status.State != "up" {
		t.Errorf("after repair: %s %s", v.Status.State, v.Status.Reason)
	}
}

func TestDisjointPolicies(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	ctx := context.Background()
	if _, err := c.AddPolicy(ctx, Policy{Name: "a", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:a::/64"}}, false); err != nil {
		t.Fatal(err)
	}
	v, err := c.AddPolicy(ctx, Policy{Name: "b", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:b::/64"}, DisjointFrom: "a"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(v.Status.Path, ">"); got != "r1>r2>r3" {
		t.Errorf("disjoint path %s, want r1>r2>r3", got)
	}
}

func TestBadPolicies(t *testing.T) {
	tests := []struct {
		p       Policy
		field   string
		reason  string
		allowed bool
	}{
		{Policy{Name: "bad name!", From: "h1", To: "h2"}, "name", "1 to 64", false},
		{Policy{Name: "x", From: "h1", To: "h2", Mode: "sideways"}, "mode", `unknown mode "sideways"`, true},
		{Policy{Name: "x", From: "h1", To: "h2", Metric: "cost"}, "metric", `unknown metric "cost"`, true},
		{Policy{Name: "x", From: "r1", To: "h2"}, "from", `"r1" is not a host`, true},
		{Policy{Name: "x", From: "h1", To: "h1"}, "to", "also the source", false},
		{Policy{Name: "x"}, "from", "missing", false},
		{Policy{Name: "x", From: "h1", To: "h2", Headend: "r1"}, "from", "not both", false},
		{Policy{Name: "x", Headend: "r1", Endpoint: "r9", Prefixes: []string{"fd00::/64"}}, "endpoint", `"r9" is not a router`, true},
		{Policy{Name: "x", Headend: "r1", Endpoint: "r3"}, "prefixes", "missing", false},
		{Policy{Name: "x", Headend: "r1", Endpoint: "r3", Prefixes: []string{"nope"}}, "prefixes[0]", "not a prefix", false},
		{Policy{Name: "x", From: "h1", To: "h2", Include: []string{"h2"}}, "include[0]", "not a router", true},
		{Policy{Name: "x", From: "h1", To: "h2", ExcludeNodes: []string{"r1"}}, "exclude_nodes[0]", "headend or endpoint", false},
		{Policy{Name: "x", From: "h1", To: "h2", Include: []string{"r2"}, ExcludeNodes: []string{"r2"}}, "exclude_nodes[0]", "r2 is also a waypoint (include[0])", false},
		{Policy{Name: "x", From: "h1", To: "h2", ExcludeLinks: []string{"r1:eth9"}}, "exclude_links[0]", "no interface", false},
		{Policy{Name: "x", From: "h1", To: "h2", Segments: []string{"r2"}, Include: []string{"r2"}}, "segments", "no constraints", false},
		{Policy{Name: "x", From: "h1", To: "h2", DisjointFrom: "ghost"}, "disjoint_from", `no policy "ghost"`, false},
		{Policy{Name: "x", From: "h1", To: "h2", Segments: []string{"fc00:0:9::1"}}, "segments[0]", "not an End or End.X SID", false},
	}
	for _, tt := range tests {
		c := newTestController(t, "triangle.yaml")
		_, err := c.AddPolicy(context.Background(), tt.p, false)
		var in *InputError
		if !errors.As(err, &in) {
			t.Errorf("%+v: err = %v, want an InputError", tt.p, err)
			continue
		}
		if in.Field != tt.field || !strings.Contains(in.Reason, tt.reason) || (len(in.Allowed) > 0) != tt.allowed {
			t.Errorf("%+v: got field %q reason %q allowed %v; want field %q reason ~%q allowed %v",
				tt.p, in.Field, in.Reason, in.Allowed, tt.field, tt.reason, tt.allowed)
		}
	}
}

func TestConflictingPolicies(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	ctx := context.Background()
	if _, err := c.AddPolicy(ctx, Policy{Name: "a", From: "h1", To: "h2"}, false); err != nil {
		t.Fatal(err)
	}
	_, err := c.AddPolicy(ctx, Policy{Name: "b", From: "h1", To: "h2", Include: []string{"r2"}}, false)
	var in *InputError
	if !errors.As(err, &in) || !strings.Contains(in.Reason, "already steered at r1 by policy a") {
		t.Fatalf("second policy for the same prefixes: %v", err)
	}
	if _, err := c.AddPolicy(ctx, Policy{Name: "a", From: "h1", To: "h2"}, false); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("duplicate name: %v", err)
	}
}

func TestPoliciesSurviveRestart(t *testing.T) {
	nw, _ := topo.LoadNetwork("../../examples/triangle.yaml")
	path := filepath.Join(t.TempDir(), "c.db")
	st, err := store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := New(nw, st, nopPusher{}, nil)
	if _, err := c.AddPolicy(context.Background(), Policy{Name: "keep", From: "h1", To: "h2", Include: []string{"r2"}}, false); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err = store.OpenBolt(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	c2, _ := New(nw, st, nopPusher{}, nil)
	if err := c2.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := steeringOf(c2, "r1")["10.0.2.0/24"]; got != "MODE_ENCAP fc00:0:2::1,fc00:0:3::d4" {
		t.Errorf("after restart r1 steers 10.0.2.0/24 as %q", got)
	}
}

func TestRESTAPI(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	srv, hc := guarded(t, c, HandlerConfig{}), authClient()
	post := func(body string) (*http.Response, map[string]any) {
		resp, err := hc.Post(srv.URL+"/v1/policies", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp, out
	}
	tests := []struct {
		body   string
		code   int
		field  string
		reason string
	}{
		{`{"name":"ok","from":"h1","to":"h2","include":["r2"]}`, 201, "", ""},
		{`{"name":"x","from":"h1","to":"h2","colour":"red"}`, 400, "colour", "unknown field"},
		{`{"name":"x","from":"h1","to":"h2","per_hop":"yes"}`, 400, "per_hop", "must be a bool"},
		{`{"name":"x","from":"h1","to":"h2","mode":"warp"}`, 400, "mode", "unknown mode"},
		{`{"name":"x",`, 400, "body", "JSON"},
		{``, 400, "body", "empty"},
		{`{"name":"x","from":"h1","to":"h2"} {}`, 400, "body", "more data"},
	}
	for _, tt := range tests {
		resp, out := post(tt.body)
		if resp.StatusCode != tt.code {
			t.Errorf("%s: status %d, want %d (%v)", tt.body, resp.StatusCode, tt.code, out)
			continue
		}
		if tt.code != 400 {
			continue
		}
		e, _ := out["error"].(map[string]any)
		if e["field"] != tt.field || !strings.Contains(e["reason"].(string), tt.reason) {
			t.Errorf("%s: error %v, want field %q reason ~%q", tt.body, e, tt.field, tt.reason)
		}
	}
	resp, err := hc.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc["openapi"] == nil {
		t.Errorf("openapi.json: %v", err)
	}
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodDelete, srv.URL+"/v1/policies/ghost", nil)
	resp, err = hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("DELETE missing policy: %d, want 404", resp.StatusCode)
	}
	client := restv1.NewClient(srv.URL, restv1.WithToken(testToken))
	vs, err := client.Policies(context.Background())
	if err != nil || len(vs) != 1 || vs[0].Name != "ok" {
		t.Errorf("client list: %v %v", vs, err)
	}
	_, err = client.AddPolicy(context.Background(), Policy{Name: "y", From: "h1", To: "nobody"}, false)
	if err == nil || !strings.Contains(err.Error(), `to: "nobody" is not a host (allowed: [h1 h2])`) {
		t.Errorf("client error text: %v", err)
	}
}

func FuzzDecodePolicy(f *testing.F) {
	for _, s := range []string{
		`{"name":"ok","from":"h1","to":"h2","include":["r2"]}`,
		`{"name":"g","headend":"r1","endpoint":"r3","prefixes":["fd00::/64"],"exclude_links":["r1:eth3"],"metric":"hops"}`,
		`{"name":"x","segments":["r2"],"per_hop":true,"mode":"inline"}`,
		`{"name":1}`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	nw, err := topo.LoadNetwork("../../examples/triangle.yaml")
	if err != nil {
		f.Fatal(err)
	}
	c, err := New(nw, nil, nopPusher{}, nil)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePolicy(bytes.NewReader(data))
		if err != nil {
			var in *InputError
			if !errors.As(err, &in) || in.Field == "" || in.Reason == "" {
				t.Fatalf("decode error without field and reason: %v", err)
			}
			return
		}
		if _, err := c.resolve(p); err != nil {
			var in *InputError
			if !errors.As(err, &in) || in.Field == "" {
				t.Fatalf("resolve error without field: %v", err)
			}
			return
		}
		g := c.liveGraphLocked()
		st, _, _ := c.computeLocked(g, p)
		if st.State != "up" && st.State != "down" {
			t.Fatalf("state %q", st.State)
		}
	})
}

func TestPrefixesTheHeadendCannotSteer(t *testing.T) {
	tests := []struct {
		p      Policy
		field  string
		reason string
	}{
		{Policy{Name: "x", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:9::/64", "fd00:9::1/64"}}, "prefixes[1]", "same prefix as prefixes[0]"},
		{Policy{Name: "x", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fd00:0:1:1::/64"}}, "prefixes[0]", "headend r1 reaches directly"},
		{Policy{Name: "x", Headend: "r1", Endpoint: "r3", Prefixes: []string{"10.0.1.0/24"}}, "prefixes[0]", "reaches directly"},
		{Policy{Name: "x", Headend: "r1", Endpoint: "r3", Prefixes: []string{"fc00:0:1::/48"}}, "prefixes[0]", "owns"},
	}
	for _, tt := range tests {
		c := newTestController(t, "triangle.yaml")
		_, err := c.AddPolicy(context.Background(), tt.p, false)
		var in *InputError
		if !errors.As(err, &in) || in.Field != tt.field || !strings.Contains(in.Reason, tt.reason) {
			t.Errorf("%v: err = %v; want field %s, reason ~%q", tt.p.Prefixes, err, tt.field, tt.reason)
		}
	}
	// Two hosts on one router: no policy between them.
	c := newTestController(t, "dc8.yaml")
	_, err := c.AddPolicy(context.Background(), Policy{Name: "local", From: "h11", To: "hdc1"}, false)
	var in *InputError
	if !errors.As(err, &in) || in.Field != "to" {
		t.Errorf("policy between two hosts of r1: %v", err)
	}
}

// TestDisjointFollowsTheOtherPath: a policy disjoint from one computed
// after it (by name) still sees that one's current path, after changes and
// after a reload.
func TestDisjointFollowsTheOtherPath(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	ctx := context.Background()
	mk := func(name, prefix string, include []string, disjoint string) Policy {
		return Policy{Name: name, Headend: "r1", Endpoint: "r3", Prefixes: []string{prefix}, Include: include, DisjointFrom: disjoint}
	}
	if _, err := c.AddPolicy(ctx, mk("z", "fd00:a::/64", nil, ""), false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.AddPolicy(ctx, mk("a", "fd00:b::/64", nil, "z"), false); err != nil {
		t.Fatal(err)
	}
	path := func(name string) string {
		v, _ := c.PolicyByName(name)
		return strings.Join(v.Status.Path, ">")
	}
	if path("a") != "r1>r2>r3" {
		t.Fatalf("a avoids z's direct path: got %s", path("a"))
	}
	if _, err := c.AddPolicy(ctx, mk("z", "fd00:a::/64", []string{"r2"}, ""), true); err != nil {
		t.Fatal(err)
	}
	if path("z") != "r1>r2>r3" || path("a") != "r1>r3" {
		t.Fatalf("after z moved to r2: z %s, a %s; want a on the direct link", path("z"), path("a"))
	}
	if err := c.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if path("a") != "r1>r3" {
		t.Errorf("after a reload: a %s, want r1>r3", path("a"))
	}
}

func TestDelaySessionSteersProbes(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	ctx := context.Background()
	for _, p := range []Policy{{Name: "fwd", From: "h1", To: "h2", Include: []string{"r2"}}, {Name: "back", From: "h2", To: "h1"}} {
		if _, err := c.AddPolicy(ctx, p, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.StartSession(ctx, Session{Name: "d", Policy: "fwd", Delay: true, ReturnPolicy: "fwd"}); err == nil ||
		!strings.Contains(err.Error(), "back to its headend") {
		t.Errorf("return policy in the same direction: %v", err)
	}
	if _, err := c.StartSession(ctx, Session{Name: "d", Policy: "fwd", Delay: true, ReturnPolicy: "back"}); err != nil {
		t.Fatal(err)
	}
	// r1 steers r3's probe address through r2 then r3's loopback; r3
	// steers r1's back along "back" (the direct link: no waypoint).
	if got := steeringOf(c, "r1")["fc00:0:3::5/128"]; got != "MODE_INLINE fc00:0:2::1,fd00:0:ff::3" {
		t.Errorf("r1 probe route %q", got)
	}
	if got := steeringOf(c, "r3")["fc00:0:1::5/128"]; got != "MODE_INLINE fd00:0:ff::1" {
		t.Errorf("r3 return probe route %q", got)
	}
	pm := c.Desired("r1").PM
	if pm == nil || pm.Probe.String() != "fc00:0:1::5" || len(pm.Delays) != 1 || pm.Delays[0].Target.String() != "fc00:0:3::5" {
		t.Errorf("r1 PM config %v", pm)
	}
}
