package agent

import (
	"fmt"
	"net/netip"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	"github.com/sr6net/sr6/internal/dataplane"
)

// FieldError names the request field a bad value came from.
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

// FromProto checks and converts a desired state; errors name the field.
func FromProto(s *agentv1.DesiredState) (dataplane.State, error) {
	var out dataplane.State
	if s == nil {
		return out, nil
	}
	for i, st := range s.Steering {
		f := fmt.Sprintf("steering[%d]", i)
		p, err := netip.ParsePrefix(st.Prefix)
		if err != nil {
			return out, fieldErr(f+".prefix", "%q is not a prefix", st.Prefix)
		}
		mode, ok := modes[st.Mode]
		if !ok {
			return out, fieldErr(f+".mode", "unknown mode %d; allowed: MODE_ENCAP, MODE_INLINE", st.Mode)
		}
		segs, err := parseAddrs(f+".segments", st.Segments)
		if err != nil {
			return out, err
		}
		if _, err := dataplane.SteerRoute(p.Masked(), mode, segs, 1); err != nil {
			return out, &FieldError{Field: f, Err: err}
		}
		out.Steering = append(out.Steering, dataplane.Steering{Prefix: p.Masked(), Mode: mode, Segments: segs, Policy: st.Policy})
	}
	for i, sid := range s.Sids {
		f := fmt.Sprintf("sids[%d]", i)
		a, err := netip.ParseAddr(sid.Sid)
		if err != nil {
			return out, fieldErr(f+".sid", "%q is not an IPv6 address", sid.Sid)
		}
		b := dataplane.Behavior{Action: dataplane.Action(sid.Action), Table: int(sid.Table)}
		if b.NH4, err = optAddr(f+".nh4", sid.Nh4); err != nil {
			return out, err
		}
		if b.NH6, err = optAddr(f+".nh6", sid.Nh6); err != nil {
			return out, err
		}
		if b.Segments, err = parseAddrs(f+".segments", sid.Segments); err != nil {
			return out, err
		}
		check := b
		if sid.Oif != "" {
			check.OIF = 1 // resolved on the node; only presence matters here
		}
		if _, err := dataplane.LocalSIDRoute(a, check, 1); err != nil {
			return out, &FieldError{Field: f, Err: err}
		}
		out.SIDs = append(out.SIDs, dataplane.LocalSID{SID: a, Behavior: b, OIFName: sid.Oif})
	}
	for i, u := range s.Underlay {
		f := fmt.Sprintf("underlay[%d]", i)
		p, err := netip.ParsePrefix(u.Prefix)
		if err != nil {
			return out, fieldErr(f+".prefix", "%q is not a prefix", u.Prefix)
		}
		r := dataplane.UnderlayRoute{Prefix: p.Masked(), Dev: u.Dev, Unreachable: u.Unreachable}
		if !u.Unreachable {
			if r.Via, err = netip.ParseAddr(u.Via); err != nil {
				return out, fieldErr(f+".via", "%q is not an IP address", u.Via)
			}
			if u.Dev == "" {
				return out, fieldErr(f+".dev", "missing: a route with a next hop needs its interface")
			}
		}
		out.Underlay = append(out.Underlay, r)
	}
	return out, nil
}

func strs(as []netip.Addr) []string {
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

// ToProto converts a state read from the kernel.
func ToProto(s dataplane.State) *agentv1.DesiredState {
	out := &agentv1.DesiredState{}
	for _, st := range s.Steering {
		m := agentv1.Mode_MODE_ENCAP
		if st.Mode == dataplane.ModeInline {
			m = agentv1.Mode_MODE_INLINE
		}
		out.Steering = append(out.Steering, &agentv1.SteeringRoute{Prefix: st.Prefix.String(), Mode: m, Segments: strs(st.Segments), Policy: st.Policy})
	}
	for _, sid := range s.SIDs {
		b := sid.Behavior
		out.Sids = append(out.Sids, &agentv1.LocalSID{Sid: sid.SID.String(), Action: string(b.Action), Nh4: addrStr(b.NH4),
			Nh6: addrStr(b.NH6), Table: uint32(b.Table), Oif: sid.OIFName, Segments: strs(b.Segments)})
	}
	for _, u := range s.Underlay {
		out.Underlay = append(out.Underlay, &agentv1.UnderlayRoute{Prefix: u.Prefix.String(), Via: addrStr(u.Via), Dev: u.Dev, Unreachable: u.Unreachable})
	}
	return out
}
