package stamp

import (
	"fmt"
	"time"
)

// DelayStats summarises delays. All zero when N is 0.
type DelayStats struct {
	N             int
	Min, Avg, Max time.Duration // Avg rounds toward zero
}

// PeriodStats summarises the probes sent in one period.
type PeriodStats struct {
	// Start and End bound the period, [Start, End): consecutive
	// multiples of the period since the Unix epoch, so that senders on
	// different nodes cut time the same way. A probe belongs to the
	// period of its T1.
	Start, End time.Time
	Sent       int
	Lost       int
	// ForwardLost is the sum of the Results' ForwardLost: lost probes a
	// stateful reflector never saw, counted in the period of the next
	// reply (so it may lag Lost by a period). Lost - ForwardLost over a
	// long run is the backward loss.
	ForwardLost int
	RoundTrip   DelayStats
	// Jitter is the mean absolute difference between the round trips of
	// consecutive answered probes of the period (in sequence order,
	// lost probes skipped): the mean |IPDV| of RFC 5481 on round trips.
	// Unlike RFC 3550's running estimate it is exact and carries no
	// history across periods. 0 with fewer than two replies.
	Jitter time.Duration
	// Forward and Backward cover the answered probes with ClockSynced
	// only; N tells how many.
	Forward, Backward DelayStats
}

// LossRatio is Lost / Sent, 0 for an empty period.
func (p PeriodStats) LossRatio() float64 {
	if p.Sent == 0 {
		return 0
	}
	return float64(p.Lost) / float64(p.Sent)
}

// delayAcc accumulates a DelayStats.
type delayAcc struct {
	n             int
	min, max, sum time.Duration
}

func (a *delayAcc) add(d time.Duration) {
	if a.n == 0 || d < a.min {
		a.min = d
	}
	if a.n == 0 || d > a.max {
		a.max = d
	}
	a.n++
	a.sum += d
}

func (a *delayAcc) stats() DelayStats {
	if a.n == 0 {
		return DelayStats{}
	}
	return DelayStats{N: a.n, Min: a.min, Avg: a.sum / time.Duration(a.n), Max: a.max}
}

// Aggregator cuts a stream of Results, in the order Run emits them, into
// PeriodStats. Periods in which no probe was sent produce nothing.
type Aggregator struct {
	period time.Duration
	open   bool
	cur    PeriodStats

	rtt, fwd, bwd delayAcc
	jitterSum     time.Duration
	jitterN       int
	prevRTT       time.Duration
	havePrev      bool
}

// NewAggregator returns an aggregator of period-long periods.
func NewAggregator(period time.Duration) (*Aggregator, error) {
	if period <= 0 {
		return nil, fmt.Errorf("stamp: period %s is not positive", period)
	}
	return &Aggregator{period: period}, nil
}

// PeriodStart is the start of the period that contains t: the latest
// multiple of period since the Unix epoch not after t.
func PeriodStart(t time.Time, period time.Duration) time.Time {
	ns, p := t.UnixNano(), int64(period)
	m := ns % p
	if m < 0 {
		m += p
	}
	return time.Unix(0, ns-m).UTC()
}

// Add accounts for r. When r is the first of a later period, the period
// before is complete and returned with ok. A result from an earlier period
// than the open one (the clock stepped back) counts in the open one.
func (a *Aggregator) Add(r Result) (done PeriodStats, ok bool) {
	start := PeriodStart(r.T1, a.period)
	if a.open && start.After(a.cur.Start) {
		done, ok = a.Flush()
	}
	if !a.open {
		a.open = true
		a.cur = PeriodStats{Start: start, End: start.Add(a.period)}
	}
	a.cur.Sent++
	if r.Lost {
		a.cur.Lost++
		return done, ok
	}
	a.cur.ForwardLost += r.ForwardLost
	a.rtt.add(r.RoundTrip)
	if a.havePrev {
		d := r.RoundTrip - a.prevRTT
		if d < 0 {
			d = -d
		}
		a.jitterSum += d
		a.jitterN++
	}
	a.prevRTT, a.havePrev = r.RoundTrip, true
	if r.ClockSynced {
		a.fwd.add(r.Forward)
		a.bwd.add(r.Backward)
	}
	return done, ok
}

// Flush returns the open period, if any, and closes it.
func (a *Aggregator) Flush() (PeriodStats, bool) {
	if !a.open {
		return PeriodStats{}, false
	}
	p := a.cur
	p.RoundTrip = a.rtt.stats()
	p.Forward = a.fwd.stats()
	p.Backward = a.bwd.stats()
	if a.jitterN > 0 {
		p.Jitter = a.jitterSum / time.Duration(a.jitterN)
	}
	*a = Aggregator{period: a.period}
	return p, true
}

// Aggregate cuts results, in the order Run emitted them, into periods.
func Aggregate(results []Result, period time.Duration) ([]PeriodStats, error) {
	a, err := NewAggregator(period)
	if err != nil {
		return nil, err
	}
	var out []PeriodStats
	for _, r := range results {
		if p, ok := a.Add(r); ok {
			out = append(out, p)
		}
	}
	if p, ok := a.Flush(); ok {
		out = append(out, p)
	}
	return out, nil
}
