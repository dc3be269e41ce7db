package controller

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/pm/bus"
	"github.com/sr6net/sr6/internal/store"
)

// sessionPrefix is where loss-measurement sessions live in the store.
const sessionPrefix = "pm/sessions/"

// pmState pairs headend and tail measurements into results and keeps the
// last ones of each session in memory.
type pmState struct {
	mu        sync.Mutex
	retention int
	pending   map[string]half                  // pairing key -> the half that came first
	results   map[string]map[string]LossResult // session -> result key -> result
	subs      map[chan LossResult]string       // subscriber -> session ("" = all)
	totals    map[string]*[2]uint64            // session -> tx, lost totals (Prometheus)
}

// half is one node's measurement waiting for the other end's, with the
// acknowledgement that tells the bus it may forget it.
type half struct {
	m    *agentv1.Measurement
	acks []func() error // every delivery of it: the bus acknowledges per delivery
}

func newPMState(retention int) *pmState {
	return &pmState{retention: retention, pending: map[string]half{},
		results: map[string]map[string]LossResult{}, subs: map[chan LossResult]string{}, totals: map[string]*[2]uint64{}}
}

func pairKey(m *agentv1.Measurement) string {
	return fmt.Sprintf("%s|%s|%d|%d", m.Session, strings.Join(m.Segments, ","), m.PeriodStartUnixMs, m.PeriodMs)
}

// resultKey orders a session's results by period, then kind and segment
// list.
func resultKey(r LossResult) string {
	return fmt.Sprintf("%016d/%s/%s", r.PeriodStart.UnixMilli(), r.Kind, strings.Join(r.Segments, ","))
}

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// ResultStoreKey is where the processor stores r.
func ResultStoreKey(r LossResult) string { return resultPrefix + r.Session + "/" + resultKey(r) }

func noAck() error { return nil }

// add takes one node's measurement; when both halves of a period are in,
// it returns the result and the acknowledgements of both halves, to call
// once the result is stored. A half seen again (redelivered) replaces the
// waiting copy, and a result seen again replaces the recorded one without
// counting twice, so at-least-once delivery never double counts.
func (s *pmState) add(m *agentv1.Measurement, ack func() error) (LossResult, []func() error, bool) {
	if ack == nil {
		ack = noAck
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.Delay {
		// A STAMP period is whole at the sender: nothing to pair.
		r := LossResult{Session: m.Session, Policy: m.Policy, Segments: m.Segments, Kind: "delay",
			PeriodStart: time.UnixMilli(m.PeriodStartUnixMs).UTC(), PeriodMs: m.PeriodMs,
			TxPackets: uint64(m.ProbesSent), RxPackets: uint64(m.ProbesSent - m.ProbesLost), Lost: int64(m.ProbesLost),
			RTTMinMs: ms(m.RttMinNs), RTTAvgMs: ms(m.RttAvgNs), RTTMaxMs: ms(m.RttMaxNs), JitterMs: ms(m.JitterNs),
			ForwardAvgMs: ms(m.ForwardAvgNs), BackwardAvgMs: ms(m.BackwardAvgNs)}
		if m.ProbesSent > 0 {
			r.LossRatio = float64(m.ProbesLost) / float64(m.ProbesSent)
		}
		s.recordLocked(r)
		return r, []func() error{ack}, true
	}
	k := pairKey(m)
	other, ok := s.pending[k]
	if !ok || other.m.Headend == m.Headend {
		// A redelivered copy replaces the waiting one; both deliveries are
		// acknowledged once the pair is stored, none before.
		h := half{m: m, acks: []func() error{ack}}
		if ok {
			h.acks = append(h.acks, other.acks...)
		}
		s.pending[k] = h
		s.gcLocked(time.Now().UnixMilli())
		return LossResult{}, nil, false
	}
	delete(s.pending, k)
	tx, rx := m, other.m
	if !m.Headend {
		tx, rx = other.m, m
	}
	r := LossResult{Session: m.Session, Policy: m.Policy, Segments: m.Segments, Kind: "loss",
		PeriodStart: time.UnixMilli(m.PeriodStartUnixMs).UTC(), PeriodMs: m.PeriodMs,
		TxPackets: tx.Packets, RxPackets: rx.Packets, Lost: int64(tx.Packets) - int64(rx.Packets)}
	if tx.Packets > 0 {
		r.LossRatio = float64(r.Lost) / float64(tx.Packets)
	}
	s.recordLocked(r)
	return r, append([]func() error{ack}, other.acks...), true
}

// recordLocked keeps r (replacing an equal key) and tells subscribers.
func (s *pmState) recordLocked(r LossResult) {
	byKey := s.results[r.Session]
	if byKey == nil {
		byKey = map[string]LossResult{}
		s.results[r.Session] = byKey
	}
	k := resultKey(r)
	if _, seen := byKey[k]; !seen && r.Kind != "delay" {
		t := s.totals[r.Session]
		if t == nil {
			t = &[2]uint64{}
			s.totals[r.Session] = t
		}
		t[0] += r.TxPackets
		if r.Lost > 0 {
			t[1] += uint64(r.Lost)
		}
	}
	byKey[k] = r
	// Trim in bulk, a quarter over the limit, so that keeping the newest
	// results costs a sort now and then, not one per result.
	if len(byKey) > s.retention+s.retention/4 {
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, old := range keys[:len(keys)-s.retention] {
			delete(byKey, old)
		}
	}
	for ch, want := range s.subs {
		if want == "" || want == r.Session {
			select {
			case ch <- r:
			default:
			}
		}
	}
}

// gcLocked forgets (and acknowledges) halves whose other half is more than
// ten minutes late: a node that was down or a list that changed.
func (s *pmState) gcLocked(nowMs int64) {
	for k, h := range s.pending {
		if nowMs-h.m.PeriodStartUnixMs > 10*60*1000 {
			for _, a := range h.acks {
				_ = a()
			}
			delete(s.pending, k)
		}
	}
}

func (s *pmState) query(session string, from, to time.Time) []LossResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []LossResult
	for _, r := range s.results[session] {
		if (from.IsZero() || !r.PeriodStart.Before(from)) && (to.IsZero() || r.PeriodStart.Before(to)) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return resultKey(out[i]) < resultKey(out[j]) })
	return out
}

func (s *pmState) subscribe(session string) (chan LossResult, func()) {
	ch := make(chan LossResult, 256)
	s.mu.Lock()
	s.subs[ch] = session
	s.mu.Unlock()
	return ch, func() {
		s.mu.Lock()
		delete(s.subs, ch)
		s.mu.Unlock()
	}
}

func (s *pmState) forget(session string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.results, session)
	delete(s.totals, session)
}

// resultPrefix is where paired results are stored, one key per session,
// period and segment list: storing a result again overwrites it.
const resultPrefix = "pm/results/"

// Measurement feeds one agent measurement to the processor directly (no
// bus); see Process for the bus path.
func (c *Controller) Measurement(m *agentv1.Measurement) {
	if r, acks, ok := c.pm.add(m, nil); ok {
		c.persist(context.Background(), r)
		for _, a := range acks {
			_ = a()
		}
	}
}

func (c *Controller) persist(ctx context.Context, r LossResult) {
	data, err := json.Marshal(r)
	if err == nil {
		_, err = c.store.Put(ctx, ResultStoreKey(r), data)
	}
	if err != nil {
		c.log.Warn("store loss result", "session", r.Session, "err", err)
	}
}

// Process consumes the bus until ctx ends: records are paired, each result
// is stored, and only then are both halves acknowledged. A crash between
// the two redelivers both halves, which pair again into the same result
// under the same key: no record is lost or counted twice. Stores run on a
// few goroutines so that the store can group them.
func (c *Controller) Process(ctx context.Context, b bus.Bus) error {
	type job struct {
		r    LossResult
		acks []func() error
	}
	jobs := make(chan job, 8192)
	done := make(chan struct{})
	// One writer stores results in batches (up to 1,000, or what arrived in
	// 5 ms): one commit each, then the acknowledgements.
	go func() {
		defer close(done)
		var batch []job
		flush := func() {
			if len(batch) == 0 {
				return
			}
			kvs := make([]store.KV, 0, len(batch))
			for _, j := range batch {
				data, _ := json.Marshal(j.r)
				kvs = append(kvs, store.KV{Key: ResultStoreKey(j.r), Value: data})
			}
			if err := c.store.PutMany(context.WithoutCancel(ctx), kvs); err != nil {
				// Not acknowledged: the bus delivers them again.
				c.log.Warn("store loss results", "n", len(kvs), "err", err)
			} else {
				for _, j := range batch {
					for _, a := range j.acks {
						_ = a()
					}
				}
			}
			batch = batch[:0]
		}
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case j, ok := <-jobs:
				if !ok {
					flush()
					return
				}
				batch = append(batch, j)
				if len(batch) >= 1000 {
					flush()
				}
			case <-tick.C:
				flush()
			}
		}
	}()
	err := b.Consume(ctx, func(msg bus.Message) {
		if r, acks, ok := c.pm.add(msg.Record, msg.Ack); ok {
			select {
			case jobs <- job{r, acks}:
			case <-ctx.Done(): // not stored, not acknowledged: delivered again
			}
		}
	})
	close(jobs)
	<-done
	return err
}

// ExpireResults deletes stored results of periods that started before
// now - retention, every interval, until ctx ends.
func (c *Controller) ExpireResults(ctx context.Context, retention, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := c.expireResults(ctx, time.Now().Add(-retention)); err != nil {
			c.log.Warn("expire loss results", "err", err)
		} else if n > 0 {
			c.log.Debug("expired loss results", "n", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (c *Controller) expireResults(ctx context.Context, before time.Time) (int, error) {
	kvs, err := c.store.List(ctx, resultPrefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, kv := range kvs {
		var r LossResult
		if json.Unmarshal(kv.Value, &r) == nil && r.PeriodStart.Before(before) {
			if err := c.store.Delete(ctx, kv.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
				return n, err
			}
			n++
		}
	}
	c.pm.mu.Lock()
	for _, byKey := range c.pm.results {
		for k, r := range byKey {
			if r.PeriodStart.Before(before) {
				delete(byKey, k)
			}
		}
	}
	c.pm.mu.Unlock()
	return n, nil
}

// loadResults reads stored results back (after a restart).
func (c *Controller) loadResults(ctx context.Context) error {
	kvs, err := c.store.List(ctx, resultPrefix)
	if err != nil {
		return fmt.Errorf("load loss results: %w", err)
	}
	c.pm.mu.Lock()
	defer c.pm.mu.Unlock()
	for _, kv := range kvs {
		var r LossResult
		if json.Unmarshal(kv.Value, &r) == nil {
			c.pm.recordLocked(r)
		}
	}
	return nil
}

// pmListsLocked is what router node measures for the active sessions: the
// encapsulated steering routes of each session's policy, as headend or tail.
func (c *Controller) pmListsLocked(node string) *agentv1.PMConfig {
	if len(c.sessions) == 0 {
		return nil
	}
	cfg := &agentv1.PMConfig{MarkMask: c.markMask, ClocksSynced: c.clocksSynced}
	if r := c.nw.Node(node); r != nil && r.Probe.IsValid() {
		cfg.ProbeAddr = r.Probe.String()
	}
	names := make([]string, 0, len(c.sessions))
	for n := range c.sessions {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		s := c.sessions[n]
		cfg.PeriodMs = s.PeriodMs
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
			cfg.Delays = append(cfg.Delays, &agentv1.PMDelay{Session: n, Policy: s.Policy,
				Target: c.nw.Node(tail).Probe.String(), IntervalMs: interval})
		}
		for _, r := range c.routes[s.Policy][head] {
			// H.Insert lists end in each packet's own destination: they
			// have no fixed key, so only encapsulated traffic is measured.
			if r.Mode == agentv1.Mode_MODE_INLINE {
				continue
			}
			cfg.Lists = append(cfg.Lists, &agentv1.PMList{Session: n, Policy: s.Policy, Segments: r.Segments,
				Headend: node == head, Tail: node == tail})
		}
	}
	if len(cfg.Lists) == 0 && len(cfg.Delays) == 0 && cfg.ProbeAddr == "" {
		return nil
	}
	return cfg
}

// probeSteeringLocked steers, at headend node, the tail's probe address of
// every delay session along the policy's IPv6 segment list, so that STAMP
// probes take the policy's path.
func (c *Controller) probeSteeringLocked(node string) []*agentv1.SteeringRoute {
	var out []*agentv1.SteeringRoute
	for name, s := range c.sessions {
		if !s.Delay {
			continue
		}
		out = append(out, c.probeRouteLocked(node, name, s.Policy)...)
		if s.ReturnPolicy != "" {
			out = append(out, c.probeRouteLocked(node, name, s.ReturnPolicy)...)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Prefix < out[j].Prefix })
	return out
}

// probeRouteLocked steers, at policy's headend node, the probe address of
// policy's endpoint along it.
func (c *Controller) probeRouteLocked(node, name, policy string) []*agentv1.SteeringRoute {
	st := c.status[policy]
	if st.State != "up" || len(st.Path) < 2 || st.Path[0] != node {
		return nil
	}
	tail := c.nw.Node(st.Path[len(st.Path)-1])
	for _, r := range c.routes[policy][node] {
		if strings.Contains(r.Prefix, ":") && r.Mode == agentv1.Mode_MODE_ENCAP && len(r.Segments) > 0 {
			// H.Insert along the policy's waypoints, then the tail's
			// loopback, the probe address being the last segment:
			// seg6local behaviours never deliver locally (End.DT6 looks in
			// the main table only, End and End.DX6 drop a local next hop),
			// while the kernel's own SRH processing of a packet addressed
			// to a local address (the loopback) does. The probe address
			// cannot come first: it is the steered prefix.
			segs := append(append([]string{}, r.Segments[:len(r.Segments)-1]...), tail.Loopback.String())
			return []*agentv1.SteeringRoute{{Prefix: tail.Probe.String() + "/128", Mode: agentv1.Mode_MODE_INLINE,
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
	c.pm.forget(name)
	if kvs, err := c.store.List(ctx, resultPrefix+name+"/"); err == nil {
		for _, kv := range kvs {
			_ = c.store.Delete(ctx, kv.Key)
		}
	}
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
		rs := c.pm.query(out[i].Name, time.Time{}, time.Time{})
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
