package stamp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Linux socket plumbing shared by the sender and the reflector: kernel
// receive timestamps, the TTL / Hop Limit and destination address of
// received packets, the TTL of sent ones, and the clock's error.

// sendTTL is the TTL / Hop Limit of every probe and reply, as TWAMP
// (RFC 5357 §4.2) does, so that the TTL a packet arrives with tells how
// many routers it crossed.
const sendTTL = 255

// oobLen fits the control messages we ask for (timestamp, TTL and
// hop limit, IPv4 and IPv6 packet info) with room to spare.
const oobLen = 256

// setupSocket asks the kernel for receive timestamps and the TTL / Hop
// Limit of received packets, sets the TTL of sent ones to sendTTL and, with
// pktinfo, asks for the destination address of received packets (so that a
// reflector can answer from it). An IPv6 socket gets the IPv4 options too,
// for the IPv4-mapped traffic of a dual-stack socket. It reports whether
// kernel timestamps are on; the other failures are returned joined, for
// logging: each only costs a fallback.
func setupSocket(rc syscall.RawConn, pktinfo bool) (kernelTS bool, err error) {
	var errs []error
	cerr := rc.Control(func(fd uintptr) {
		s := int(fd)
		set := func(level, opt, v int, name string, required bool) {
			if err := unix.SetsockoptInt(s, level, opt, v); err != nil && required {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			}
		}
		if err := unix.SetsockoptInt(s, unix.SOL_SOCKET, unix.SO_TIMESTAMPNS, 1); err != nil {
			errs = append(errs, fmt.Errorf("SO_TIMESTAMPNS: %w", err))
		} else {
			kernelTS = true
		}
		domain, err := unix.GetsockoptInt(s, unix.SOL_SOCKET, unix.SO_DOMAIN)
		if err != nil {
			errs = append(errs, fmt.Errorf("SO_DOMAIN: %w", err))
			return
		}
		v4 := domain == unix.AF_INET
		if domain == unix.AF_INET6 {
			set(unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, 1, "IPV6_RECVHOPLIMIT", true)
			set(unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, sendTTL, "IPV6_UNICAST_HOPS", true)
			if pktinfo {
				set(unix.IPPROTO_IPV6, unix.IPV6_RECVPKTINFO, 1, "IPV6_RECVPKTINFO", true)
			}
		}
		set(unix.IPPROTO_IP, unix.IP_RECVTTL, 1, "IP_RECVTTL", v4)
		set(unix.IPPROTO_IP, unix.IP_TTL, sendTTL, "IP_TTL", v4)
		if pktinfo {
			set(unix.IPPROTO_IP, unix.IP_PKTINFO, 1, "IP_PKTINFO", v4)
		}
	})
	if cerr != nil {
		return false, fmt.Errorf("socket options: %w", cerr)
	}
	return kernelTS, errors.Join(errs...)
}

// rxInfo is what the control messages tell about a received packet.
type rxInfo struct {
	time time.Time  // kernel receive time; zero if missing
	ttl  int        // TTL or Hop Limit; -1 if missing
	dst  netip.Addr // local address it was sent to; invalid if missing
	dst4 bool       // dst came as IPv4 packet info (IP_PKTINFO)
}

// cmsgAlign rounds n up to the control message alignment.
func cmsgAlign(n int) int { return unix.CmsgSpace(n) - unix.CmsgSpace(0) }

// parseRxInfo reads the control messages in oob. It walks them by hand
// rather than with unix.ParseSocketControlMessage to stay allocation-free
// on the reflector's path; anything it does not expect is skipped.
func parseRxInfo(oob []byte) rxInfo {
	info := rxInfo{ttl: -1}
	hdr := unix.CmsgLen(0) // header, aligned: where data starts
	lenSize := unix.SizeofCmsghdr - 8
	for len(oob) >= unix.SizeofCmsghdr {
		var l int
		if lenSize == 8 {
			l = int(binary.NativeEndian.Uint64(oob))
		} else {
			l = int(binary.NativeEndian.Uint32(oob))
		}
		level := int32(binary.NativeEndian.Uint32(oob[lenSize:]))
		typ := int32(binary.NativeEndian.Uint32(oob[lenSize+4:]))
		if l < hdr || l > len(oob) {
			return info
		}
		data := oob[hdr:l]
		switch {
		case level == unix.SOL_SOCKET && typ == unix.SCM_TIMESTAMPNS:
			switch len(data) {
			case 16: // struct timespec, 64-bit
				info.time = time.Unix(int64(binary.NativeEndian.Uint64(data)), int64(binary.NativeEndian.Uint64(data[8:])))
			case 8: // struct timespec, 32-bit
				info.time = time.Unix(int64(int32(binary.NativeEndian.Uint32(data))), int64(int32(binary.NativeEndian.Uint32(data[4:]))))
			}
		case level == unix.IPPROTO_IP && typ == unix.IP_TTL && len(data) >= 4:
			info.ttl = int(int32(binary.NativeEndian.Uint32(data)))
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_HOPLIMIT && len(data) >= 4:
			info.ttl = int(int32(binary.NativeEndian.Uint32(data)))
		case level == unix.IPPROTO_IP && typ == unix.IP_PKTINFO && len(data) >= unix.SizeofInet4Pktinfo:
			// struct in_pktinfo: ifindex, spec_dst (the local address
			// routing would answer from), addr (the header destination).
			info.dst, info.dst4 = netip.AddrFrom4([4]byte(data[4:8])), true
		case level == unix.IPPROTO_IPV6 && typ == unix.IPV6_PKTINFO && len(data) >= unix.SizeofInet6Pktinfo:
			info.dst = netip.AddrFrom16([16]byte(data[:16]))
		}
		oob = oob[min(cmsgAlign(l), len(oob)):]
	}
	return info
}

// replyOOB is the control message that makes the kernel send from src,
// through whatever interface routing picks (ifindex 0): a reflector
// bound to a wildcard address then answers from the address it was
// probed on, which is where the sender expects the reply from. The IPv4
// form goes with packets that came with IPv4 packet info.
func replyOOB(src netip.Addr, v4 bool) []byte {
	switch {
	case !src.IsValid() || src.IsMulticast() || src.IsUnspecified():
		return nil
	case v4 && src.Unmap().Is4():
		return unix.PktInfo4(&unix.Inet4Pktinfo{Spec_dst: src.Unmap().As4()})
	case !v4 && src.Is6():
		return unix.PktInfo6(&unix.Inet6Pktinfo{Addr: src.As16()})
	}
	return nil
}

// Kernel clock status (linux/timex.h), not exported by x/sys/unix.
const (
	staUnsync = 0x0040
	timeError = 5
)

// clockErrorEstimate reads the kernel's view of the clock (adjtimex, which
// NTP and PTP daemons keep up to date): S is set when the clock is
// synchronized, and the error is the kernel's estimated error then, its
// maximum error otherwise (16 s once a daemon stops updating it).
func clockErrorEstimate() ErrorEstimate {
	var tx unix.Timex
	state, err := unix.Adjtimex(&tx)
	if err != nil {
		return ErrorEstimateFor(16*time.Second, false)
	}
	if state != timeError && tx.Status&staUnsync == 0 {
		return ErrorEstimateFor(time.Duration(tx.Esterror)*time.Microsecond, true)
	}
	return ErrorEstimateFor(time.Duration(tx.Maxerror)*time.Microsecond, false)
}

// clock hands out the error estimate to send: a fixed one from the
// configuration, or the kernel's, read again every clockRefresh.
type clock struct {
	fixed ErrorEstimate
	cur   ErrorEstimate
	next  time.Time
}

const clockRefresh = 10 * time.Second

func newClock(fixed ErrorEstimate) *clock {
	fixed.PTP = false // we always send NTP-format timestamps
	return &clock{fixed: fixed}
}

func (c *clock) estimate(now time.Time) ErrorEstimate {
	if c.fixed.Multiplier != 0 {
		return c.fixed
	}
	if now.After(c.next) {
		c.cur, c.next = clockErrorEstimate(), now.Add(clockRefresh)
	}
	return c.cur
}
