package lab_test

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/nsutil"
)

// TestLossMeasurementIsExact: a policy h1 -> h2 crosses r2, where nftables
// drops 10 % of its SRv6 packets at random and counts them. Over the
// periods the traffic spans, the loss measured by alternate marking equals
// the drop counter exactly, and every packet sent is counted at the
// headend.
func TestLossMeasurementIsExact(t *testing.T) {
	t.Parallel()
	l := newLab(t, "line3.yaml", nil)
	c := l.withController()
	ctx := context.Background()
	l.addPolicy(c, restv1.Policy{Name: "fwd", From: "h1", To: "h2"})
	l.addPolicy(c, restv1.Policy{Name: "back", From: "h2", To: "h1"})
	if _, err := c.StartSession(ctx, restv1.Session{Name: "s1", Policy: "fwd", PeriodMs: 1000}); err != nil {
		t.Fatal(err)
	}
	// The bad session inputs are refused with the field.
	if _, err := c.StartSession(ctx, restv1.Session{Name: "s2", Policy: "fwd", PeriodMs: 10}); err == nil ||
		!strings.Contains(err.Error(), "period_ms") {
		t.Errorf("period of 10 ms: %v", err)
	}
	tail := l.nw.Node("r3").Locator.String()
	for _, cmd := range [][]string{
		{"nft", "add", "table", "inet", "pmtest"},
		{"nft", "add", "chain", "inet", "pmtest", "lossy", "{ type filter hook forward priority 0; }"},
		{"nft", "add", "rule", "inet", "pmtest", "lossy", "ip6", "nexthdr", "43", "ip6", "daddr", tail,
			"numgen", "random", "mod", "100", "<", "10", "counter", "drop"},
	} {
		if out, err := l.run("r2", cmd...); err != nil {
			t.Fatalf("%v: %v\n%s", cmd, err, out)
		}
	}
	drops := func() uint64 {
		out, err := l.run("r2", "nft", "list", "chain", "inet", "pmtest", "lossy")
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`counter packets (\d+)`).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no counter:\n%s", out)
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		return n
	}
	// Wait until the agents have registered the lists (a full period).
	eventually(t, 10*time.Second, "first measurement", func() error {
		rs, err := c.Results(ctx, "s1", time.Time{}, time.Time{})
		if err != nil || len(rs) == 0 {
			return fmt.Errorf("%d results (%v)", len(rs), err)
		}
		return nil
	})
	// Send inside whole periods: start just after a boundary.
	period := time.Second
	now := time.Now()
	start := now.Truncate(period).Add(period + 100*time.Millisecond)
	time.Sleep(time.Until(start))
	before := drops()
	const sent = 1000
	err := nsutil.Do(l.ns("h1"), func() error {
		// Unconnected: h2's port unreachable answers must not fail the
		// sends.
		conn, err := net.ListenPacket("udp4", ":0")
		if err != nil {
			return err
		}
		defer conn.Close()
		dst, err := net.ResolveUDPAddr("udp4", l.hostAddr("h2", true)+":9")
		if err != nil {
			return err
		}
		buf := make([]byte, 200)
		for i := 0; i < sent; i++ {
			if _, err := conn.WriteTo(buf, dst); err != nil {
				return err
			}
			time.Sleep(2 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	from, to := start.Truncate(period), end.Truncate(period).Add(period)
	want := int((to.Sub(from)) / period)
	var rs []restv1.LossResult
	eventually(t, 10*time.Second, "results for every period of the traffic", func() error {
		all, err := c.Results(ctx, "s1", from, to)
		if err != nil {
			return err
		}
		rs = rs[:0]
		for _, r := range all {
			if strings.HasSuffix(r.Segments[len(r.Segments)-1], "::d4") {
				rs = append(rs, r)
			}
		}
		if len(rs) < want {
			return fmt.Errorf("%d of %d periods", len(rs), want)
		}
		return nil
	})
	dropped := drops() - before
	var tx uint64
	var lost int64
	for _, r := range rs {
		tx += r.TxPackets
		lost += r.Lost
		if r.Lost < 0 || uint64(r.Lost) > r.TxPackets {
			t.Errorf("period %s: tx %d rx %d lost %d", r.PeriodStart, r.TxPackets, r.RxPackets, r.Lost)
		}
	}
	if tx != sent {
		t.Errorf("headend counted %d packets over %d periods, want %d", tx, len(rs), sent)
	}
	if dropped == 0 || uint64(lost) != dropped {
		t.Errorf("measured loss %d over %d periods, nftables dropped %d: must be equal", lost, len(rs), dropped)
	}
	t.Logf("%d packets, %d periods, %d lost = %d dropped", tx, len(rs), lost, dropped)
}

// TestDelayMeasurementSeesAQueue: STAMP probes along a policy report the
// queueing delay of a rate-limited link (tbf, 2 Mbit/s) once UDP traffic
// fills it, and a sub-millisecond round trip before.
func TestDelayMeasurementSeesAQueue(t *testing.T) {
	t.Parallel()
	l := newLab(t, "line3.yaml", func(s string) string {
		return strings.Replace(s, "  - endpoints: [r2:eth2, r3:eth1]", "  - endpoints: [r2:eth2, r3:eth1]\n    rate: 2mbit", 1)
	})
	c := l.withController()
	ctx := context.Background()
	l.addPolicy(c, restv1.Policy{Name: "fwd", From: "h1", To: "h2"})
	if _, err := c.StartSession(ctx, restv1.Session{Name: "d", Policy: "fwd", PeriodMs: 1000, Delay: true, ProbeIntervalMs: 50}); err != nil {
		t.Fatal(err)
	}
	delay := func(from time.Time) []restv1.LossResult {
		all, err := c.Results(ctx, "d", from, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		var out []restv1.LossResult
		for _, r := range all {
			if r.Kind == "delay" && r.RxPackets > 0 {
				out = append(out, r)
			}
		}
		return out
	}
	start := time.Now()
	eventually(t, 10*time.Second, "idle delay periods", func() error {
		if n := len(delay(start)); n < 2 {
			return fmt.Errorf("%d answered periods", n)
		}
		return nil
	})
	for _, r := range delay(start) {
		if r.RTTMaxMs > 5 {
			t.Errorf("idle period %s: RTT max %.3f ms, want under 5 ms", r.PeriodStart, r.RTTMaxMs)
		}
	}
	// 4 Mbit/s of UDP into the 2 Mbit/s link for 3 s.
	flood := time.Now()
	err := nsutil.Do(l.ns("h1"), func() error {
		conn, err := net.ListenPacket("udp4", ":0")
		if err != nil {
			return err
		}
		defer conn.Close()
		dst, err := net.ResolveUDPAddr("udp4", l.hostAddr("h2", true)+":9")
		if err != nil {
			return err
		}
		buf := make([]byte, 1000)
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); {
			if _, err := conn.WriteTo(buf, dst); err != nil {
				return err
			}
			time.Sleep(2 * time.Millisecond)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	eventually(t, 10*time.Second, "a congested period", func() error {
		for _, r := range delay(flood) {
			worst = max(worst, r.RTTAvgMs)
		}
		if worst < 10 {
			return fmt.Errorf("worst average RTT %.3f ms", worst)
		}
		return nil
	})
	t.Logf("queue: worst period average RTT %.1f ms", worst)
	// The queue is on the way there: the one-way delays say so (the lab's
	// nodes share one clock).
	for _, r := range delay(flood) {
		if r.RTTAvgMs == worst {
			if r.ForwardAvgMs < 0.8*worst || r.BackwardAvgMs > 5 {
				t.Errorf("worst period: forward %.1f ms, backward %.1f ms, RTT %.1f ms: the delay must be forward",
					r.ForwardAvgMs, r.BackwardAvgMs, r.RTTAvgMs)
			}
		}
	}
}
