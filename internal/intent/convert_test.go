package intent

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	"github.com/sr6net/sr6/internal/dataplane"
)

func TestFromProtoErrors(t *testing.T) {
	pm := func(cfg *agentv1.PMConfig) *agentv1.DesiredState { return &agentv1.DesiredState{Pm: cfg} }
	list := func(segs ...string) []*agentv1.PMList {
		return []*agentv1.PMList{{Session: "s", Policy: "p", Segments: segs, Headend: true}}
	}
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
		{"period too short", pm(&agentv1.PMConfig{PeriodMs: 500, MarkMask: 1 << 19, Lists: list("fc00::1")}), "pm.period_ms", "below the minimum of 1000"},
		{"lists without a period", pm(&agentv1.PMConfig{MarkMask: 1 << 19, Lists: list("fc00::1")}), "pm.period_ms", "below the minimum"},
		{"two mark bits", pm(&agentv1.PMConfig{PeriodMs: 1000, MarkMask: 3, Lists: list("fc00::1")}), "pm.mark_mask", "one bit"},
		{"mark bit outside the first word", pm(&agentv1.PMConfig{PeriodMs: 1000, MarkMask: 1 << 28, Lists: list("fc00::1")}), "pm.mark_mask", "one bit"},
		{"bad list segment", pm(&agentv1.PMConfig{PeriodMs: 1000, MarkMask: 1 << 19, Lists: list("fc00::1", "y")}), "pm.lists[0].segments[1]", "not an IP address"},
		{"empty list", pm(&agentv1.PMConfig{PeriodMs: 1000, MarkMask: 1 << 19, Lists: list()}), "pm.lists[0].segments", "1 to 8"},
		{"list too long", pm(&agentv1.PMConfig{PeriodMs: 1000, MarkMask: 1 << 19,
			Lists: list("fc00::1", "fc00::2", "fc00::3", "fc00::4", "fc00::5", "fc00::6", "fc00::7", "fc00::8", "fc00::9")}), "pm.lists[0].segments", "9 segments"},
		{"headend and tail", pm(&agentv1.PMConfig{PeriodMs: 1000, MarkMask: 1 << 19,
			Lists: []*agentv1.PMList{{Segments: []string{"fc00::1"}, Headend: true, Tail: true}}}), "pm.lists[0]", "exactly one of headend and tail"},
		{"neither headend nor tail", pm(&agentv1.PMConfig{PeriodMs: 1000, MarkMask: 1 << 19,
			Lists: []*agentv1.PMList{{Segments: []string{"fc00::1"}}}}), "pm.lists[0]", "exactly one of headend and tail"},
		{"bad probe address", pm(&agentv1.PMConfig{ProbeAddr: "here"}), "pm.probe_addr", "not an IP address"},
		{"bad delay target", pm(&agentv1.PMConfig{ProbeAddr: "fc00::5", Delays: []*agentv1.PMDelay{{Session: "d", Target: "fc00::6"}, {Session: "e", Target: "there"}}}),
			"pm.delays[1].target", "not an IP address"},
		{"delay without a probe address", pm(&agentv1.PMConfig{Delays: []*agentv1.PMDelay{{Session: "d", Target: "fc00::6"}}}), "pm.probe_addr", "missing"},
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
	tests := []struct {
		name string
		in   *agentv1.DesiredState
	}{
		{"kernel part", &agentv1.DesiredState{
			Steering: []*agentv1.SteeringRoute{{Prefix: "10.0.2.0/24", Mode: agentv1.Mode_MODE_ENCAP, Segments: []string{"fc00:0:2::1", "fc00:0:3::d4"}}},
			Sids: []*agentv1.LocalSID{{Sid: "fc00:0:1::1", Action: "End"}, {Sid: "fc00:0:1::d4", Action: "End.DX4", Nh4: "0.0.0.0"},
				{Sid: "fc00:0:1::e002", Action: "End.X", Nh6: "fd00:0:1:1::2"}, {Sid: "fc00:0:1::b6", Action: "End.B6.Encaps", Segments: []string{"fc00:0:5::1"}}},
			Underlay: []*agentv1.UnderlayRoute{{Prefix: "fc00:0:1::/48", Unreachable: true}, {Prefix: "fd00:0:ff::3/128", Via: "fd00:0:1:3::2", Dev: "eth3"}},
		}},
		{"with generation and measurement", &agentv1.DesiredState{
			Steering:   []*agentv1.SteeringRoute{{Prefix: "fd00:0:2:2::/64", Mode: agentv1.Mode_MODE_INLINE, Segments: []string{"fc00:0:2::1"}, Policy: "p"}},
			Generation: 42,
			Pm: &agentv1.PMConfig{PeriodMs: 2000, MarkMask: 1 << 19, ProbeAddr: "fc00:0:1::5", ClocksSynced: true,
				Lists: []*agentv1.PMList{{Session: "s", Policy: "p", Segments: []string{"fc00:0:2::1", "fc00:0:3::d6"}, Headend: true},
					{Session: "t", Policy: "q", Segments: []string{"fc00:0:3::d6"}, Tail: true}},
				Delays: []*agentv1.PMDelay{{Session: "s", Policy: "p", Target: "fc00:0:3::5", IntervalMs: 100}}},
		}},
		{"STAMP only", &agentv1.DesiredState{Pm: &agentv1.PMConfig{ProbeAddr: "fc00:0:3::5"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := FromProto(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if out := ToProto(st); !proto.Equal(tt.in, out) {
				t.Errorf("round trip:\n in %v\nout %v", tt.in, out)
			}
		})
	}
}

// TestFromProtoModel: the wire's strings and milliseconds become the
// model's addresses, modes and durations.
func TestFromProtoModel(t *testing.T) {
	st, err := FromProto(&agentv1.DesiredState{
		Steering: []*agentv1.SteeringRoute{{Prefix: "10.0.2.7/24", Segments: []string{"fc00:0:3::d4"}}},
		Sids:     []*agentv1.LocalSID{{Sid: "fc00:0:1::d4", Action: "End.DX4", Nh4: "0.0.0.0"}},
		Pm: &agentv1.PMConfig{PeriodMs: 1500, MarkMask: 1 << 19, ProbeAddr: "fc00:0:1::5",
			Delays: []*agentv1.PMDelay{{Session: "s", Target: "fc00:0:3::5", IntervalMs: 250}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := st.Steering[0]; s.Prefix.String() != "10.0.2.0/24" || s.Mode != dataplane.ModeEncap {
		t.Errorf("steering %+v: want the masked prefix and encap (the unspecified mode)", s)
	}
	if st.SIDs[0].Behavior.Action != dataplane.EndDX4 || !st.SIDs[0].Behavior.NH4.Is4() {
		t.Errorf("SID %+v", st.SIDs[0])
	}
	if st.PM.Period.Milliseconds() != 1500 || st.PM.Delays[0].Interval.Milliseconds() != 250 || st.PM.Probe.String() != "fc00:0:1::5" {
		t.Errorf("PM %+v", st.PM)
	}
	if none, err := FromProto(&agentv1.DesiredState{}); err != nil || none.PM != nil {
		t.Errorf("no pm: %+v, %v; want nil PM", none.PM, err)
	}
}

// FuzzFromProto feeds arbitrary bytes as a wire-format DesiredState: it
// must be rejected or accepted without panicking, and whatever is
// accepted must survive a round trip.
func FuzzFromProto(f *testing.F) {
	seed, _ := proto.Marshal(&agentv1.DesiredState{
		Steering: []*agentv1.SteeringRoute{{Prefix: "10.0.2.0/24", Segments: []string{"fc00:0:2::1"}}},
		Sids:     []*agentv1.LocalSID{{Sid: "fc00:0:1::1", Action: "End"}},
		Underlay: []*agentv1.UnderlayRoute{{Prefix: "fd00::/64", Via: "fd00::1", Dev: "eth0"}},
	})
	f.Add(seed)
	pmSeed, _ := proto.Marshal(&agentv1.DesiredState{Generation: 3, Pm: &agentv1.PMConfig{PeriodMs: 1000, MarkMask: 1 << 19,
		ProbeAddr: "fc00:0:1::5", Lists: []*agentv1.PMList{{Segments: []string{"fc00:0:3::d6"}, Headend: true}},
		Delays: []*agentv1.PMDelay{{Target: "fc00:0:3::5", IntervalMs: 100}}}})
	f.Add(pmSeed)
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
