// Package stamp owns active delay and loss measurement with the Simple
// Two-way Active Measurement Protocol (STAMP, RFC 8762, with the Session-
// Sender Identifier and Extra Padding TLV of RFC 8972): the codec of the
// unauthenticated test packets, a Session-Reflector (stateless or
// stateful) that serves any number of senders on one UDP socket, a
// Session-Sender that probes one target and reports every probe, and the
// aggregation of those reports into per-period statistics whose periods
// are aligned on the wall clock so that nodes agree on them.
//
// It measures between two UDP sockets and nothing more: choosing the
// network namespace, the addresses and the SRv6 policy the probes follow
// is the caller's business (see NewSender).
//
// Timestamps (T1..T4 as in RFC 8762 §4):
//
//   - T1, sender transmit: time.Now() just before the send system call.
//   - T2, reflector receive: the kernel's software receive timestamp
//     (SO_TIMESTAMPNS), taken when the packet enters the network stack, so
//     it excludes socket queueing and Go scheduling; time.Now() after the
//     read when the kernel gives none (a net.PacketConn that is not a
//     *net.UDPConn), which adds that queueing and scheduling delay (tens of
//     microseconds on a loaded host) to the forward delay.
//   - T3, reflector transmit: time.Now() just before the send system call.
//   - T4, sender receive: the kernel's receive timestamp, as T2.
//
// T1 and T3 miss the time from the system call to the wire (a few
// microseconds); the round trip ((T4-T1)-(T3-T2)) is unaffected by the
// clocks' offset, the one-way delays are not and are only meaningful when
// both ends declare synchronized clocks.
//
// Error Estimate: unless configured, each end sends what the kernel knows
// of its clock (adjtimex, kept by an NTP or PTP daemon): the S bit when
// the clock is synchronized, with the kernel's estimated error, and S
// clear with its maximum error otherwise. Z is always 0: timestamps are
// sent in NTP format (PTP-format ones are decoded).
//
// The Session-Sender Identifier (RFC 8972 §3) rides in the first MBZ
// octets after the Error Estimate; a stateful reflector keeps one counter
// per source address, port and SSID, so one reflector serves any number
// of sessions.
package stamp
