package processor

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	"github.com/sr6net/sr6/internal/pm/bus"
	"github.com/sr6net/sr6/internal/store"
)

func newTestProcessor(t testing.TB, keep int) (*Processor, store.Store) {
	t.Helper()
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return New(st, nil, keep), st
}

// TestRedeliveredMeasurementsCountOnce: the same halves delivered again (as
// a bus does after a processor restart) give the same result, once.
func TestRedeliveredMeasurementsCountOnce(t *testing.T) {
	p, _ := newTestProcessor(t, 3600)
	start := time.Now().Truncate(time.Second).UnixMilli()
	head := &agentv1.Measurement{Session: "s", Policy: "p", Segments: []string{"fc00:0:3::d4"}, Headend: true,
		PeriodStartUnixMs: start, PeriodMs: 1000, Packets: 100}
	tail := &agentv1.Measurement{Session: "s", Policy: "p", Segments: []string{"fc00:0:3::d4"},
		PeriodStartUnixMs: start, PeriodMs: 1000, Packets: 97}
	acked := 0
	ack := func() error { acked++; return nil }
	for range 2 {
		for _, m := range []*agentv1.Measurement{head, head, tail} {
			if r, acks, ok := p.pair(m, ack); ok {
				if r.Lost != 3 || r.TxPackets != 100 {
					t.Errorf("result %+v", r)
				}
				for _, a := range acks {
					_ = a()
				}
			}
		}
	}
	rs := p.Query("s", time.Time{}, time.Time{})
	if len(rs) != 1 {
		t.Fatalf("%d results, want 1", len(rs))
	}
	if tx, lost := p.Totals("s"); tx != 100 || lost != 3 {
		t.Errorf("totals tx %d lost %d, want 100 and 3 (not doubled)", tx, lost)
	}
	if acked != 6 {
		t.Errorf("%d acknowledgements, want every delivered half acknowledged (6)", acked)
	}
	// A half whose pair never comes is acknowledged when it expires, with
	// every delivery of it.
	lone := &agentv1.Measurement{Session: "s", Policy: "p", Segments: []string{"x"}, Headend: true,
		PeriodStartUnixMs: start - 11*60*1000, PeriodMs: 1000, Packets: 1}
	acked = 0
	p.pair(lone, ack)
	p.pair(head, ack) // triggers the expiry pass
	if acked != 1 || len(p.pending) != 1 {
		t.Errorf("expired half: %d acks, %d pending", acked, len(p.pending))
	}
}

func TestExpireResults(t *testing.T) {
	p, st := newTestProcessor(t, 3600)
	ctx := context.Background()
	old := &agentv1.Measurement{Session: "s", Policy: "p", Segments: []string{"x"}, Delay: true, PeriodStartUnixMs: 1000, PeriodMs: 1000, ProbesSent: 1}
	fresh := &agentv1.Measurement{Session: "s", Policy: "p", Segments: []string{"x"}, Delay: true,
		PeriodStartUnixMs: time.Now().UnixMilli(), PeriodMs: 1000, ProbesSent: 1}
	p.Add(ctx, old)
	p.Add(ctx, fresh)
	n, err := p.ExpireBefore(ctx, time.Now().Add(-time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("expired %d, %v; want 1", n, err)
	}
	if rs := p.Query("s", time.Time{}, time.Time{}); len(rs) != 1 {
		t.Errorf("%d results left in memory, want 1", len(rs))
	}
	// What is stored comes back after a restart; what expired does not.
	again := New(st, nil, 3600)
	if err := again.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if rs := again.Query("s", time.Time{}, time.Time{}); len(rs) != 1 || rs[0].PeriodStart.UnixMilli() != fresh.PeriodStartUnixMs {
		t.Errorf("loaded %+v, want the fresh result only", rs)
	}
	p.Forget(ctx, "s")
	if n, _ := StoredResults(ctx, st); n != 0 || len(p.Query("s", time.Time{}, time.Time{})) != 0 {
		t.Errorf("after Forget: %d stored", n)
	}
}

func TestSubscribeAndQueryRange(t *testing.T) {
	p, _ := newTestProcessor(t, 3600)
	ctx := context.Background()
	all, cancelAll := p.Subscribe("")
	defer cancelAll()
	mine, cancelMine := p.Subscribe("a")
	base := time.Now().Truncate(time.Second)
	for i, sess := range []string{"a", "b", "a"} {
		p.Add(ctx, &agentv1.Measurement{Session: sess, Policy: "p", Segments: []string{"x"}, Delay: true,
			PeriodStartUnixMs: base.Add(time.Duration(i) * time.Second).UnixMilli(), PeriodMs: 1000, ProbesSent: 4, ProbesLost: 1})
	}
	if len(all) != 3 || len(mine) != 2 {
		t.Errorf("subscribers got %d (all) and %d (a), want 3 and 2", len(all), len(mine))
	}
	cancelMine()
	p.Add(ctx, &agentv1.Measurement{Session: "a", Policy: "p", Segments: []string{"x"}, Delay: true,
		PeriodStartUnixMs: base.Add(5 * time.Second).UnixMilli(), PeriodMs: 1000, ProbesSent: 1})
	if len(mine) != 2 {
		t.Error("a cancelled subscriber still receives results")
	}
	tests := []struct {
		from, to time.Time
		want     int
	}{
		{time.Time{}, time.Time{}, 3},
		{base.Add(time.Second), time.Time{}, 2},
		{time.Time{}, base.Add(2 * time.Second), 1},
		{base.Add(2 * time.Second), base.Add(3 * time.Second), 1},
	}
	for _, tt := range tests {
		if got := p.Query("a", tt.from, tt.to); len(got) != tt.want {
			t.Errorf("Query(a, %v, %v): %d results, want %d", tt.from, tt.to, len(got), tt.want)
		}
	}
	if r := p.Query("a", time.Time{}, time.Time{})[0]; r.LossRatio != 0.25 || r.Kind != "delay" {
		t.Errorf("delay result %+v", r)
	}
}

// BenchmarkPipeline measures measurement records through the embedded bus,
// pairing and storage, end to end: b.N pairs (2*b.N records) published in
// batches, until every result is stored.
func BenchmarkPipeline(b *testing.B) {
	p, st := newTestProcessor(b, b.N+1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	bs, err := bus.OpenNATS(ctx, bus.NATSConfig{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	go func() { _ = p.Run(ctx, bs) }()
	segs := []string{"fc00:0:2::1", "fc00:0:3::d4"}
	b.ResetTimer()
	start := time.Now()
	base := start.UnixMilli() - int64(b.N) // recent: older halves expire
	const batch = 1000
	for i := 0; i < b.N; i += batch {
		var ms []*agentv1.Measurement
		for j := i; j < min(i+batch, b.N); j++ {
			for _, head := range []bool{true, false} {
				ms = append(ms, &agentv1.Measurement{Session: "s", Policy: "p", Segments: segs, Headend: head,
					PeriodStartUnixMs: base + int64(j), PeriodMs: 1000, Packets: 100})
			}
		}
		if err := bs.PublishBatch(ctx, ms); err != nil {
			b.Fatal(err)
		}
	}
	paired := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.results["s"])
	}
	for paired() < b.N {
		time.Sleep(5 * time.Millisecond)
	}
	for {
		if n, _ := StoredResults(ctx, st); n >= b.N {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.ReportMetric(float64(2*b.N)/time.Since(start).Seconds(), "records/s")
}

// TestForgetEndsSubscriptions: a stopped session's subscribers see their
// channel close (a stream waiting on it ends); others' stay open.
func TestForgetEndsSubscriptions(t *testing.T) {
	p, _ := newTestProcessor(t, 10)
	a, cancelA := p.Subscribe("a")
	defer cancelA()
	b, cancelB := p.Subscribe("b")
	defer cancelB()
	all, cancelAll := p.Subscribe("")
	defer cancelAll()
	p.Forget(context.Background(), "a")
	if _, ok := <-a; ok {
		t.Error("a's subscription got a result instead of closing")
	}
	for name, ch := range map[string]<-chan Result{"b": b, "all": all} {
		select {
		case _, ok := <-ch:
			t.Errorf("%s's subscription changed (open %v) when a was forgotten", name, ok)
		default:
		}
	}
	cancelA() // after Forget: must not panic or close twice
}
