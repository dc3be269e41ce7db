package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"time"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/dataplane"
	"github.com/sr6net/sr6/internal/intent"
	"github.com/sr6net/sr6/internal/pm/bus"
	"github.com/sr6net/sr6/internal/store"
)

// sessionPrefix is where loss-measurement sessions live in the store.
const sessionPrefix = "pm/sessions/"

// Measurement feeds one agent measurement to the processor directly (no
// bus); see Process for the bus path. Measurements stay in the agent API's
// protobuf (agentv1.Measurement): that is the record the bus carries, so
// the processor reads the wire format, unlike the rest of the controller.
func (c *Controller) Measurement(m *agentv1.Measurement) { c.pm.Add(context.Background(), m) }

// Process runs the measurement processor on the bus until ctx ends.
func (c *Controller) Process(ctx context.Context, b bus.Bus) error { return c.pm.Run(ctx, b) }

// ExpireResults deletes stored results of periods that started before
// now - retention, every interval, until ctx ends.
func (c *Controller) ExpireResults(ctx context.Context, retention, interval time.Duration) {
	c.pm.Expire(ctx, retention, interval)
}

// pmListsLocked is what router node measures for the active sessions: the
// encapsulated steering routes of each session's policy, as headend or tail.
func (c *Controller) pmListsLocked(node string) *intent.PM {
	if len(c.sessions) == 0 {
		return nil
	}
	cfg := &intent.PM{MarkMask: c.markMask, ClocksSynced: c.clocksSynced}
	if r := c.nw.Node(node); r != nil && r.Probe.IsValid() {
		cfg.Probe = r.Probe
	}
	names := make([]string, 0, len(c.sessions))
	for n := range c.sessions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := c.sessions[n]
		cfg.Period = time.Duration(s.PeriodMs) * time.Millisecond
		st := c.status[s.Policy]
		if st.State != "up" || len(st.Path) < 2 {
			continue
		}
		head, tail := st.Path[0], st.Path[len(st.Path)-1]
		if node != head && node != tail {
			continue
		}
		if s.Delay && node == head {
			interval := s.ProbeIntervalMs
			if interval == 0 {
				interval = 100
			}
			cfg.Delays = append(cfg.Delays, intent.Delay{Session: n, Policy: s.Policy,
				Target: c.nw.Node(tail).Probe, Interval: time.Duration(interval) * time.Millisecond})
		}
		for _, r := range c.routes[s.Policy][head] {
			// H.Insert lists end in each packet's own destination: they
			// have no fixed key, so only encapsulated traffic is measured.
			if r.Mode == dataplane.ModeInline {
				continue
			}
			// A policy's headend is never its tail (AddPolicy refuses it).
			cfg.Lists = append(cfg.Lists, intent.List{Session: n, Policy: s.Policy, Segments: r.Segments, Headend: node == head})
		}
	}
	if len(cfg.Lists) == 0 && len(cfg.Delays) == 0 && !cfg.Probe.IsValid() {
		return nil
	}
	return cfg
}

// probeSteeringLocked steers, at headend node, the tail's probe address of
// every delay session along the policy's IPv6 segment list, so that STAMP
// probes take the policy's path.
func (c *Controller) probeSteeringLocked(node string) []dataplane.Steering {
	var out []dataplane.Steering
	for name, s := range c.sessions {
		if !s.Delay {
			continue
		}
		out = append(out, c.probeRouteLocked(node, name, s.Policy)...)
		if s.ReturnPolicy != "" {
			out = append(out, c.probeRouteLocked(node, name, s.ReturnPolicy)...)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix.String() < out[j].Prefix.String() })
	return out
}

// probeRouteLocked steers, at policy's headend node, the probe address of
// policy's endpoint along it.
func (c *Controller) probeRouteLocked(node, name, policy string) []dataplane.Steering {
	st := c.status[policy]
	if st.State != "up" || len(st.Path) < 2 || st.Path[0] != node {
		return nil
	}
	tail := c.nw.Node(st.Path[len(st.Path)-1])
	for _, r := range c.routes[policy][node] {
		if r.Prefix.Addr().Is6() && r.Mode == dataplane.ModeEncap && len(r.Segments) > 0 {
			// H.Insert along the policy's waypoints, then the tail's
			// loopback, the probe address being the last segment:
			// seg6local behaviours never deliver locally (End.DT6 looks in
			// the main table only, End and End.DX6 drop a local next hop),
			// while the kernel's own SRH processing of a packet addressed
			// to a local address (the loopback) does. The probe address
			// cannot come first: it is the steered prefix.
			segs := append(append([]netip.Addr{}, r.Segments[:len(r.Segments)-1]...), tail.Loopback)
			return []dataplane.Steering{{Prefix: netip.PrefixFrom(tail.Probe, 128), Mode: dataplane.ModeInline,
				Segments: segs, Policy: policy + " (STAMP " + name + ")"}}
		}
	}
	return nil
}

// StartSession validates and stores a session and starts measuring.
func (c *Controller) StartSession(ctx context.Context, s Session) (Session, error) {
	if err := restv1.CheckName(s.Name); err != nil {
		return Session{}, bad("name", nil, "%v", err)
	}
	if s.PeriodMs == 0 {
		s.PeriodMs = 1000
	}
	if s.PeriodMs < 1000 || s.PeriodMs > 3_600_000 {
		return Session{}, bad("period_ms", nil, "%d is out of range: 1000 (1 s) to 3600000", s.PeriodMs)
	}
	if s.ProbeIntervalMs != 0 && (s.ProbeIntervalMs < 10 || s.ProbeIntervalMs > s.PeriodMs) {
		return Session{}, bad("probe_interval_ms", nil, "%d is out of range: 10 to the period (%d)", s.ProbeIntervalMs, s.PeriodMs)
	}
	// Checks and write under writeMu: two concurrent starts must not both
	// pass the shared-period check.
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	c.mu.Lock()
	p, ok := c.policies[s.Policy]
	var period uint32
	measured := ""
	for _, other := range c.sessions {
		period = other.PeriodMs
		if other.Policy == s.Policy {
			measured = other.Name
		}
	}
	c.mu.Unlock()
	if measured != "" {
		// Both would register the same segment lists; one reading serves.
		return Session{}, conflict("policy", "policy %s is already measured by session %s", s.Policy, measured)
	}
	if !ok {
		return Session{}, bad("policy", nil, "no policy %q", s.Policy)
	}
	if p.Mode == restv1.ModeInline {
		return Session{}, bad("policy", nil, "policy %s uses H.Insert; loss is measured on encapsulated (encap) policies", s.Policy)
	}
	if s.ReturnPolicy != "" {
		c.mu.Lock()
		ret, ok := c.policies[s.ReturnPolicy]
		var fwdR, retR *resolved
		if ok {
			fwdR, _ = c.resolve(p)
			retR, _ = c.resolve(ret)
		}
		c.mu.Unlock()
		switch {
		case !s.Delay:
			return Session{}, bad("return_policy", nil, "only delay sessions have a return path")
		case !ok:
			return Session{}, bad("return_policy", nil, "no policy %q", s.ReturnPolicy)
		case fwdR == nil || retR == nil || retR.headend != fwdR.endpoint || retR.endpoint != fwdR.headend:
			return Session{}, bad("return_policy", nil, "%s must go from %s's endpoint back to its headend", s.ReturnPolicy, s.Policy)
		case ret.Mode == restv1.ModeInline:
			return Session{}, bad("return_policy", nil, "policy %s uses H.Insert; use an encap policy", s.ReturnPolicy)
		}
	}
	if period != 0 && period != s.PeriodMs {
		return Session{}, bad("period_ms", nil, "every session shares one color period; the running ones use %d", period)
	}
	data, err := json.Marshal(s)
	if err != nil {
		return Session{}, err
	}
	if _, err := c.store.Create(ctx, sessionPrefix+s.Name, data); err != nil {
		if errors.Is(err, store.ErrExists) {
			return Session{}, conflict("name", "session %q already exists", s.Name)
		}
		return Session{}, fmt.Errorf("store session %s: %w", s.Name, err)
	}
	c.mu.Lock()
	c.sessions[s.Name] = s
	c.rebuildLocked(c.routers)
	c.mu.Unlock()
	return s, nil
}

// StopSession stops and forgets a session.
func (c *Controller) StopSession(ctx context.Context, name string) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.store.Delete(ctx, sessionPrefix+name); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return notFound("session", name)
		}
		return fmt.Errorf("delete session %s: %w", name, err)
	}
	c.mu.Lock()
	delete(c.sessions, name)
	c.rebuildLocked(c.routers)
	c.mu.Unlock()
	c.pm.Forget(ctx, name)
	return nil
}

// Sessions lists the sessions with their last results.
func (c *Controller) Sessions() []SessionView {
	c.mu.Lock()
	out := make([]SessionView, 0, len(c.sessions))
	for _, s := range c.sessions {
		out = append(out, SessionView{Session: s})
	}
	c.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	for i := range out {
		rs := c.pm.Query(out[i].Name, time.Time{}, time.Time{})
		if len(rs) > 10 {
			rs = rs[len(rs)-10:]
		}
		if rs == nil {
			rs = []LossResult{} // the API's list is [] when empty, never null
		}
		out[i].Results = rs
	}
	return out
}
