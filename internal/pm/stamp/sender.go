package stamp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults of SenderConfig.
const (
	DefaultInterval = time.Second
	DefaultTimeout  = time.Second
)

// SenderConfig configures a Sender. Zero fields take their defaults.
type SenderConfig struct {
	Target netip.AddrPort // the reflector; required
	// Source is the local address and port to send from; the zero value
	// lets the kernel pick both (routing picks the address).
	Source netip.AddrPort
	// SSID is the RFC 8972 Session-Sender Identifier: with a stateful
	// reflector it keeps apart the sessions of one source address.
	SSID     uint16
	Interval time.Duration // between probes; default DefaultInterval
	Count    int           // probes to send; 0 sends until ctx ends
	// PacketSize is the UDP payload of a probe (and so of its reply):
	// MinPacketLen (the default) or at least 48, the rest being an Extra
	// Padding TLV.
	PacketSize int
	// Timeout is how long a probe waits for its reply before it is
	// reported lost; a reply that comes later is ignored.
	Timeout time.Duration
	// ErrorEstimate is sent with T1. The zero value reads the kernel's
	// clock state: S is set when an NTP or PTP daemon keeps the clock
	// synchronized. Set one with Synchronized when the clocks are known to
	// agree by other means (two namespaces of one host share a clock).
	ErrorEstimate ErrorEstimate
	Log           *slog.Logger
	// Listen opens the sender's socket; nil is net.ListenUDP. A process
	// probing from another network namespace than its own passes one that
	// creates the socket there (a socket stays in the namespace it was
	// created in).
	Listen func(network string, laddr *net.UDPAddr) (*net.UDPConn, error)
}

// Result is one probe's outcome. Times are wall-clock, in UTC: T1 and T4
// are the sender's clock, T2 and T3 the reflector's.
type Result struct {
	Seq  uint32 // the probe's sequence number, from 0
	Lost bool   // no reply within the timeout: only Seq and T1 are set
	T1   time.Time
	T2   time.Time
	T3   time.Time
	T4   time.Time
	// ReflectorSeq is the reply's sequence number: Seq again from a
	// stateless reflector, the count of the session's packets it received
	// (from 0) from a stateful one.
	ReflectorSeq uint32
	// RoundTrip is (T4-T1)-(T3-T2): the time on the network, the
	// reflector's residence time removed. Independent of clock offset.
	RoundTrip time.Duration
	// Forward (T2-T1) and Backward (T4-T3) are one-way delays; they
	// include the offset between the two clocks, so they mean something
	// only when ClockSynced is true, to within ClockError.
	Forward, Backward time.Duration
	// ClockSynced is true when both ends set the S bit of their Error
	// Estimate.
	ClockSynced bool
	// ClockError is the sum of the two ends' error estimates: a bound on
	// the one-way delays' error when ClockSynced.
	ClockError time.Duration
	// ForwardLost is how many probes since the previous reply (or since
	// the start, for the first) never reached the reflector, from the gaps
	// in a stateful reflector's count (RFC 8762 §4.3.1). Always 0 with a
	// stateless reflector, which cannot tell.
	ForwardLost int
	// ForwardTTL is the TTL / Hop Limit the probe reached the reflector
	// with (the Ses-Sender TTL field: probes leave with 255, so 255 minus
	// it is the forward hop count); BackwardTTL is the reply's, or -1 when
	// the kernel did not tell.
	ForwardTTL, BackwardTTL int
}

// Sender is a STAMP Session-Sender for one session.
type Sender struct {
	cfg      SenderConfig
	target   netip.AddrPort
	padding  []byte
	conn     *net.UDPConn
	kernelTS bool
	log      *slog.Logger

	started   atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// NewSender checks cfg and opens the sender's UDP socket. The socket
// lives in the network namespace of the calling thread, which is how a
// sender gets to probe from a router's namespace: call NewSender there
// (with the thread locked), Run it from anywhere.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.PacketSize == 0 {
		cfg.PacketSize = MinPacketLen
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	target := netip.AddrPortFrom(cfg.Target.Addr().Unmap(), cfg.Target.Port())
	switch {
	case !target.Addr().IsValid() || target.Addr().IsUnspecified() || target.Port() == 0:
		return nil, fmt.Errorf("stamp sender: target %q: need an address and a port", cfg.Target)
	case cfg.Interval < 0:
		return nil, fmt.Errorf("stamp sender: negative interval %s", cfg.Interval)
	case cfg.Timeout < 0:
		return nil, fmt.Errorf("stamp sender: negative timeout %s", cfg.Timeout)
	case cfg.Count < 0:
		return nil, fmt.Errorf("stamp sender: negative count %d", cfg.Count)
	}
	padding, err := PaddingTLVs(cfg.PacketSize)
	if err != nil {
		return nil, fmt.Errorf("stamp sender: %w", err)
	}
	network := "udp6"
	if target.Addr().Is4() {
		network = "udp4"
	}
	laddr := &net.UDPAddr{}
	if cfg.Source.Addr().IsValid() {
		src := cfg.Source.Addr().Unmap()
		if src.Is4() != target.Addr().Is4() {
			return nil, fmt.Errorf("stamp sender: source %s and target %s are of different address families", cfg.Source, cfg.Target)
		}
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(src, cfg.Source.Port()))
	} else if cfg.Source.Port() != 0 {
		laddr.Port = int(cfg.Source.Port())
	}
	listen := cfg.Listen
	if listen == nil {
		listen = net.ListenUDP
	}
	conn, err := listen(network, laddr)
	if err != nil {
		return nil, fmt.Errorf("stamp sender: listen: %w", err)
	}
	s := &Sender{cfg: cfg, target: target, padding: padding, conn: conn, log: cfg.Log}
	rc, err := conn.SyscallConn()
	if err == nil {
		s.kernelTS, err = setupSocket(rc, false)
	}
	if err != nil {
		s.log.Warn("stamp sender: some socket options failed, falling back for those", "target", target, "kernel_timestamps", s.kernelTS, "err", err)
	}
	return s, nil
}

// LocalAddr is the address and port the probes leave from.
func (s *Sender) LocalAddr() netip.AddrPort {
	return s.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Close releases the socket of a Sender that will not Run (Run closes it
// when it returns). Closing a running Sender makes Run fail.
func (s *Sender) Close() error {
	s.closeOnce.Do(func() { s.closeErr = s.conn.Close() })
	return s.closeErr
}

// probe is a probe in flight.
type probe struct {
	seq      uint32
	t1       time.Time
	ts       Timestamp // T1 as sent, to recognise the reply
	ee       ErrorEstimate
	deadline time.Time
	answered bool
	reply    reply
}

// reply is a decoded reply and what the kernel said about it.
type reply struct {
	pkt ReflectorPacket // without TLVs
	t4  time.Time
	ttl int
}

// Run sends Count probes (or, with Count 0, probes until ctx ends), one
// every Interval starting now, and sends one Result per probe on out, in
// sequence order: a reply waits for the probes before it to be answered or
// to time out. Run closes out and the socket when it returns. It returns
// nil when all probes are accounted for or when ctx ends (probes still in
// flight then are not reported), and an error if the socket fails.
// Failing sends (no route to the target, say) are not errors: those
// probes time out and are reported lost.
//
// A Sender runs once.
func (s *Sender) Run(ctx context.Context, out chan<- Result) error {
	defer close(out)
	if !s.started.CompareAndSwap(false, true) {
		return errors.New("stamp sender: Run called twice")
	}
	replies := make(chan reply, 64)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { s.read(done, replies, readErr) })
	defer func() {
		close(done)
		_ = s.Close()
		wg.Wait()
	}()
	s.log.Debug("stamp sender running", "target", s.target, "local", s.conn.LocalAddr(), "ssid", s.cfg.SSID,
		"interval", s.cfg.Interval, "count", s.cfg.Count, "kernel_timestamps", s.kernelTS)

	var (
		clk     = newClock(s.cfg.ErrorEstimate)
		queue   []probe // in flight, in sequence order
		seq     uint32
		sent    int
		failing bool // the last send failed
		buf     = make([]byte, 0, s.cfg.PacketSize)
		fwd     forwardLoss
	)
	send := func() {
		ee := clk.estimate(time.Now())
		t1 := time.Now()
		pkt := SenderPacket{Seq: seq, Timestamp: NTPTimestamp(t1), ErrorEstimate: ee, SSID: s.cfg.SSID, TLVs: s.padding}
		buf = pkt.Append(buf[:0])
		_, err := s.conn.WriteToUDPAddrPort(buf, s.target)
		switch {
		case err != nil && !failing:
			s.log.Warn("stamp sender: probes not sent, counting them lost", "target", s.target, "seq", seq, "err", err)
		case err == nil && failing:
			s.log.Info("stamp sender: probes sent again", "target", s.target, "seq", seq)
		}
		failing = err != nil
		queue = append(queue, probe{seq: seq, t1: t1, ts: pkt.Timestamp, ee: ee, deadline: t1.Add(s.cfg.Timeout)})
		seq++
		sent++
	}

	ticker := time.NewTicker(s.cfg.Interval)
	defer ticker.Stop()
	tick := ticker.C
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	send()
	for {
		now := time.Now()
		for len(queue) > 0 && (queue[0].answered || !now.Before(queue[0].deadline)) {
			r := s.result(&queue[0], &fwd)
			queue = queue[1:]
			select {
			case out <- r:
			case <-ctx.Done():
				return nil
			}
		}
		if s.cfg.Count > 0 && sent >= s.cfg.Count {
			if len(queue) == 0 {
				return nil
			}
			tick = nil
		}
		if len(queue) > 0 {
			timer.Reset(time.Until(queue[0].deadline))
		} else {
			timer.Stop()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			send()
		case rep := <-replies:
			s.match(queue, rep)
		case err := <-readErr:
			return err
		case <-timer.C:
		}
	}
}

// match files a reply with its probe. Replies from another session, for a
// probe already reported, already answered (a duplicate) or past its
// timeout, or that do not carry back the probe's timestamp, are ignored.
func (s *Sender) match(queue []probe, rep reply) {
	if len(queue) == 0 || rep.pkt.SSID != s.cfg.SSID {
		return
	}
	i := int64(rep.pkt.SenderSeq - queue[0].seq)
	if i >= int64(len(queue)) {
		return
	}
	p := &queue[i]
	if p.answered || p.ts != rep.pkt.SenderTimestamp || time.Now().After(p.deadline) {
		return
	}
	p.answered, p.reply = true, rep
}

func (s *Sender) result(p *probe, fwd *forwardLoss) Result {
	r := Result{Seq: p.seq, T1: p.t1.UTC(), Lost: !p.answered}
	if r.Lost {
		return r
	}
	rp := &p.reply.pkt
	r.ReflectorSeq = rp.Seq
	r.T2 = rp.ErrorEstimate.Time(rp.ReceiveTimestamp)
	r.T3 = rp.ErrorEstimate.Time(rp.Timestamp)
	r.T4 = p.reply.t4.UTC()
	r.RoundTrip = r.T4.Sub(r.T1) - r.T3.Sub(r.T2)
	r.Forward = r.T2.Sub(r.T1)
	r.Backward = r.T4.Sub(r.T3)
	r.ClockSynced = p.ee.Synchronized && rp.ErrorEstimate.Synchronized
	r.ClockError = p.ee.Duration() + rp.ErrorEstimate.Duration()
	r.ForwardLost = fwd.next(r.Seq, r.ReflectorSeq)
	r.ForwardTTL = int(rp.SenderTTL)
	r.BackwardTTL = p.reply.ttl
	return r
}

// forwardLoss follows a stateful reflector's count across replies, which
// come to it in sequence order.
type forwardLoss struct {
	seen      bool
	seq, rseq uint32
}

// next returns how many of the probes since the previous reply (or the
// start) the reflector did not count. A count that goes back or jumps by
// more than the probes sent (the reflector forgot the session, or the
// network duplicated a probe) gives 0.
func (f *forwardLoss) next(seq, rseq uint32) int {
	var lost int64
	if !f.seen {
		if rseq <= seq {
			lost = int64(seq - rseq)
		}
	} else {
		dS := int64(seq - f.seq)
		dR := int64(int32(rseq - f.rseq))
		if dR > 0 && dR <= dS {
			lost = dS - dR
		}
	}
	f.seen, f.seq, f.rseq = true, seq, rseq
	return int(lost)
}

// read decodes replies from the target until done is closed or the
// socket fails.
func (s *Sender) read(done <-chan struct{}, replies chan<- reply, errc chan<- error) {
	buf := make([]byte, 1<<16)
	oob := make([]byte, oobLen)
	for {
		n, oobn, flags, src, err := s.conn.ReadMsgUDPAddrPort(buf, oob)
		now := time.Now()
		if err != nil {
			select {
			case <-done:
			default:
				errc <- fmt.Errorf("stamp sender: read: %w", err)
			}
			return
		}
		if flags&unix.MSG_TRUNC != 0 || src.Port() != s.target.Port() ||
			src.Addr().Unmap().WithZone("") != s.target.Addr().WithZone("") {
			continue // a stray datagram: we only hear our reflector
		}
		pkt, err := DecodeReflector(buf[:n])
		if err != nil {
			s.log.Debug("stamp sender: bad reply", "src", src, "err", err)
			continue
		}
		pkt.TLVs = nil // buf is reused
		info := parseRxInfo(oob[:oobn])
		rep := reply{pkt: pkt, t4: info.time, ttl: info.ttl}
		if rep.t4.IsZero() {
			rep.t4 = now
		}
		select {
		case replies <- rep:
		case <-done:
			return
		}
	}
}

// Measure runs a sender with cfg and returns its results aggregated by
// period (see Aggregator); it returns when the sender does.
func Measure(ctx context.Context, cfg SenderConfig, period time.Duration) ([]PeriodStats, error) {
	agg, err := NewAggregator(period)
	if err != nil {
		return nil, err
	}
	s, err := NewSender(cfg)
	if err != nil {
		return nil, err
	}
	results := make(chan Result, 64)
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx, results) }()
	var stats []PeriodStats
	for r := range results {
		if p, ok := agg.Add(r); ok {
			stats = append(stats, p)
		}
	}
	if p, ok := agg.Flush(); ok {
		stats = append(stats, p)
	}
	return stats, <-errc
}
