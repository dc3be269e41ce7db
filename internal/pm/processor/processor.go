package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/pm/bus"
	"github.com/sr6net/sr6/internal/store"
)

// Result is one period's result of a session: the loss of one segment
// list (tx counted at the headend, rx at the tail) or a STAMP delay period.
// It is the public API's type, so results go out as they are stored.
type Result = restv1.LossResult

// Store is what the processor needs of the controller's store.
type Store interface {
	List(ctx context.Context, prefix string) ([]store.KV, error)
	Put(ctx context.Context, key string, value []byte) (int64, error)
	PutMany(ctx context.Context, kvs []store.KV) error
	Delete(ctx context.Context, key string) error
}

// resultPrefix is where paired results are stored, one key per session,
// period and segment list: storing a result again overwrites it.
const resultPrefix = "pm/results/"

// Processor pairs measurements into results and keeps the last ones of
// each session in memory.
type Processor struct {
	store Store
	log   *slog.Logger

	mu      sync.Mutex
	keep    int                          // results kept in memory per session
	pending map[string]half              // pairing key -> the half that came first
	results map[string]map[string]Result // session -> result key -> result
	subs    map[chan Result]string       // subscriber -> session ("" = all)
	totals  map[string]*[2]uint64        // session -> tx, lost totals
}

// half is one node's measurement waiting for the other end's, with the
// acknowledgement that tells the bus it may forget it.
type half struct {
	m    *agentv1.Measurement
	acks []func() error // every delivery of it: the bus acknowledges per delivery
}

// New returns a processor storing in st and keeping the last keep results
// of each session in memory.
func New(st Store, log *slog.Logger, keep int) *Processor {
	if log == nil {
		log = slog.Default()
	}
	return &Processor{store: st, log: log, keep: keep, pending: map[string]half{},
		results: map[string]map[string]Result{}, subs: map[chan Result]string{}, totals: map[string]*[2]uint64{}}
}

func pairKey(m *agentv1.Measurement) string {
	return fmt.Sprintf("%s|%s|%d|%d", m.Session, strings.Join(m.Segments, ","), m.PeriodStartUnixMs, m.PeriodMs)
}

// resultKey orders a session's results by period, then kind and segment
// list.
func resultKey(r Result) string { return r.Key() }

func ms(ns int64) float64 { return float64(ns) / 1e6 }

// StoreKey is where the processor stores r.
func StoreKey(r Result) string { return resultPrefix + r.Session + "/" + resultKey(r) }

// StoredResults counts the results in the store.
func StoredResults(ctx context.Context, st Store) (int, error) {
	kvs, err := st.List(ctx, resultPrefix)
	return len(kvs), err
}

func noAck() error { return nil }

// pair takes one node's measurement; when both halves of a period are in,
// it returns the result and the acknowledgements of both halves, to call
// once the result is stored. A half seen again (redelivered) replaces the
// waiting copy, and a result seen again replaces the recorded one without
// counting twice, so at-least-once delivery never double counts.
func (p *Processor) pair(m *agentv1.Measurement, ack func() error) (Result, []func() error, bool) {
	if ack == nil {
		ack = noAck
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if m.Delay {
		// A STAMP period is whole at the sender: nothing to pair.
		r := Result{Session: m.Session, Policy: m.Policy, Segments: m.Segments, Kind: "delay",
			PeriodStart: time.UnixMilli(m.PeriodStartUnixMs).UTC(), PeriodMs: m.PeriodMs,
			TxPackets: uint64(m.ProbesSent), RxPackets: uint64(m.ProbesSent - m.ProbesLost), Lost: int64(m.ProbesLost),
			RTTMinMs: ms(m.RttMinNs), RTTAvgMs: ms(m.RttAvgNs), RTTMaxMs: ms(m.RttMaxNs), JitterMs: ms(m.JitterNs),
			ForwardAvgMs: ms(m.ForwardAvgNs), BackwardAvgMs: ms(m.BackwardAvgNs)}
		if m.ProbesSent > 0 {
			r.LossRatio = float64(m.ProbesLost) / float64(m.ProbesSent)
		}
		p.recordLocked(r)
		return r, []func() error{ack}, true
	}
	k := pairKey(m)
	other, ok := p.pending[k]
	if !ok || other.m.Headend == m.Headend {
		// A redelivered copy replaces the waiting one; both deliveries are
		// acknowledged once the pair is stored, none before.
		h := half{m: m, acks: []func() error{ack}}
		if ok {
			h.acks = append(h.acks, other.acks...)
		}
		p.pending[k] = h
		p.gcLocked(time.Now().UnixMilli())
		return Result{}, nil, false
	}
	delete(p.pending, k)
	tx, rx := m, other.m
	if !m.Headend {
		tx, rx = other.m, m
	}
	r := Result{Session: m.Session, Policy: m.Policy, Segments: m.Segments, Kind: "loss",
		PeriodStart: time.UnixMilli(m.PeriodStartUnixMs).UTC(), PeriodMs: m.PeriodMs,
		TxPackets: tx.Packets, RxPackets: rx.Packets, Lost: int64(tx.Packets) - int64(rx.Packets)}
	if tx.Packets > 0 {
		r.LossRatio = float64(r.Lost) / float64(tx.Packets)
	}
	p.recordLocked(r)
	return r, append([]func() error{ack}, other.acks...), true
}

// recordLocked keeps r (replacing an equal key) and tells subscribers.
func (p *Processor) recordLocked(r Result) {
	byKey := p.results[r.Session]
	if byKey == nil {
		byKey = map[string]Result{}
		p.results[r.Session] = byKey
	}
	k := resultKey(r)
	if _, seen := byKey[k]; !seen && r.Kind != "delay" {
		t := p.totals[r.Session]
		if t == nil {
			t = &[2]uint64{}
			p.totals[r.Session] = t
		}
		t[0] += r.TxPackets
		if r.Lost > 0 {
			t[1] += uint64(r.Lost)
		}
	}
	byKey[k] = r
	// Trim in bulk, a quarter over the limit, so that keeping the newest
	// results costs a sort now and then, not one per result.
	if len(byKey) > p.keep+p.keep/4 {
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, old := range keys[:len(keys)-p.keep] {
			delete(byKey, old)
		}
	}
	for ch, want := range p.subs {
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
func (p *Processor) gcLocked(nowMs int64) {
	for k, h := range p.pending {
		if nowMs-h.m.PeriodStartUnixMs > 10*60*1000 {
			for _, a := range h.acks {
				_ = a()
			}
			delete(p.pending, k)
		}
	}
}

// Query returns session's results of the periods starting in [from, to)
// (a zero time is no bound), in order.
func (p *Processor) Query(session string, from, to time.Time) []Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []Result{}
	for _, r := range p.results[session] {
		if (from.IsZero() || !r.PeriodStart.Before(from)) && (to.IsZero() || r.PeriodStart.Before(to)) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return resultKey(out[i]) < resultKey(out[j]) })
	return out
}

// Totals are session's packets sent and lost over all its loss periods.
func (p *Processor) Totals(session string) (tx, lost uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if t := p.totals[session]; t != nil {
		return t[0], t[1]
	}
	return 0, 0
}

// Subscribe delivers session's new results ("" for every session's) until
// cancel is called or the session is forgotten, which closes the channel;
// a subscriber that falls 256 results behind misses some.
func (p *Processor) Subscribe(session string) (results <-chan Result, cancel func()) {
	ch := make(chan Result, 256)
	p.mu.Lock()
	p.subs[ch] = session
	p.mu.Unlock()
	return ch, func() {
		p.mu.Lock()
		delete(p.subs, ch)
		p.mu.Unlock()
	}
}

// Forget drops session's results from memory and from the store, and ends
// its subscriptions (their channels close).
func (p *Processor) Forget(ctx context.Context, session string) {
	p.mu.Lock()
	delete(p.results, session)
	delete(p.totals, session)
	for ch, want := range p.subs {
		if want == session {
			delete(p.subs, ch)
			close(ch)
		}
	}
	p.mu.Unlock()
	if kvs, err := p.store.List(ctx, resultPrefix+session+"/"); err == nil {
		for _, kv := range kvs {
			_ = p.store.Delete(ctx, kv.Key)
		}
	}
}

// Add takes one measurement directly (no bus) and stores the result it
// completes, if any.
func (p *Processor) Add(ctx context.Context, m *agentv1.Measurement) {
	if r, acks, ok := p.pair(m, nil); ok {
		data, err := json.Marshal(r)
		if err == nil {
			_, err = p.store.Put(ctx, StoreKey(r), data)
		}
		if err != nil {
			p.log.Warn("store loss result", "session", r.Session, "err", err)
		}
		for _, a := range acks {
			_ = a()
		}
	}
}

// Run consumes the bus until ctx ends: records are paired, each result is
// stored, and only then are both halves acknowledged. A crash between the
// two redelivers both halves, which pair again into the same result under
// the same key: no record is lost or counted twice. One writer stores
// results in batches, so that the store commits many at once.
func (p *Processor) Run(ctx context.Context, b bus.Bus) error {
	type job struct {
		r    Result
		acks []func() error
	}
	jobs := make(chan job, 8192)
	done := make(chan struct{})
	// Batches of up to 1,000 results, or what arrived in 5 ms: one commit
	// each, then the acknowledgements.
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
				kvs = append(kvs, store.KV{Key: StoreKey(j.r), Value: data})
			}
			if err := p.store.PutMany(context.WithoutCancel(ctx), kvs); err != nil {
				// Not acknowledged: the bus delivers them again.
				p.log.Warn("store loss results", "n", len(kvs), "err", err)
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
		if r, acks, ok := p.pair(msg.Record, msg.Ack); ok {
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

// Expire deletes the results of periods that started before now -
// retention, every interval, until ctx ends.
func (p *Processor) Expire(ctx context.Context, retention, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if n, err := p.ExpireBefore(ctx, time.Now().Add(-retention)); err != nil {
			p.log.Warn("expire loss results", "err", err)
		} else if n > 0 {
			p.log.Debug("expired loss results", "n", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ExpireBefore deletes the results of periods that started before before,
// from the store and from memory, and returns how many it deleted from the
// store.
func (p *Processor) ExpireBefore(ctx context.Context, before time.Time) (int, error) {
	kvs, err := p.store.List(ctx, resultPrefix)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, kv := range kvs {
		var r Result
		if json.Unmarshal(kv.Value, &r) == nil && r.PeriodStart.Before(before) {
			if err := p.store.Delete(ctx, kv.Key); err != nil && !errors.Is(err, store.ErrNotFound) {
				return n, err
			}
			n++
		}
	}
	p.mu.Lock()
	for _, byKey := range p.results {
		for k, r := range byKey {
			if r.PeriodStart.Before(before) {
				delete(byKey, k)
			}
		}
	}
	p.mu.Unlock()
	return n, nil
}

// Load reads the stored results back into memory (after a restart).
func (p *Processor) Load(ctx context.Context) error {
	kvs, err := p.store.List(ctx, resultPrefix)
	if err != nil {
		return fmt.Errorf("load loss results: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, kv := range kvs {
		var r Result
		if json.Unmarshal(kv.Value, &r) == nil {
			p.recordLocked(r)
		}
	}
	return nil
}
