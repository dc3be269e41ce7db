package agent

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	"github.com/sr6net/sr6/internal/intent"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/pm/marking"
	"github.com/sr6net/sr6/internal/pm/stamp"
)

// pmList is one registered segment list in one role.
type pmList struct {
	session, policy string
	segs            []netip.Addr
	headend         bool
	since           time.Time // registration: periods starting earlier are incomplete
}

func (l pmList) key() string {
	role := "tail"
	if l.headend {
		role = "headend"
	}
	parts := make([]string, len(l.segs))
	for i, s := range l.segs {
		parts[i] = s.String()
	}
	return role + " " + strings.Join(parts, ",")
}

// pm runs alternate marking on this node: it flips the headend's color at
// every period boundary (wall clock, so all nodes agree on period numbers)
// and, a guard time later, reads the closed color's counters and emits one
// Measurement per list. The guard (half a period) covers packets still in
// flight and clock skew between nodes: as long as both stay under it, a
// period's packets are all counted in the period's color at both ends.
type pm struct {
	node  string
	netns string // path of the namespace measured; "" is the process's
	log   *slog.Logger

	mu       sync.Mutex
	head     *marking.Programs
	tail     *marking.Programs
	period   time.Duration
	mask     uint32
	lists    map[string]pmList
	last     map[string]marking.Counter // list key + color -> last cumulative reading
	stopLoop context.CancelFunc
	subs     map[chan *agentv1.Measurement]struct{}
	recent   []*agentv1.Measurement // replayed to each new subscriber

	probe       netip.Addr // this node's STAMP reflector address
	synced      bool       // clocks declared synchronized
	stopReflect func()     // stops the running reflector and frees its port
	senders     map[string]context.CancelFunc
}

func newPM(node, netns string, log *slog.Logger) *pm {
	if log == nil {
		log = slog.Default()
	}
	return &pm{node: node, netns: netns, log: log, lists: map[string]pmList{}, last: map[string]marking.Counter{},
		subs: map[chan *agentv1.Measurement]struct{}{}, senders: map[string]context.CancelFunc{}}
}

// listsOf is cfg's segment lists as the node registers them.
func listsOf(cfg *intent.PM) []pmList {
	if cfg == nil {
		return nil
	}
	out := make([]pmList, 0, len(cfg.Lists))
	for _, l := range cfg.Lists {
		out = append(out, pmList{session: l.Session, policy: l.Policy, segs: l.Segments, headend: l.Headend})
	}
	return out
}

// apply makes the node measure what cfg (checked by intent.FromProto)
// says; nil or no lists stops alternate marking.
func (m *pm) apply(cfg *intent.PM) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.applyDelayLocked(cfg); err != nil {
		return err
	}
	lists := listsOf(cfg)
	if len(lists) == 0 {
		m.stopLocked()
		return nil
	}
	if m.head == nil {
		if err := m.startLocked(); err != nil {
			m.stopLocked()
			return err
		}
	}
	period := cfg.Period
	if period != m.period || cfg.MarkMask != m.mask {
		m.period, m.mask = period, cfg.MarkMask
		// Counts of the old periods mean nothing in the new ones: start
		// each list afresh, as if just registered.
		now := time.Now()
		for k, l := range m.lists {
			l.since = now
			m.lists[k] = l
		}
		m.last = map[string]marking.Counter{}
		color := colorAt(time.Now(), period)
		for _, p := range []*marking.Programs{m.head, m.tail} {
			if err := p.Configure(m.mask, color); err != nil {
				return err
			}
		}
		if m.stopLoop != nil {
			m.stopLoop()
		}
		ctx, cancel := context.WithCancel(context.Background())
		m.stopLoop = cancel
		go m.loop(ctx, period)
	}
	want := map[string]pmList{}
	for _, l := range lists {
		want[l.key()] = l
	}
	for k, l := range m.lists {
		if _, ok := want[k]; !ok {
			if err := m.programs(l).Unregister(l.segs); err != nil {
				return err
			}
			delete(m.lists, k)
			delete(m.last, k+" 0")
			delete(m.last, k+" 1")
		}
	}
	for k, l := range want {
		if old, ok := m.lists[k]; ok {
			old.session, old.policy = l.session, l.policy
			m.lists[k] = old
			continue
		}
		if err := m.programs(l).Register(l.segs); err != nil {
			return err
		}
		l.since = time.Now()
		m.lists[k] = l
	}
	return nil
}

func (m *pm) programs(l pmList) *marking.Programs {
	if l.headend {
		return m.head
	}
	return m.tail
}

// startLocked loads the two programs and attaches them to every topology
// interface: marking on egress, counting on ingress.
func (m *pm) startLocked() error {
	var err error
	if m.head, err = marking.Load(); err != nil {
		return err
	}
	if m.tail, err = marking.Load(); err != nil {
		return err
	}
	h, err := nsutil.NetlinkHandle(m.netns, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("list interfaces: %w", err)
	}
	// tcx resolves the ifindex in the calling thread's namespace.
	return nsutil.DoPath(m.netns, func() error {
		for _, l := range links {
			if !watched(l.Attrs().Name) {
				continue
			}
			if err := m.head.Attach(l.Attrs().Index, marking.Headend); err != nil {
				return err
			}
			if err := m.tail.Attach(l.Attrs().Index, marking.Tail); err != nil {
				return err
			}
		}
		return nil
	})
}

func (m *pm) stopLocked() {
	if m.stopLoop != nil {
		m.stopLoop()
		m.stopLoop = nil
	}
	for _, p := range []*marking.Programs{m.head, m.tail} {
		if p != nil {
			_ = p.Close()
		}
	}
	m.head, m.tail, m.period, m.mask = nil, nil, 0, 0
	m.lists = map[string]pmList{}
	m.last = map[string]marking.Counter{}
}

// periodIndex numbers periods from the Unix epoch.
func periodIndex(t time.Time, period time.Duration) int64 { return t.UnixNano() / int64(period) }

func colorAt(t time.Time, period time.Duration) int { return int(periodIndex(t, period) % 2) }

// loop flips the color at each boundary and reads the closed period after
// the guard time.
func (m *pm) loop(ctx context.Context, period time.Duration) {
	guard := period / 2
	for {
		now := time.Now()
		k := periodIndex(now, period)
		boundary := time.Unix(0, (k+1)*int64(period))
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(boundary)):
		}
		m.mu.Lock()
		if ctx.Err() != nil { // replaced by a loop with another period
			m.mu.Unlock()
			return
		}
		if m.head != nil {
			if err := m.head.Configure(m.mask, int((k+1)%2)); err != nil {
				m.log.Warn("flip color", "err", err)
			}
		}
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Until(boundary.Add(guard))):
		}
		m.emit(ctx, k, period)
	}
}

// emit reads period k's color and sends one Measurement per list that was
// registered for the whole period.
func (m *pm) emit(ctx context.Context, k int64, period time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.head == nil || ctx.Err() != nil {
		return
	}
	start := time.Unix(0, k*int64(period))
	color := int(k % 2)
	for key, l := range m.lists {
		c, err := m.programs(l).Read(l.segs, color)
		if err != nil {
			m.log.Warn("read counters", "list", key, "err", err)
			continue
		}
		lastKey := fmt.Sprintf("%s %d", key, color)
		prev, seen := m.last[lastKey]
		m.last[lastKey] = c
		if seen && (c.Packets < prev.Packets || c.Bytes < prev.Bytes) {
			continue // counters were reset: rebase, report nothing
		}
		// Skip periods until the list has been registered for a whole
		// period before this one: until then, at a tail, packets the
		// headend sent before it registered arrive unmarked and would count
		// as color 0. (Nodes must register within a period of each other.)
		if l.since.After(start.Add(-period)) {
			continue
		}
		ms := &agentv1.Measurement{Node: m.node, Session: l.session, Policy: l.policy, Segments: intent.AddrStrings(l.segs),
			Headend: l.headend, PeriodStartUnixMs: start.UnixMilli(), PeriodMs: uint32(period.Milliseconds()),
			Color: uint32(color), Packets: c.Packets - prev.Packets, Bytes: c.Bytes - prev.Bytes}
		m.publishLocked(ms)
	}
}

// recentKept is how many measurements an agent keeps to replay: a
// controller that reconnects gets them again, so periods that closed while
// it was away are not lost (the processor stores idempotently, so replays
// of what it already has change nothing). At 1 s periods it covers
// minutes for a few dozen lists.
const recentKept = 8192

// publishLocked keeps ms for replay and sends it to every subscriber.
func (m *pm) publishLocked(ms *agentv1.Measurement) {
	m.recent = append(m.recent, ms)
	if len(m.recent) > recentKept+recentKept/4 {
		m.recent = append([]*agentv1.Measurement(nil), m.recent[len(m.recent)-recentKept:]...)
	}
	for ch := range m.subs {
		select {
		case ch <- ms:
		default:
			m.log.Warn("measurement subscriber too slow; record dropped (replayed on reconnect)", "session", ms.Session)
		}
	}
}

func (m *pm) subscribe() (chan *agentv1.Measurement, func()) {
	m.mu.Lock()
	ch := make(chan *agentv1.Measurement, 4096+len(m.recent))
	for _, ms := range m.recent {
		ch <- ms
	}
	m.subs[ch] = struct{}{}
	m.mu.Unlock()
	return ch, func() {
		m.mu.Lock()
		delete(m.subs, ch)
		m.mu.Unlock()
	}
}

// stampPort is STAMP's registered UDP port.
const stampPort = 862

// applyDelayLocked runs this node's STAMP reflector on its probe address
// and one sender per delay session it heads.
func (m *pm) applyDelayLocked(cfg *intent.PM) error {
	var probe netip.Addr
	if cfg != nil {
		probe = cfg.Probe
	}
	synced := cfg != nil && cfg.ClocksSynced
	var estimate stamp.ErrorEstimate // zero: ask the kernel
	if synced {
		estimate = stamp.ErrorEstimateFor(time.Microsecond, true)
	}
	if synced != m.synced {
		// Restart the reflector and senders with the new clock claim.
		m.synced = synced
		m.probe = netip.Addr{}
		for k, stop := range m.senders {
			stop()
			delete(m.senders, k)
		}
	}
	if probe != m.probe {
		if m.stopReflect != nil {
			m.stopReflect()
			m.stopReflect = nil
		}
		m.probe = netip.Addr{}
		if probe.IsValid() {
			if err := addProbeAddr(m.netns, probe); err != nil {
				return err
			}
			conn, err := m.listenUDP("udp6", net.UDPAddrFromAddrPort(netip.AddrPortFrom(probe, stampPort)))
			if err != nil {
				return fmt.Errorf("STAMP reflector on %s: %w", probe, err)
			}
			// Only a reflector that runs counts as applied: a failure is
			// retried by the next Apply.
			m.probe = probe
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			// Stopping closes the socket and waits for the reflector, so
			// that the port is free when the next session binds it again
			// (an asynchronous close made that bind fail: address in use).
			m.stopReflect = func() {
				cancel()
				conn.Close()
				<-done
			}
			refl := stamp.NewReflector(stamp.ReflectorConfig{Mode: stamp.Stateful, ErrorEstimate: estimate, Log: m.log})
			go func() {
				defer close(done)
				if err := refl.Serve(ctx, conn); err != nil && ctx.Err() == nil {
					m.log.Warn("STAMP reflector", "err", err)
				}
			}()
		}
	}
	want := map[string]intent.Delay{}
	if cfg != nil {
		for _, d := range cfg.Delays {
			want[d.Session+"|"+d.Target.String()] = d
		}
	}
	for k, stop := range m.senders {
		if _, ok := want[k]; !ok {
			stop()
			delete(m.senders, k)
		}
	}
	for k, d := range want {
		if _, ok := m.senders[k]; ok {
			continue
		}
		if !m.probe.IsValid() {
			// intent.FromProto refuses delays without a probe address; a
			// reflector that failed to start leaves none either.
			return fmt.Errorf("STAMP sender to %s: no probe address on this node", d.Target)
		}
		period := max(cfg.Period, intent.MinPeriod)
		sender, err := stamp.NewSender(stamp.SenderConfig{
			Target: netip.AddrPortFrom(d.Target, stampPort), Source: netip.AddrPortFrom(m.probe, 0),
			Interval: d.Interval, Timeout: period / 2, ErrorEstimate: estimate, Log: m.log, Listen: m.listenUDP})
		if err != nil {
			return fmt.Errorf("STAMP sender to %s: %w", d.Target, err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		m.senders[k] = cancel
		go m.runSender(ctx, sender, d, period)
	}
	return nil
}

// addProbeAddr puts the probe address on the loopback. Not on the SID
// device: End.DT6 looks the decapsulated packet up in the main table only,
// where an address of an ordinary device is a neighbour to resolve, while
// the loopback's loops the packet back into local delivery.
func addProbeAddr(netns string, a netip.Addr) error {
	h, err := nsutil.NetlinkHandle(netns, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: net.IP(a.AsSlice()), Mask: net.CIDRMask(128, 128)}, Flags: unix.IFA_F_NODAD}
	if err := h.AddrReplace(lo, addr); err != nil {
		return fmt.Errorf("probe address %s: %w", a, err)
	}
	return nil
}

// listenUDP opens a UDP socket in the node's namespace: a socket stays in
// the namespace it was created in.
func (m *pm) listenUDP(network string, laddr *net.UDPAddr) (*net.UDPConn, error) {
	var conn *net.UDPConn
	err := nsutil.DoPath(m.netns, func() error {
		var err error
		conn, err = net.ListenUDP(network, laddr)
		return err
	})
	return conn, err
}

// runSender probes until ctx ends and emits one delay Measurement per
// period.
func (m *pm) runSender(ctx context.Context, s *stamp.Sender, d intent.Delay, period time.Duration) {
	defer s.Close()
	agg, err := stamp.NewAggregator(period)
	if err != nil {
		m.log.Warn("STAMP aggregator", "err", err)
		return
	}
	results := make(chan stamp.Result, 1024)
	go func() {
		// Run closes results when it returns.
		if err := s.Run(ctx, results); err != nil && ctx.Err() == nil {
			m.log.Warn("STAMP sender", "session", d.Session, "err", err)
		}
	}()
	for r := range results {
		ps, done := agg.Add(r)
		if !done {
			continue
		}
		ms := &agentv1.Measurement{Node: m.node, Session: d.Session, Policy: d.Policy, Segments: []string{d.Target.String()},
			Headend: true, Delay: true, PeriodStartUnixMs: ps.Start.UnixMilli(), PeriodMs: uint32(period.Milliseconds()),
			ProbesSent: uint32(ps.Sent), ProbesLost: uint32(ps.Lost), RttMinNs: int64(ps.RoundTrip.Min),
			RttAvgNs: int64(ps.RoundTrip.Avg), RttMaxNs: int64(ps.RoundTrip.Max), JitterNs: int64(ps.Jitter),
			ForwardAvgNs: int64(ps.Forward.Avg), BackwardAvgNs: int64(ps.Backward.Avg)}
		m.mu.Lock()
		m.publishLocked(ms)
		m.mu.Unlock()
	}
}
