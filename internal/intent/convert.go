package intent

import (
	"fmt"
	"math/bits"
	"net/netip"
	"time"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	"github.com/sr6net/sr6/internal/dataplane"
	"github.com/sr6net/sr6/internal/pm/marking"
)

// FieldError names the field of the agent API's DesiredState a bad value
// came from (steering[0].segments[1], pm.lists[2], ...).
type FieldError struct {
	Field string
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

func fieldErr(field string, format string, args ...any) error {
	return &FieldError{Field: field, Err: fmt.Errorf(format, args...)}
}

func parseAddrs(field string, ss []string) ([]netip.Addr, error) {
	out := make([]netip.Addr, 0, len(ss))
	for i, s := range ss {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fieldErr(fmt.Sprintf("%s[%d]", field, i), "%q is not an IP address", s)
		}
		out = append(out, a)
	}
	return out, nil
}

func optAddr(field, s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, fieldErr(field, "%q is not an IP address", s)
	}
	return a, nil
}

var modes = map[agentv1.Mode]dataplane.Mode{
	agentv1.Mode_MODE_UNSPECIFIED: dataplane.ModeEncap,
	agentv1.Mode_MODE_ENCAP:       dataplane.ModeEncap,
	agentv1.Mode_MODE_INLINE:      dataplane.ModeInline,
}

// FromProto checks and converts a desired state received from the wire
// (or read back from an agent's state file). Everything the agent would
// otherwise find wrong only half-way through applying it is checked here,
// so that a bad state is refused whole; errors are *FieldError.
func FromProto(s *agentv1.DesiredState) (State, error) {
	var out State
	if s == nil {
		return out, nil
	}
	out.Generation = s.Generation
	for i, st := range s.Steering {
		f := fmt.Sprintf("steering[%d]", i)
		p, err := netip.ParsePrefix(st.Prefix)
		if err != nil {
			return State{}, fieldErr(f+".prefix", "%q is not a prefix", st.Prefix)
		}
		mode, ok := modes[st.Mode]
		if !ok {
			return State{}, fieldErr(f+".mode", "unknown mode %d; allowed: MODE_ENCAP, MODE_INLINE", st.Mode)
		}
		segs, err := parseAddrs(f+".segments", st.Segments)
		if err != nil {
			return State{}, err
		}
		// The kernel's own rules (IPv6 segments, inline only for IPv6),
		// checked by building the route without installing it.
		if _, err := dataplane.SteerRoute(p.Masked(), mode, segs, 1); err != nil {
			return State{}, &FieldError{Field: f, Err: err}
		}
		out.Steering = append(out.Steering, dataplane.Steering{Prefix: p.Masked(), Mode: mode, Segments: segs, Policy: st.Policy})
	}
	for i, sid := range s.Sids {
		f := fmt.Sprintf("sids[%d]", i)
		a, err := netip.ParseAddr(sid.Sid)
		if err != nil {
			return State{}, fieldErr(f+".sid", "%q is not an IPv6 address", sid.Sid)
		}
		b := dataplane.Behavior{Action: dataplane.Action(sid.Action), Table: int(sid.Table)}
		if b.NH4, err = optAddr(f+".nh4", sid.Nh4); err != nil {
			return State{}, err
		}
		if b.NH6, err = optAddr(f+".nh6", sid.Nh6); err != nil {
			return State{}, err
		}
		if b.Segments, err = parseAddrs(f+".segments", sid.Segments); err != nil {
			return State{}, err
		}
		check := b
		if sid.Oif != "" {
			check.OIF = 1 // resolved on the node; only presence matters here
		}
		if _, err := dataplane.LocalSIDRoute(a, check, 1); err != nil {
			return State{}, &FieldError{Field: f, Err: err}
		}
		out.SIDs = append(out.SIDs, dataplane.LocalSID{SID: a, Behavior: b, OIFName: sid.Oif})
	}
	for i, u := range s.Underlay {
		f := fmt.Sprintf("underlay[%d]", i)
		p, err := netip.ParsePrefix(u.Prefix)
		if err != nil {
			return State{}, fieldErr(f+".prefix", "%q is not a prefix", u.Prefix)
		}
		r := dataplane.UnderlayRoute{Prefix: p.Masked(), Dev: u.Dev, Unreachable: u.Unreachable}
		if !u.Unreachable {
			if r.Via, err = netip.ParseAddr(u.Via); err != nil {
				return State{}, fieldErr(f+".via", "%q is not an IP address", u.Via)
			}
			if u.Dev == "" {
				return State{}, fieldErr(f+".dev", "missing: a route with a next hop needs its interface")
			}
		}
		out.Underlay = append(out.Underlay, r)
	}
	pm, err := pmFromProto(s.Pm)
	if err != nil {
		return State{}, err
	}
	out.PM = pm
	return out, nil
}

func ms(n uint32) time.Duration { return time.Duration(n) * time.Millisecond }

// pmFromProto checks and converts a PM configuration; nil stays nil.
func pmFromProto(cfg *agentv1.PMConfig) (*PM, error) {
	if cfg == nil {
		return nil, nil
	}
	out := &PM{Period: ms(cfg.PeriodMs), MarkMask: cfg.MarkMask, ClocksSynced: cfg.ClocksSynced}
	// Period and mark only matter to alternate marking: a configuration
	// with only STAMP parts may leave them zero.
	if cfg.PeriodMs != 0 || len(cfg.Lists) > 0 {
		if out.Period < MinPeriod {
			return nil, fieldErr("pm.period_ms", "%d is below the minimum of %d", cfg.PeriodMs, MinPeriod.Milliseconds())
		}
		if bits.OnesCount32(cfg.MarkMask) != 1 || cfg.MarkMask >= 1<<28 {
			return nil, fieldErr("pm.mark_mask", "%#x must be one bit of the Traffic Class or Flow Label", cfg.MarkMask)
		}
	}
	for i, l := range cfg.Lists {
		f := fmt.Sprintf("pm.lists[%d]", i)
		segs, err := parseAddrs(f+".segments", l.Segments)
		if err != nil {
			return nil, err
		}
		if len(segs) == 0 || len(segs) > marking.MaxSegments {
			return nil, fieldErr(f+".segments", "%d segments: measurable lists have 1 to %d", len(segs), marking.MaxSegments)
		}
		if l.Headend == l.Tail {
			return nil, fieldErr(f, "exactly one of headend and tail must be set")
		}
		out.Lists = append(out.Lists, List{Session: l.Session, Policy: l.Policy, Segments: segs, Headend: l.Headend})
	}
	var err error
	if out.Probe, err = optAddr("pm.probe_addr", cfg.ProbeAddr); err != nil {
		return nil, err
	}
	for i, d := range cfg.Delays {
		f := fmt.Sprintf("pm.delays[%d]", i)
		target, err := netip.ParseAddr(d.Target)
		if err != nil {
			return nil, fieldErr(f+".target", "%q is not an IP address", d.Target)
		}
		if !out.Probe.IsValid() {
			return nil, fieldErr("pm.probe_addr", "missing: a STAMP sender needs the node's probe address")
		}
		out.Delays = append(out.Delays, Delay{Session: d.Session, Policy: d.Policy, Target: target, Interval: ms(d.IntervalMs)})
	}
	return out, nil
}

// AddrStrings is the wire form of an address list.
func AddrStrings(as []netip.Addr) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.String()
	}
	return out
}

func addrStr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// ToProto converts a state for the wire: the controller's push, the
// agent's report of what its kernel holds (the kernel part only).
func ToProto(s State) *agentv1.DesiredState {
	out := &agentv1.DesiredState{Generation: s.Generation, Pm: pmToProto(s.PM)}
	for _, st := range s.Steering {
		m := agentv1.Mode_MODE_ENCAP
		if st.Mode == dataplane.ModeInline {
			m = agentv1.Mode_MODE_INLINE
		}
		out.Steering = append(out.Steering, &agentv1.SteeringRoute{Prefix: st.Prefix.String(), Mode: m, Segments: AddrStrings(st.Segments), Policy: st.Policy})
	}
	for _, sid := range s.SIDs {
		b := sid.Behavior
		out.Sids = append(out.Sids, &agentv1.LocalSID{Sid: sid.SID.String(), Action: string(b.Action), Nh4: addrStr(b.NH4),
			Nh6: addrStr(b.NH6), Table: uint32(b.Table), Oif: sid.OIFName, Segments: AddrStrings(b.Segments)})
	}
	for _, u := range s.Underlay {
		out.Underlay = append(out.Underlay, &agentv1.UnderlayRoute{Prefix: u.Prefix.String(), Via: addrStr(u.Via), Dev: u.Dev, Unreachable: u.Unreachable})
	}
	return out
}

func pmToProto(pm *PM) *agentv1.PMConfig {
	if pm == nil {
		return nil
	}
	out := &agentv1.PMConfig{PeriodMs: uint32(pm.Period.Milliseconds()), MarkMask: pm.MarkMask, ProbeAddr: addrStr(pm.Probe),
		ClocksSynced: pm.ClocksSynced}
	for _, l := range pm.Lists {
		out.Lists = append(out.Lists, &agentv1.PMList{Session: l.Session, Policy: l.Policy, Segments: AddrStrings(l.Segments),
			Headend: l.Headend, Tail: !l.Headend})
	}
	for _, d := range pm.Delays {
		out.Delays = append(out.Delays, &agentv1.PMDelay{Session: d.Session, Policy: d.Policy, Target: addrStr(d.Target),
			IntervalMs: uint32(d.Interval.Milliseconds())})
	}
	return out
}
