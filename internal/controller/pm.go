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
	"github.com/sr6net/sr6/internal/store"
)

// sessionPrefix is where loss-measurement sessions live in the store.
const sessionPrefix = "pm/sessions/"

// Session measures the loss of one policy by alternate marking.
type Session struct {
	Name     string `json:"name"`
	Policy   string `json:"policy"`
	PeriodMs uint32 `json:"period_ms"` // color period; every active session uses the same one
}

// LossResult is the loss of one segment list of a session's policy in one
// period: tx counted at the headend, rx at the tail.
type LossResult struct {
	Session     string    `json:"session"`
	Policy      string    `json:"policy"`
	Segments    []string  `json:"segments"`
	PeriodStart time.Time `json:"period_start"`
	PeriodMs    uint32    `json:"period_ms"`
	TxPackets   uint64    `json:"tx_packets"`
	RxPackets   uint64    `json:"rx_packets"`
	Lost        int64     `json:"lost"`
	LossRatio   float64   `json:"loss_ratio"`
}

// pmState pairs headend and tail measurements into results and keeps the
// last ones of each session in memory.
type pmState struct {
	mu        sync.Mutex
	retention int
	pending   map[string]*agentv1.Measurement // pairing key -> the half that came first
	results   map[string][]LossResult         // session -> results, oldest first
	subs      map[chan LossResult]string      // subscriber -> session ("" = all)
	totals    map[string]*[2]uint64           // session -> tx, lost totals (Prometheus)
}

func newPMState(retention int) *pmState {
	return &pmState{retention: retention, pending: map[string]*agentv1.Measurement{},
		results: map[string][]LossResult{}, subs: map[chan LossResult]string{}, totals: map[string]*[2]uint64{}}
}

func pairKey(m *agentv1.Measurement) string {
	return fmt.Sprintf("%s|%s|%d", m.Session, strings.Join(m.Segments, ","), m.PeriodStartUnixMs)
}

// add takes one node's measurement; when both halves of a period are in,
// it records the result. Records are idempotent: a repeated half replaces
// the earlier copy, so redelivery never double counts.
func (s *pmState) add(m *agentv1.Measurement) (LossResult, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := pairKey(m)
	other, ok := s.pending[k]
	if !ok || other.Headend == m.Headend {
		s.pending[k] = m
		s.gcLocked(m.PeriodStartUnixMs, m.PeriodMs)
		return LossResult{}, false
	}
	delete(s.pending, k)
	tx, rx := m, other
	if !m.Headend {
		tx, rx = other, m
	}
	r := LossResult{Session: m.Session, Policy: m.Policy, Segments: m.Segments,
		PeriodStart: time.UnixMilli(m.PeriodStartUnixMs).UTC(), PeriodMs: m.PeriodMs,
		TxPackets: tx.Packets, RxPackets: rx.Packets, Lost: int64(tx.Packets) - int64(rx.Packets)}
	if tx.Packets > 0 {
		r.LossRatio = float64(r.Lost) / float64(tx.Packets)
	}
	list := append(s.results[m.Session], r)
	if len(list) > s.retention {
		list = list[len(list)-s.retention:]
	}
	s.results[m.Session] = list
	t := s.totals[m.Session]
	if t == nil {
		t = &[2]uint64{}
		s.totals[m.Session] = t
	}
	t[0] += tx.Packets
	if r.Lost > 0 {
		t[1] += uint64(r.Lost)
	}
	for ch, want := range s.subs {
		if want == "" || want == r.Session {
			select {
			case ch <- r:
			default:
			}
		}
	}
	return r, true
}

// gcLocked forgets halves whose other half is more than 10 periods late:
// a node that was down or a list that changed.
func (s *pmState) gcLocked(nowMs int64, periodMs uint32) {
	for k, m := range s.pending {
		if nowMs-m.PeriodStartUnixMs > 10*int64(periodMs) {
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

// Measurement feeds one agent measurement to the processor.
func (c *Controller) Measurement(m *agentv1.Measurement) {
	if r, ok := c.pm.add(m); ok {
		c.log.Debug("loss", "session", r.Session, "period", r.PeriodStart, "tx", r.TxPackets, "lost", r.Lost)
	}
}

// pmListsLocked is what router node measures for the active sessions: the
// encapsulated steering routes of each session's policy, as headend or tail.
func (c *Controller) pmListsLocked(node string) *agentv1.PMConfig {
	if len(c.sessions) == 0 {
		return nil
	}
	cfg := &agentv1.PMConfig{MarkMask: c.markMask}
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
	if len(cfg.Lists) == 0 {
		return nil
	}
	return cfg
}

// StartSession validates and stores a session and starts measuring.
func (c *Controller) StartSession(ctx context.Context, s Session) (Session, error) {
	if !policyNameRE.MatchString(s.Name) {
		return Session{}, bad("name", nil, "%q: 1 to 64 of A-Z a-z 0-9 _ . -", s.Name)
	}
	if s.PeriodMs == 0 {
		s.PeriodMs = 1000
	}
	if s.PeriodMs < 1000 || s.PeriodMs > 3_600_000 {
		return Session{}, bad("period_ms", nil, "%d is out of range: 1000 (1 s) to 3600000", s.PeriodMs)
	}
	c.mu.Lock()
	p, ok := c.policies[s.Policy]
	var period uint32
	for _, other := range c.sessions {
		period = other.PeriodMs
	}
	c.mu.Unlock()
	if !ok {
		return Session{}, bad("policy", nil, "no policy %q", s.Policy)
	}
	if p.Mode == "inline" {
		return Session{}, bad("policy", nil, "policy %s uses H.Insert; loss is measured on encapsulated (encap) policies", s.Policy)
	}
	if period != 0 && period != s.PeriodMs {
		return Session{}, bad("period_ms", nil, "every session shares one color period; the running ones use %d", period)
	}
	data, err := json.Marshal(s)
	if err != nil {
		return Session{}, err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if _, err := c.store.Create(ctx, sessionPrefix+s.Name, data); err != nil {
		if errors.Is(err, store.ErrExists) {
			return Session{}, bad("name", nil, "session %q already exists", s.Name)
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
			return errNotFound
		}
		return err
	}
	c.mu.Lock()
	delete(c.sessions, name)
	c.rebuildLocked(c.routers)
	c.mu.Unlock()
	c.pm.forget(name)
	return nil
}

// SessionView is a session with its latest results.
type SessionView struct {
	Session
	Results []LossResult `json:"results"`
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
		out[i].Results = rs
	}
	return out
}

