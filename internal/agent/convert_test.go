package agent

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	"github.com/sr6net/sr6/internal/dataplane"
)

func TestFromProtoErrors(t *testing.T) {
	tests := []struct {
		name  string
		in    *agentv1.DesiredState
		field string
		msg   string
	}{
		{"bad prefix", &agentv1.DesiredState{Steering: []*agentv1.SteeringRoute{{Prefix: "10.0.0.0/33", Segments: []string{"fc00::1"}}}}, "steering[0].prefix", "not a prefix"},
		{"bad segment", &agentv1.DesiredState{Steering: []*agentv1.SteeringRoute{{Prefix: "10.0.0.0/24", Segments: []string{"fc00::1", "x"}}}}, "steering[0].segments[1]", "not an IP address"},
		{"IPv4 segment", &agentv1.DesiredState{Steering: []*agentv1.SteeringRoute{{Prefix: "10.0.0.0/24", Segments: []string{"10.1.1.1"}}}}, "steering[0]", "not an IPv6 address"},
		{"inline IPv4", &agentv1.DesiredState{Steering: []*agentv1.SteeringRoute{{Prefix: "10.0.0.0/24", Mode: agentv1.Mode_MODE_INLINE, Segments: []string{"fc00::1"}}}}, "steering[0]", "inline mode only carries IPv6"},
		{"unknown mode", &agentv1.DesiredState{Steering: []*agentv1.SteeringRoute{{Prefix: "10.0.0.0/24", Mode: 9, Segments: []string{"fc00::1"}}}}, "steering[0].mode", "unknown mode"},
		{"bad SID", &agentv1.DesiredState{Sids: []*agentv1.LocalSID{{Sid: "nope", Action: "End"}}}, "sids[0].sid", "not an IPv6 address"},
		{"unknown action", &agentv1.DesiredState{Sids: []*agentv1.LocalSID{{Sid: "fc00::1", Action: "End.Magic"}}}, "sids[0]", "allowed values"},
		{"End.X without nh6", &agentv1.DesiredState{Sids: []*agentv1.LocalSID{{Sid: "fc00::1", Action: "End.X"}}}, "sids[0]", "needs an IPv6 next hop"},
		{"route without dev", &agentv1.DesiredState{Underlay: []*agentv1.UnderlayRoute{{Prefix: "fd00::/64", Via: "fd00::1"}}}, "underlay[0].dev", "missing"},
	}
	for _, tt := range tests {
		_, err := FromProto(tt.in)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: err = %v, want field %s and %q", tt.name, err, tt.field, tt.msg)
		}
	}
}

func TestProtoRoundTrip(t *testing.T) {
	in := &agentv1.DesiredState{
		Steering: []*agentv1.SteeringRoute{{Prefix: "10.0.2.0/24", Mode: agentv1.Mode_MODE_ENCAP, Segments: []string{"fc00:0:2::1", "fc00:0:3::d4"}}},
		Sids: []*agentv1.LocalSID{{Sid: "fc00:0:1::1", Action: "End"}, {Sid: "fc00:0:1::d4", Action: "End.DX4", Nh4: "0.0.0.0"},
			{Sid: "fc00:0:1::e002", Action: "End.X", Nh6: "fd00:0:1:1::2"}, {Sid: "fc00:0:1::b6", Action: "End.B6.Encaps", Segments: []string{"fc00:0:5::1"}}},
		Underlay: []*agentv1.UnderlayRoute{{Prefix: "fc00:0:1::/48", Unreachable: true}, {Prefix: "fd00:0:ff::3/128", Via: "fd00:0:1:3::2", Dev: "eth3"}},
	}
	st, err := FromProto(in)
	if err != nil {
		t.Fatal(err)
	}
	if st.SIDs[1].Behavior.Action != dataplane.EndDX4 {
		t.Errorf("action %s", st.SIDs[1].Behavior.Action)
	}
	if out := ToProto(st); !proto.Equal(in, out) {
		t.Errorf("round trip:\n in %v\nout %v", in, out)
	}
}

// FuzzFromProto feeds arbitrary bytes as a wire-format DesiredState: the
// agent must reject or accept them without panicking, and whatever it
// accepts must survive a round trip.
func FuzzFromProto(f *testing.F) {
	seed, _ := proto.Marshal(&agentv1.DesiredState{
		Steering: []*agentv1.SteeringRoute{{Prefix: "10.0.2.0/24", Segments: []string{"fc00:0:2::1"}}},
		Sids:     []*agentv1.LocalSID{{Sid: "fc00:0:1::1", Action: "End"}},
		Underlay: []*agentv1.UnderlayRoute{{Prefix: "fd00::/64", Via: "fd00::1", Dev: "eth0"}},
	})
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var in agentv1.DesiredState
		if proto.Unmarshal(data, &in) != nil {
			return
		}
		st, err := FromProto(&in)
		if err != nil {
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field == "" {
				t.Fatalf("error without a field: %v", err)
			}
			return
		}
		if _, err := FromProto(ToProto(st)); err != nil {
			t.Fatalf("accepted state does not survive a round trip: %v", err)
		}
	})
}

// TestMeasurementsReplayed: a subscriber that comes late (a controller
// reconnecting) gets what was measured before it came.
func TestMeasurementsReplayed(t *testing.T) {
	m := newPM("r1", nil)
	m.mu.Lock()
	m.publishLocked(&agentv1.Measurement{Session: "s", PeriodStartUnixMs: 1000})
	m.publishLocked(&agentv1.Measurement{Session: "s", PeriodStartUnixMs: 2000})
	m.mu.Unlock()
	ch, cancel := m.subscribe()
	for _, want := range []int64{1000, 2000} {
		if got := (<-ch).PeriodStartUnixMs; got != want {
			t.Fatalf("replayed period %d, want %d", got, want)
		}
	}
	cancel()
	m.mu.Lock()
	for i := 0; i < recentKept*2; i++ {
		m.publishLocked(&agentv1.Measurement{Session: "s"})
	}
	n := len(m.recent)
	m.mu.Unlock()
	if n > recentKept+recentKept/4 {
		t.Errorf("kept %d measurements, want at most %d", n, recentKept+recentKept/4)
	}
}
