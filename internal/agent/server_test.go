package agent

import (
	"errors"
	"net/netip"
	"testing"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	"github.com/sr6net/sr6/internal/dataplane"
	"golang.org/x/sys/unix"
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
