package agent

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	"github.com/sr6net/sr6/internal/dataplane"
)

// TestRouteResults: every steering route gets a result, other routes only
// when refused; a steering route and an underlay route to one prefix are
// told apart by their metric.
func TestRouteResults(t *testing.T) {
	p := netip.MustParsePrefix
	a := netip.MustParseAddr
	desired := dataplane.State{
		Steering: []dataplane.Steering{
			{Prefix: p("fd00:1::/64"), Policy: "ok"},
			{Prefix: p("fd00:2::/64"), Policy: "bad"},
		},
		SIDs:     []dataplane.LocalSID{{SID: a("fc00:0:1::1")}},
		Underlay: []dataplane.UnderlayRoute{{Prefix: p("fd00:2::/64")}, {Prefix: p("fd00:3::/64")}},
	}
	tests := []struct {
		name    string
		refused []dataplane.RouteError
		want    []string
	}{
		{"all installed", nil, []string{"KIND_STEERING fd00:1::/64 ok true ", "KIND_STEERING fd00:2::/64 bad true "}},
		{"a steering route refused", []dataplane.RouteError{{Prefix: p("fd00:2::/64"), Metric: dataplane.SteeringMetric, Err: unix.EINVAL}},
			[]string{"KIND_STEERING fd00:1::/64 ok true ", "KIND_STEERING fd00:2::/64 bad false invalid argument"}},
		{"the underlay route of a steered prefix refused", []dataplane.RouteError{{Prefix: p("fd00:2::/64"), Metric: 1024, Err: unix.EACCES}},
			[]string{"KIND_STEERING fd00:1::/64 ok true ", "KIND_STEERING fd00:2::/64 bad true ", "KIND_UNDERLAY fd00:2::/64  false permission denied"}},
		{"a SID refused, a removal failed", []dataplane.RouteError{{Prefix: p("fc00:0:1::1/128"), Metric: 1024, Err: unix.EACCES},
			{Prefix: p("fd00:9::/64"), Metric: 1, Remove: true, Err: errors.New("busy")}},
			[]string{"KIND_STEERING fd00:1::/64 ok true ", "KIND_STEERING fd00:2::/64 bad true ", "KIND_SID fc00:0:1::1/128  false permission denied"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RouteResults(desired, dataplane.Diff{Refused: tt.refused})
			if len(got) != len(tt.want) {
				t.Fatalf("%d results %v, want %d", len(got), got, len(tt.want))
			}
			for i, r := range got {
				if s := describeResult(r); s != tt.want[i] {
					t.Errorf("result %d: %q, want %q", i, s, tt.want[i])
				}
			}
		})
	}
}

func describeResult(r *agentv1.RouteResult) string {
	inst := "false"
	if r.Installed {
		inst = "true"
	}
	return r.Kind.String() + " " + r.Prefix + " " + r.Policy + " " + inst + " " + r.Error
}

func TestOnlyRefusals(t *testing.T) {
	re := &dataplane.RouteError{Err: unix.EINVAL}
	tests := []struct {
		err  error
		want bool
	}{
		{re, true},
		{errors.Join(re, re), true},
		{errors.Join(re, errors.New("list interfaces: no")), false},
		{errors.New("SID device missing"), false},
	}
	for _, tt := range tests {
		if got := onlyRefusals(tt.err); got != tt.want {
			t.Errorf("onlyRefusals(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// TestApplyRefusesABadStateWhole: a state with a bad part, measurement
// included, is refused before the kernel is touched, naming the field
// (the state would otherwise be applied up to the bad part). The context
// is cancelled: an Apply that got past validation stops there instead of
// reconciling the test host's own routes.
func TestApplyRefusesABadStateWhole(t *testing.T) {
	good := []*agentv1.SteeringRoute{{Prefix: "fd00:2::/64", Segments: []string{"fc00:0:2::1"}}}
	tests := []struct {
		name  string
		state *agentv1.DesiredState
		field string
	}{
		{"bad segment", &agentv1.DesiredState{Steering: []*agentv1.SteeringRoute{{Prefix: "fd00:2::/64", Segments: []string{"x"}}}}, "steering[0].segments[0]"},
		{"bad mark", &agentv1.DesiredState{Steering: good, Pm: &agentv1.PMConfig{PeriodMs: 1000, MarkMask: 6,
			Lists: []*agentv1.PMList{{Segments: []string{"fc00:0:2::1"}, Headend: true}}}}, "pm.mark_mask"},
		{"bad STAMP target", &agentv1.DesiredState{Steering: good, Pm: &agentv1.PMConfig{ProbeAddr: "fc00:0:1::5",
			Delays: []*agentv1.PMDelay{{Session: "d", Target: "nowhere"}}}}, "pm.delays[0].target"},
	}
	s := NewServer(Config{Node: "r1"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range tests {
		_, err := s.Apply(ctx, &agentv1.ApplyRequest{State: tt.state})
		if status.Code(err) != codes.InvalidArgument || !strings.HasPrefix(status.Convert(err).Message(), tt.field+": ") {
			t.Errorf("%s: %v, want InvalidArgument naming %s", tt.name, err, tt.field)
		}
	}
	if g := s.generation.Load(); g != 0 {
		t.Errorf("generation %d after refused states, want 0", g)
	}
}
