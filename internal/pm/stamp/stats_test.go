package stamp

import (
	"reflect"
	"testing"
	"time"
)

func TestPeriodStart(t *testing.T) {
	tests := []struct {
		t      time.Time
		period time.Duration
		want   time.Time
	}{
		{time.Unix(12, 3e8), time.Second, time.Unix(12, 0)},
		{time.Unix(12, 0), time.Second, time.Unix(12, 0)},
		{time.Unix(-1, 5e8), time.Second, time.Unix(-1, 0)}, // before 1970: still the floor
		{time.Unix(100, 0), 7 * time.Second, time.Unix(98, 0)},
		{time.Unix(98, 0), 7 * time.Second, time.Unix(98, 0)},
		{time.Date(2026, 1, 1, 0, 0, 30, 0, time.FixedZone("X", 3600+1800)), time.Hour, time.Date(2025, 12, 31, 22, 0, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		if got := PeriodStart(tt.t, tt.period); !got.Equal(tt.want) {
			t.Errorf("PeriodStart(%s, %s) = %s, want %s", tt.t, tt.period, got, tt.want)
		}
	}
}

func TestAggregate(t *testing.T) {
	base := time.Unix(1_700_000_000, 0).UTC()
	ms := time.Millisecond
	at := func(d time.Duration) time.Time { return base.Add(d) }
	ok := func(seq uint32, t1 time.Time, rtt, fwd, bwd time.Duration, synced bool) Result {
		return Result{Seq: seq, T1: t1, RoundTrip: rtt, Forward: fwd, Backward: bwd, ClockSynced: synced}
	}
	lost := func(seq uint32, t1 time.Time) Result { return Result{Seq: seq, T1: t1, Lost: true} }
	withFL := func(r Result, n int) Result { r.ForwardLost = n; return r }

	results := []Result{
		// Period [0 s, 1 s).
		ok(0, at(100*ms), 10*ms, 4*ms, 6*ms, true),
		ok(1, at(200*ms), 12*ms, 5*ms, 7*ms, true),
		lost(2, at(300*ms)),
		withFL(ok(3, at(400*ms), 11*ms, 99*ms, -88*ms, false), 1), // unsynchronized: no one-way
		ok(4, at(500*ms), 15*ms, 9*ms, 6*ms, true),
		// Nothing in [1 s, 2 s). Period [2 s, 3 s):
		ok(5, at(2000*ms), 20*ms, 0, 0, false), // on the boundary: the later period
		ok(6, at(1500*ms), 30*ms, 0, 0, false), // the clock stepped back: stays in the open period
		lost(7, at(2999*ms)),
		// Period [3 s, 4 s): all lost.
		lost(8, at(3500*ms)),
	}
	got, err := Aggregate(results, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []PeriodStats{
		{
			Start: at(0), End: at(time.Second), Sent: 5, Lost: 1, ForwardLost: 1,
			RoundTrip: DelayStats{N: 4, Min: 10 * ms, Avg: 12 * ms, Max: 15 * ms},
			Jitter:    2333333 * time.Nanosecond, // (2 + 1 + 4) / 3 ms
			Forward:   DelayStats{N: 3, Min: 4 * ms, Avg: 6 * ms, Max: 9 * ms},
			Backward:  DelayStats{N: 3, Min: 6 * ms, Avg: 6333333 * time.Nanosecond, Max: 7 * ms},
		},
		{
			Start: at(2 * time.Second), End: at(3 * time.Second), Sent: 3, Lost: 1,
			RoundTrip: DelayStats{N: 2, Min: 20 * ms, Avg: 25 * ms, Max: 30 * ms},
			Jitter:    10 * ms, // not counting the step from period 1's last round trip
		},
		{Start: at(3 * time.Second), End: at(4 * time.Second), Sent: 1, Lost: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Aggregate:\n got %+v\nwant %+v", got, want)
	}
	if r := got[0].LossRatio(); r != 0.2 {
		t.Fatalf("loss ratio %v, want 0.2", r)
	}
	if r := got[2].LossRatio(); r != 1 {
		t.Fatalf("loss ratio %v, want 1", r)
	}
	if r := (PeriodStats{}).LossRatio(); r != 0 {
		t.Fatalf("empty loss ratio %v", r)
	}

	// Streaming gives the same periods, each as soon as the next begins.
	a, err := NewAggregator(time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var streamed []PeriodStats
	for i, r := range results {
		if p, ok := a.Add(r); ok {
			if i != 5 && i != 8 {
				t.Fatalf("period closed by result %d", i)
			}
			streamed = append(streamed, p)
		}
	}
	if p, ok := a.Flush(); ok {
		streamed = append(streamed, p)
	}
	if _, ok := a.Flush(); ok {
		t.Fatal("second Flush returned a period")
	}
	if !reflect.DeepEqual(streamed, want) {
		t.Fatalf("streamed:\n got %+v\nwant %+v", streamed, want)
	}

	if got, err := Aggregate(nil, time.Second); err != nil || got != nil {
		t.Fatalf("Aggregate(nil) = %v, %v", got, err)
	}
	for _, p := range []time.Duration{0, -time.Second} {
		if _, err := NewAggregator(p); err == nil {
			t.Fatalf("NewAggregator(%s) succeeded", p)
		}
	}
}
