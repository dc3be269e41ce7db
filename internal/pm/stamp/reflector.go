package stamp

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Mode is how a reflector numbers its replies (RFC 8762 §4.3).
type Mode int

const (
	// Stateless copies the sender's sequence number: the sender sees
	// round-trip loss only.
	Stateless Mode = iota
	// Stateful counts each session's packets and sends the count, so
	// the gaps in it are the probes lost on the way to the reflector and
	// the sender can tell forward loss from backward loss.
	Stateful
)

func (m Mode) String() string {
	switch m {
	case Stateless:
		return "stateless"
	case Stateful:
		return "stateful"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Defaults of ReflectorConfig.
const (
	DefaultMaxSessions = 4096
	// DefaultIdleTimeout is TWAMP's REFWAIT default (RFC 5357 §4.2): a
	// stateful session silent for that long starts counting from 0
	// again.
	DefaultIdleTimeout = 900 * time.Second
)

// ReflectorConfig configures a Reflector. Zero fields take their defaults.
type ReflectorConfig struct {
	Mode Mode
	// MaxSessions bounds the stateful counters; when a new session
	// finds it reached, idle sessions are dropped and, if none is, the
	// least recently seen one.
	MaxSessions int
	// IdleTimeout is how long a stateful session's counter outlives its
	// last packet.
	IdleTimeout time.Duration
	// ErrorEstimate is sent with T2 and T3. The zero value reads the
	// kernel's clock state (see the Error Estimate notes in the package
	// doc); set one, e.g. with Synchronized, when the clock is known to be
	// good by other means (two namespaces of one host share a clock).
	ErrorEstimate ErrorEstimate
	Log           *slog.Logger
}

// Reflector is a STAMP Session-Reflector. One Reflector may Serve several
// connections at once (say an IPv4 and an IPv6 socket); in stateful mode
// they share the session counters.
type Reflector struct {
	mode        Mode
	maxSessions int
	idle        time.Duration
	ee          ErrorEstimate
	log         *slog.Logger

	mu        sync.Mutex
	sessions  map[sessionKey]session
	nextSweep time.Time

	received, reflected, dropped atomic.Uint64
}

// sessionKey names a stateful session: RFC 8972 §3 lets one sender
// address run several sessions, told apart by their SSID.
type sessionKey struct {
	addr netip.AddrPort
	ssid uint16
}

type session struct {
	next uint32
	seen time.Time
}

// NewReflector returns a reflector for cfg; out-of-range values take
// their defaults.
func NewReflector(cfg ReflectorConfig) *Reflector {
	r := &Reflector{
		mode:        cfg.Mode,
		maxSessions: cfg.MaxSessions,
		idle:        cfg.IdleTimeout,
		ee:          cfg.ErrorEstimate,
		log:         cfg.Log,
		sessions:    map[sessionKey]session{},
	}
	if r.mode != Stateful {
		r.mode = Stateless
	}
	if r.maxSessions <= 0 {
		r.maxSessions = DefaultMaxSessions
	}
	if r.idle <= 0 {
		r.idle = DefaultIdleTimeout
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	return r
}

// ReflectorStats counts what a reflector did since it was made.
type ReflectorStats struct {
	Received  uint64 // datagrams read
	Reflected uint64 // replies sent
	Dropped   uint64 // not STAMP probes, or the reply could not be sent
	Sessions  int    // stateful sessions tracked now
}

// Stats returns the counters.
func (r *Reflector) Stats() ReflectorStats {
	r.mu.Lock()
	n := len(r.sessions)
	r.mu.Unlock()
	return ReflectorStats{
		Received:  r.received.Load(),
		Reflected: r.reflected.Load(),
		Dropped:   r.dropped.Load(),
		Sessions:  n,
	}
}

// msgConn is what Serve uses of a *net.UDPConn beyond net.PacketConn, for
// kernel timestamps, the TTL and the reply's source address. Any other
// net.PacketConn is served with ReadFrom / WriteTo and time.Now().
type msgConn interface {
	net.PacketConn
	ReadMsgUDPAddrPort(b, oob []byte) (n, oobn, flags int, addr netip.AddrPort, err error)
	WriteMsgUDPAddrPort(b, oob []byte, addr netip.AddrPort) (n, oobn int, err error)
	SyscallConn() (syscall.RawConn, error)
}

// Serve reflects the probes that arrive on conn until ctx ends, then
// returns nil; it returns an error if reading fails otherwise. Replies go
// to the probe's source address and port, are as long as the probe, and
// carry its TLVs back (RFC 8972 §4). Serve does not close conn; on a
// *net.UDPConn it sets the socket options it needs (kernel timestamps,
// TTL and destination address of received packets, a TTL of 255 on
// replies). Datagrams queued before it does come without that information
// and are answered with the fallbacks below; a reflector bound to a
// wildcard address then answers them from the address routing picks,
// which a sender that probed another address ignores.
//
// The Ses-Sender TTL field gets the TTL / Hop Limit the probe arrived
// with; where the kernel cannot tell it (a connection that is not a
// *net.UDPConn, or an option the kernel refused), it gets 255, which reads
// as "no router on the way" and must not be taken as a hop count then.
func (r *Reflector) Serve(ctx context.Context, conn net.PacketConn) error {
	// A read blocked in the kernel only returns on a deadline: an expired
	// one when ctx ends, and none again once we are done with conn.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = conn.SetReadDeadline(time.Unix(1, 0))
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired
		}
		_ = conn.SetReadDeadline(time.Time{})
	}()
	if mc, ok := conn.(msgConn); ok {
		return r.serveMsg(ctx, mc)
	}
	return r.servePlain(ctx, conn)
}

func (r *Reflector) serveMsg(ctx context.Context, conn msgConn) error {
	kernelTS := false
	if rc, err := conn.SyscallConn(); err != nil {
		r.log.Warn("stamp reflector: no raw socket: timestamps taken after the read, TTL reported as 255", "addr", conn.LocalAddr(), "err", err)
	} else {
		var err error
		kernelTS, err = setupSocket(rc, true)
		if err != nil {
			r.log.Warn("stamp reflector: some socket options failed, falling back for those", "addr", conn.LocalAddr(), "kernel_timestamps", kernelTS, "err", err)
		}
	}
	r.log.Debug("stamp reflector serving", "addr", conn.LocalAddr(), "mode", r.mode, "kernel_timestamps", kernelTS)
	clk := newClock(r.ee)
	buf := make([]byte, 1<<16)
	oob := make([]byte, oobLen)
	// Consecutive probes are usually to the same address: keep its
	// control message rather than build it for every reply.
	var lastDst netip.Addr
	var lastDst4 bool
	var lastOOB []byte
	for {
		n, oobn, flags, src, err := conn.ReadMsgUDPAddrPort(buf, oob)
		now := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("stamp reflector: read on %s: %w", conn.LocalAddr(), err)
		}
		r.received.Add(1)
		if flags&unix.MSG_TRUNC != 0 {
			r.drop("truncated datagram", src, nil)
			continue
		}
		info := parseRxInfo(oob[:oobn])
		t2 := info.time
		if t2.IsZero() {
			t2 = now
		}
		ttl := uint8(sendTTL)
		if info.ttl >= 0 && info.ttl <= 255 {
			ttl = uint8(info.ttl)
		}
		pkt := buf[:n]
		if err := r.reflect(pkt, src, t2, now, ttl, clk); err != nil {
			r.drop("not a STAMP probe", src, err)
			continue
		}
		if info.dst != lastDst || info.dst4 != lastDst4 {
			lastDst, lastDst4, lastOOB = info.dst, info.dst4, replyOOB(info.dst, info.dst4)
		}
		_, _, err = conn.WriteMsgUDPAddrPort(pkt, lastOOB, src)
		if err != nil && lastOOB != nil {
			// The kernel may refuse the source address (it went away,
			// or is not one we may send from): let routing pick one.
			_, _, err = conn.WriteMsgUDPAddrPort(pkt, nil, src)
		}
		if err != nil {
			r.drop("reply not sent", src, err)
			continue
		}
		r.reflected.Add(1)
	}
}

func (r *Reflector) servePlain(ctx context.Context, conn net.PacketConn) error {
	r.log.Debug("stamp reflector serving without kernel timestamps", "addr", conn.LocalAddr(), "mode", r.mode)
	clk := newClock(r.ee)
	buf := make([]byte, 1<<16)
	for {
		n, addr, err := conn.ReadFrom(buf)
		now := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("stamp reflector: read on %s: %w", conn.LocalAddr(), err)
		}
		r.received.Add(1)
		src := addrPort(addr)
		pkt := buf[:n]
		if err := r.reflect(pkt, src, now, now, sendTTL, clk); err != nil {
			r.drop("not a STAMP probe", src, err)
			continue
		}
		if _, err := conn.WriteTo(pkt, addr); err != nil {
			r.drop("reply not sent", src, err)
			continue
		}
		r.reflected.Add(1)
	}
}

// addrPort is addr as a netip.AddrPort, the zero one if it is not a UDP
// address: such senders then share one stateful session per SSID.
func addrPort(addr net.Addr) netip.AddrPort {
	if ua, ok := addr.(*net.UDPAddr); ok {
		return ua.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(addr.String())
	return ap
}

// drop counts a datagram that got no reply. It logs at debug level only:
// anyone can send us garbage, and a log line per datagram would let them
// flood the log.
func (r *Reflector) drop(why string, src netip.AddrPort, err error) {
	r.dropped.Add(1)
	if r.log.Enabled(context.Background(), slog.LevelDebug) {
		r.log.Debug("stamp reflector: "+why, "src", src, "err", err)
	}
}

// reflect turns the probe in pkt into its reply, in place: the reply is
// the probe's length and keeps its TLVs. t2 is the receive time, now the
// monotonic time of the read (for session expiry), ttl what goes in the
// Ses-Sender TTL field. T3 is taken last, just before the caller sends.
func (r *Reflector) reflect(pkt []byte, src netip.AddrPort, t2, now time.Time, ttl uint8, clk *clock) error {
	probe, err := DecodeSender(pkt)
	if err != nil {
		return err
	}
	seq := probe.Seq
	if r.mode == Stateful {
		seq = r.count(sessionKey{addr: netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), ssid: probe.SSID}, now)
	}
	reply := ReflectorPacket{
		Seq:                 seq,
		ErrorEstimate:       clk.estimate(now),
		SSID:                probe.SSID,
		ReceiveTimestamp:    NTPTimestamp(t2),
		SenderSeq:           probe.Seq,
		SenderTimestamp:     probe.Timestamp,
		SenderErrorEstimate: probe.ErrorEstimate,
		SenderTTL:           ttl,
	}
	reflectTLVs(pkt[MinPacketLen:])
	reply.Timestamp = NTPTimestamp(time.Now())
	reply.putBase(pkt)
	return nil
}

// count returns the session's next reflector sequence number: 0 for its
// first packet, one more for each packet after (RFC 8762 §4.3.1).
func (r *Reflector) count(k sessionKey, now time.Time) uint32 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now.After(r.nextSweep) {
		r.sweepLocked(now)
	}
	s, ok := r.sessions[k]
	if ok && now.Sub(s.seen) > r.idle {
		s, ok = session{}, false // expired but not swept yet: a new session
	}
	if !ok && len(r.sessions) >= r.maxSessions {
		r.sweepLocked(now)
		if len(r.sessions) >= r.maxSessions {
			r.evictOldestLocked()
		}
	}
	seq := s.next
	r.sessions[k] = session{next: s.next + 1, seen: now}
	return seq
}

// sweepLocked forgets the sessions idle for longer than the timeout, to
// bound memory; it runs at most every quarter timeout. (count restarts an
// expired session from 0 whether or not it was swept yet.)
func (r *Reflector) sweepLocked(now time.Time) {
	for k, s := range r.sessions {
		if now.Sub(s.seen) > r.idle {
			delete(r.sessions, k)
		}
	}
	r.nextSweep = now.Add(r.idle / 4)
}

// evictOldestLocked drops the least recently seen session. It scans the
// map, which only happens when more than MaxSessions senders are active
// at once.
func (r *Reflector) evictOldestLocked() {
	var oldest sessionKey
	var seen time.Time
	first := true
	for k, s := range r.sessions {
		if first || s.seen.Before(seen) {
			oldest, seen, first = k, s.seen, false
		}
	}
	if !first {
		delete(r.sessions, oldest)
	}
}
