package stamp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"
)

// End-to-end tests: a reflector and senders on loopback, with the
// reflector's socket wrapped to delay or drop packets.

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// synced declares both ends' clocks synchronized: they are the same clock.
var synced = ErrorEstimate{Synchronized: true, Multiplier: 1}

// listen opens a UDP socket on loopback address host, skipping the test if
// the address family is missing.
func listen(t testing.TB, host string) *net.UDPConn {
	t.Helper()
	addr := netip.MustParseAddr(host)
	network := "udp4"
	if addr.Is6() {
		network = "udp6"
	}
	conn, err := net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
	if err != nil {
		t.Skipf("no %s loopback: %v", host, err)
	}
	return conn
}

// tapConn impairs a reflector's socket: it drops the probes (dropIn) and
// replies (dropOut) whose 1-based count they pick, and delays replies.
// Only Serve's goroutine reads and writes through it.
type tapConn struct {
	*net.UDPConn
	delay           time.Duration
	dropIn, dropOut func(n int) bool
	in, out         int
	pending         sync.WaitGroup
}

func (c *tapConn) ReadMsgUDPAddrPort(b, oob []byte) (n, oobn, flags int, addr netip.AddrPort, err error) {
	for {
		n, oobn, flags, addr, err = c.UDPConn.ReadMsgUDPAddrPort(b, oob)
		if err != nil {
			return n, oobn, flags, addr, err
		}
		c.in++
		if c.dropIn == nil || !c.dropIn(c.in) {
			return n, oobn, flags, addr, err
		}
	}
}

func (c *tapConn) WriteMsgUDPAddrPort(b, oob []byte, addr netip.AddrPort) (int, int, error) {
	c.out++
	if c.dropOut != nil && c.dropOut(c.out) {
		return len(b), len(oob), nil
	}
	if c.delay > 0 {
		b, oob = bytes.Clone(b), bytes.Clone(oob)
		c.pending.Add(1)
		time.AfterFunc(c.delay, func() {
			defer c.pending.Done()
			_, _, _ = c.UDPConn.WriteMsgUDPAddrPort(b, oob, addr)
		})
		return len(b), len(oob), nil
	}
	return c.UDPConn.WriteMsgUDPAddrPort(b, oob, addr)
}

// plainConn hides everything of a *net.UDPConn but net.PacketConn, so the
// reflector takes its portable path.
type plainConn struct{ net.PacketConn }

func every5th(n int) bool { return n%5 == 0 }

// startReflector serves conn (or wrap(conn)) with a new reflector until
// the test ends, and checks that Serve then returns nil.
func startReflector(t testing.TB, host string, cfg ReflectorConfig, wrap func(*net.UDPConn) net.PacketConn) (netip.AddrPort, *Reflector) {
	t.Helper()
	conn := listen(t, host)
	var pc net.PacketConn = conn
	if wrap != nil {
		pc = wrap(conn)
	}
	if cfg.Log == nil {
		cfg.Log = quietLog()
	}
	r := NewReflector(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Serve(ctx, pc) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("Serve did not return after its context ended")
		}
		if tc, ok := pc.(*tapConn); ok {
			tc.pending.Wait()
		}
		conn.Close()
	})
	return conn.LocalAddr().(*net.UDPAddr).AddrPort(), r
}

// run runs a sender with cfg to completion and returns its results.
func run(t testing.TB, cfg SenderConfig) []Result {
	t.Helper()
	rs, err := runErr(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

// runErr is run for goroutines other than the test's.
func runErr(cfg SenderConfig) ([]Result, error) {
	if cfg.Log == nil {
		cfg.Log = quietLog()
	}
	s, err := NewSender(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out := make(chan Result)
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx, out) }()
	var results []Result
	for r := range out {
		results = append(results, r)
	}
	if err := <-errc; err != nil {
		return nil, fmt.Errorf("Run: %w", err)
	}
	if ctx.Err() != nil {
		return nil, errors.New("Run timed out")
	}
	return results, nil
}

func TestEndToEnd(t *testing.T) {
	const probes = 50
	for _, host := range []string{"127.0.0.1", "::1"} {
		for _, mode := range []Mode{Stateless, Stateful} {
			t.Run(host+"/"+mode.String(), func(t *testing.T) {
				target, refl := startReflector(t, host, ReflectorConfig{Mode: mode, ErrorEstimate: synced}, nil)
				// Two sessions at once, told apart by their SSIDs and ports.
				var wg sync.WaitGroup
				results := make([][]Result, 2)
				errs := make([]error, 2)
				for i := range results {
					wg.Go(func() {
						results[i], errs[i] = runErr(SenderConfig{Target: target, SSID: uint16(i + 1), Interval: 5 * time.Millisecond,
							Count: probes, PacketSize: 100, ErrorEstimate: synced})
					})
				}
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatal(err)
				}
				for _, rs := range results {
					if len(rs) != probes {
						t.Fatalf("%d results, want %d", len(rs), probes)
					}
					for i, r := range rs {
						checkAnswered(t, r, uint32(i))
						if r.ReflectorSeq != uint32(i) {
							t.Fatalf("probe %d: reflector seq %d (%s)", i, r.ReflectorSeq, mode)
						}
						if r.ForwardTTL != 255 || r.BackwardTTL != 255 {
							t.Fatalf("probe %d: TTLs %d/%d, want 255 on loopback", i, r.ForwardTTL, r.BackwardTTL)
						}
					}
				}
				st := refl.Stats()
				wantSessions := 0
				if mode == Stateful {
					wantSessions = 2
				}
				if st.Received != 2*probes || st.Reflected != 2*probes || st.Dropped != 0 || st.Sessions != wantSessions {
					t.Fatalf("reflector stats %+v", st)
				}
			})
		}
	}
}

// checkAnswered checks one answered result on a single host (one clock).
func checkAnswered(t testing.TB, r Result, seq uint32) {
	t.Helper()
	if r.Lost || r.Seq != seq {
		t.Fatalf("result %+v, want seq %d answered", r, seq)
	}
	// One clock: the four timestamps are in order.
	if r.T2.Before(r.T1) || r.T3.Before(r.T2) || r.T4.Before(r.T3) {
		t.Fatalf("probe %d: timestamps out of order: %s %s %s %s", seq, r.T1, r.T2, r.T3, r.T4)
	}
	if r.RoundTrip <= 0 || r.RoundTrip > time.Second || r.RoundTrip != r.Forward+r.Backward {
		t.Fatalf("probe %d: round trip %s, forward %s, backward %s", seq, r.RoundTrip, r.Forward, r.Backward)
	}
	if !r.ClockSynced {
		t.Fatalf("probe %d: clocks declared synchronized, result says not", seq)
	}
}

func TestPlainPacketConn(t *testing.T) {
	target, _ := startReflector(t, "127.0.0.1", ReflectorConfig{ErrorEstimate: synced}, func(c *net.UDPConn) net.PacketConn { return plainConn{c} })
	rs := run(t, SenderConfig{Target: target, Interval: time.Millisecond, Count: 20, ErrorEstimate: synced})
	for i, r := range rs {
		checkAnswered(t, r, uint32(i))
		// Without control messages the reflector cannot read the TTL.
		if r.ForwardTTL != 255 {
			t.Fatalf("probe %d: Ses-Sender TTL %d, want the documented 255", i, r.ForwardTTL)
		}
	}
}

func TestDelay(t *testing.T) {
	const delay = 20 * time.Millisecond
	target, _ := startReflector(t, "127.0.0.1", ReflectorConfig{}, func(c *net.UDPConn) net.PacketConn { return &tapConn{UDPConn: c, delay: delay} })
	rs := run(t, SenderConfig{Target: target, Interval: 5 * time.Millisecond, Count: 50})
	stats, err := Aggregate(rs, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	rtt := stats[0].RoundTrip
	if stats[0].Lost != 0 || rtt.N != 50 {
		t.Fatalf("stats %+v", stats[0])
	}
	if rtt.Min < delay || rtt.Max >= 2*delay {
		t.Fatalf("round trip min %s max %s, want within [%s, %s)", rtt.Min, rtt.Max, delay, 2*delay)
	}
	// The delay is on the way back, after T3.
	for _, r := range rs {
		if r.Backward < delay || r.Forward >= delay {
			t.Fatalf("probe %d: forward %s backward %s", r.Seq, r.Forward, r.Backward)
		}
	}
}

func TestLoss(t *testing.T) {
	const probes, period = 50, 50 * time.Millisecond
	tests := []struct {
		name            string
		dropIn, dropOut func(int) bool
		wantForwardLost int
	}{
		{"backward", nil, every5th, 0},
		// The last probe (49) is lost too, and no later reply tells
		// which way.
		{"forward", every5th, nil, probes/5 - 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target, _ := startReflector(t, "127.0.0.1", ReflectorConfig{Mode: Stateful}, func(c *net.UDPConn) net.PacketConn {
				return &tapConn{UDPConn: c, dropIn: tt.dropIn, dropOut: tt.dropOut}
			})
			rs := run(t, SenderConfig{Target: target, Interval: 5 * time.Millisecond, Count: probes, Timeout: 200 * time.Millisecond})
			if len(rs) != probes {
				t.Fatalf("%d results, want %d", len(rs), probes)
			}
			lost, fwdLost := 0, 0
			received := uint32(0) // probes the reflector counted
			for i, r := range rs {
				wantLost := (i+1)%5 == 0
				if r.Seq != uint32(i) || r.Lost != wantLost {
					t.Fatalf("result %d: seq %d lost %v, want lost %v", i, r.Seq, r.Lost, wantLost)
				}
				if r.Lost {
					lost++
					if tt.wantForwardLost == 0 {
						received++ // the reflector saw it; its reply was dropped
					}
					continue
				}
				if r.ReflectorSeq != received {
					t.Fatalf("probe %d: reflector seq %d, want %d", i, r.ReflectorSeq, received)
				}
				received++
				fwdLost += r.ForwardLost
			}
			if lost != probes/5 || fwdLost != tt.wantForwardLost {
				t.Fatalf("lost %d (forward %d), want %d (forward %d)", lost, fwdLost, probes/5, tt.wantForwardLost)
			}

			stats, err := Aggregate(rs, period)
			if err != nil {
				t.Fatal(err)
			}
			sent, lostInPeriods := 0, 0
			for _, p := range stats {
				inPeriod := 0
				for _, r := range rs {
					if r.Lost && !r.T1.Before(p.Start) && r.T1.Before(p.End) {
						inPeriod++
					}
				}
				if p.Lost != inPeriod || p.Sent != p.RoundTrip.N+p.Lost {
					t.Fatalf("period %s: %+v, want %d lost", p.Start, p, inPeriod)
				}
				sent += p.Sent
				lostInPeriods += p.Lost
			}
			if len(stats) < 2 || sent != probes || lostInPeriods != probes/5 {
				t.Fatalf("%d periods with %d sent, %d lost", len(stats), sent, lostInPeriods)
			}
		})
	}
}

func TestMeasure(t *testing.T) {
	const period = 100 * time.Millisecond
	target, _ := startReflector(t, "127.0.0.1", ReflectorConfig{}, func(c *net.UDPConn) net.PacketConn { return &tapConn{UDPConn: c, dropOut: every5th} })
	stats, err := Measure(context.Background(), SenderConfig{Target: target, Interval: 5 * time.Millisecond, Count: 50,
		Timeout: 100 * time.Millisecond, Log: quietLog()}, period)
	if err != nil {
		t.Fatal(err)
	}
	sent, lost := 0, 0
	for i, p := range stats {
		if p.End.Sub(p.Start) != period || p.Start.UnixNano()%int64(period) != 0 {
			t.Fatalf("period %d: %s to %s, not aligned on %s", i, p.Start, p.End, period)
		}
		if i > 0 && p.Start.Before(stats[i-1].End) {
			t.Fatalf("periods overlap: %+v", stats)
		}
		sent += p.Sent
		lost += p.Lost
	}
	if sent != 50 || lost != 10 {
		t.Fatalf("sent %d lost %d over %d periods, want 50 and 10", sent, lost, len(stats))
	}
	if _, err := Measure(context.Background(), SenderConfig{Target: target}, 0); err == nil {
		t.Fatal("Measure accepted a zero period")
	}
}

// TestSenderMatching answers each probe with garbage, a reply from another
// session, the right reply and a duplicate: the sender reports each probe
// once, answered.
func TestSenderMatching(t *testing.T) {
	conn := listen(t, "127.0.0.1")
	defer conn.Close()
	go func() {
		buf := make([]byte, 1500)
		for {
			n, src, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			probe, err := DecodeSender(buf[:n])
			if err != nil {
				continue
			}
			good := ReflectorPacket{Seq: probe.Seq, SSID: probe.SSID, SenderSeq: probe.Seq, SenderTimestamp: probe.Timestamp,
				ReceiveTimestamp: NTPTimestamp(time.Now()), Timestamp: NTPTimestamp(time.Now()), SenderTTL: 255}
			other := good
			other.SSID++
			stale := good
			stale.SenderTimestamp++
			for _, b := range [][]byte{[]byte("garbage"), other.Append(nil), stale.Append(nil), good.Append(nil), good.Append(nil)} {
				_, _ = conn.WriteToUDPAddrPort(b, src)
			}
		}
	}()
	target := conn.LocalAddr().(*net.UDPAddr).AddrPort()
	rs := run(t, SenderConfig{Target: target, SSID: 42, Interval: 2 * time.Millisecond, Count: 20, Timeout: 500 * time.Millisecond})
	if len(rs) != 20 {
		t.Fatalf("%d results, want 20", len(rs))
	}
	for i, r := range rs {
		if r.Lost || r.Seq != uint32(i) {
			t.Fatalf("result %d: %+v", i, r)
		}
	}
}

// TestReflectorInput sends the reflector datagrams by hand: garbage is
// dropped, a probe comes back as long as it went, with its TLVs.
func TestReflectorInput(t *testing.T) {
	target, refl := startReflector(t, "127.0.0.1", ReflectorConfig{}, nil)
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(target))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	probe := SenderPacket{Seq: 7, Timestamp: NTPTimestamp(time.Now()), SSID: 3, TLVs: []byte{0, TLVExtraPadding, 0, 2, 0xaa, 0xbb, 0, 77, 0, 0}}
	for _, b := range [][]byte{[]byte("too short"), probe.Append(nil)} {
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	reply, err := DecodeReflector(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	wantTLVs := []byte{0, TLVExtraPadding, 0, 2, 0xaa, 0xbb, tlvFlagU, 77, 0, 0}
	if n != probe.Len() || reply.Seq != 7 || reply.SenderSeq != 7 || reply.SSID != 3 || reply.SenderTimestamp != probe.Timestamp || !bytes.Equal(reply.TLVs, wantTLVs) {
		t.Fatalf("reply of %d bytes: %+v", n, reply)
	}
	// The reflector counts a reply after sending it: the reply can arrive
	// first, so give the counter a moment.
	deadline := time.Now().Add(2 * time.Second)
	for {
		st := refl.Stats()
		if st.Received == 2 && st.Reflected == 1 && st.Dropped == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("reflector stats %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestStatefulSessions(t *testing.T) {
	r := NewReflector(ReflectorConfig{Mode: Stateful, MaxSessions: 2, IdleTimeout: time.Minute, Log: quietLog()})
	a := netip.MustParseAddrPort("192.0.2.1:1000")
	b := netip.MustParseAddrPort("[2001:db8::1]:1000")
	t0 := time.Now()
	steps := []struct {
		name string
		key  sessionKey
		at   time.Duration
		want uint32
	}{
		{"first packet counts 0", sessionKey{a, 1}, 0, 0},
		{"then 1", sessionKey{a, 1}, time.Second, 1},
		{"another SSID is another session", sessionKey{a, 2}, 2 * time.Second, 0},
		{"first session goes on", sessionKey{a, 1}, 3 * time.Second, 2},
		{"a third session evicts the least recently seen (a/2)", sessionKey{b, 1}, 4 * time.Second, 0},
		{"a/1 survived", sessionKey{a, 1}, 5 * time.Second, 3},
		{"a/2 starts over", sessionKey{a, 2}, 6 * time.Second, 0},
		{"idle past the timeout starts over", sessionKey{a, 2}, 2 * time.Minute, 0},
		{"and counts again", sessionKey{a, 2}, 2*time.Minute + time.Second, 1},
	}
	for _, s := range steps {
		if got := r.count(s.key, t0.Add(s.at)); got != s.want {
			t.Fatalf("%s: count = %d, want %d", s.name, got, s.want)
		}
	}
	if n := r.Stats().Sessions; n > 2 {
		t.Fatalf("%d sessions kept, the bound is 2", n)
	}
}

func TestForwardLoss(t *testing.T) {
	steps := []struct {
		seq, rseq uint32
		want      int
	}{
		{2, 0, 2},  // first reply: probes 0 and 1 never arrived
		{3, 1, 0},  // no gap
		{6, 2, 2},  // 4 and 5 lost forward (3 sent, 1 counted)
		{9, 5, 0},  // 7 and 8 lost backward: counted
		{10, 0, 0}, // the reflector forgot us
		{11, 1, 0},
		{12, 5, 0}, // count jumped more than we sent (duplicates)
	}
	var f forwardLoss
	for _, s := range steps {
		if got := f.next(s.seq, s.rseq); got != s.want {
			t.Fatalf("next(%d, %d) = %d, want %d", s.seq, s.rseq, got, s.want)
		}
	}
}

func TestNewSenderErrors(t *testing.T) {
	target := netip.MustParseAddrPort("127.0.0.1:862")
	tests := []struct {
		name string
		cfg  SenderConfig
	}{
		{"no target", SenderConfig{}},
		{"no port", SenderConfig{Target: netip.AddrPortFrom(target.Addr(), 0)}},
		{"unspecified address", SenderConfig{Target: netip.MustParseAddrPort("0.0.0.0:862")}},
		{"negative interval", SenderConfig{Target: target, Interval: -1}},
		{"negative timeout", SenderConfig{Target: target, Timeout: -1}},
		{"negative count", SenderConfig{Target: target, Count: -1}},
		{"size below 44", SenderConfig{Target: target, PacketSize: 40}},
		{"size 46 cannot be padded", SenderConfig{Target: target, PacketSize: 46}},
		{"families differ", SenderConfig{Target: target, Source: netip.MustParseAddrPort("[::1]:0")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSender(tt.cfg)
			if err == nil {
				s.Close()
				t.Fatalf("NewSender(%+v) succeeded", tt.cfg)
			}
		})
	}
}

func TestRunLifecycle(t *testing.T) {
	target, _ := startReflector(t, "127.0.0.1", ReflectorConfig{}, nil)
	s, err := NewSender(SenderConfig{Target: target, Source: netip.MustParseAddrPort("127.0.0.1:0"), Interval: time.Millisecond, Log: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	if la := s.LocalAddr(); la.Addr() != target.Addr() || la.Port() == 0 {
		t.Fatalf("local address %s", la)
	}
	// Count 0 runs until the context ends, which is not an error.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	out := make(chan Result, 1000)
	if err := s.Run(ctx, out); err != nil {
		t.Fatalf("Run: %v", err)
	}
	n := 0
	for range out { // closed by Run
		n++
	}
	if n == 0 {
		t.Fatal("no results in 100 ms at 1 ms intervals")
	}
	if err := s.Run(context.Background(), make(chan Result)); err == nil {
		t.Fatal("a second Run succeeded")
	}
}

func BenchmarkReflector(b *testing.B) {
	target, _ := startReflector(b, "127.0.0.1", ReflectorConfig{Mode: Stateful}, nil)
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(target))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// Keep a window of probes in flight, few enough not to overflow the
	// socket buffers: the rate is the reflector's, not the loss's.
	const window = 32
	probe := (&SenderPacket{Timestamp: NTPTimestamp(time.Now())}).Append(nil)
	buf := make([]byte, 1500)
	lost := 0
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for sent := 0; sent < b.N; {
		n := min(window, b.N-sent)
		for range n {
			if _, err := c.Write(probe); err != nil {
				b.Fatal(err)
			}
		}
		sent += n
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		for range n {
			if _, err := c.Read(buf); err != nil {
				lost++
			}
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "probes/s")
	if lost > 0 {
		b.ReportMetric(float64(lost), "lost")
	}
}
