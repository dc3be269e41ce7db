package dataplane

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// DefaultBatch is how many routes ReplaceRoutes sends in one sendmsg
// (about 25 KiB of messages for plain routes).
const DefaultBatch = 256

// ackBuffer is the receive buffer ReplaceRoutes asks for: each queued ack
// or error is an skb of its own (about a kilobyte of buffer), more than
// the default 208 KiB holds when a whole batch is refused.
const ackBuffer = 4 << 20

// ReplaceRoutes installs routes (as netlink.Handle.RouteReplace would, one
// "ip route replace" each) in network namespace ns, DefaultBatch routes
// per sendmsg. The kernel handles the messages of one send in order and
// answers a failed one with an error whatever its flags, so only the last
// message of a batch asks for an ack: once it arrives, every error of the
// batch has too. This saves the round trip of every route (see
// docs/benchmarks.md for the rates). A route the kernel refuses does not
// stop the others; each refusal is returned, joined, naming its route. Only
// the fields sr6's route builders set are supported (destination, gateway,
// device, protocol, type, table, metric, seg6 and seg6local encapsulation);
// a route with another field set is an error before anything is sent.
func ReplaceRoutes(ns netns.NsHandle, routes []*netlink.Route) error {
	return replaceRoutes(ns, routes, DefaultBatch, false)
}

// replaceRoutes is ReplaceRoutes with batch routes per send, and an ack
// asked for on every message when ackEvery (to measure what that costs).
func replaceRoutes(ns netns.NsHandle, routes []*netlink.Route, batch int, ackEvery bool) error {
	msgs := make([][]byte, len(routes))
	for i, r := range routes {
		// Sequence numbers are per socket: the route's index, from 1.
		m, err := routeMessage(r, uint32(i+1), ackEvery || (i+1)%batch == 0 || i == len(routes)-1)
		if err != nil {
			return fmt.Errorf("route %s: %w", prefixOf(r), err)
		}
		msgs[i] = m
	}
	if len(msgs) == 0 {
		return nil
	}
	s, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink socket: %w", err)
	}
	defer s.Close()
	// Unprivileged, SO_RCVBUFFORCE fails; SO_RCVBUF then gets what the
	// system allows.
	if err := s.SetReceiveBufferSize(ackBuffer, true); err != nil {
		_ = s.SetReceiveBufferSize(ackBuffer, false)
	}
	var errs []error
	for start := 0; start < len(msgs); start += batch {
		end := min(start+batch, len(msgs))
		if err := sendBatch(s, msgs[start:end]); err != nil {
			return fmt.Errorf("routes %d to %d of %d: %w", start+1, end, len(msgs), err)
		}
		refused, err := readAcks(s, uint32(start+1), uint32(end), ackEvery)
		if err != nil {
			return fmt.Errorf("routes %d to %d of %d: %w", start+1, end, len(msgs), err)
		}
		for seq, e := range refused {
			errs = append(errs, fmt.Errorf("route %s: %w", prefixOf(routes[seq-1]), e))
		}
	}
	return errors.Join(errs...)
}

func sendBatch(s *nl.NetlinkSocket, msgs [][]byte) error {
	n := 0
	for _, m := range msgs {
		n += len(m)
	}
	buf := make([]byte, 0, n)
	for _, m := range msgs {
		buf = append(buf, m...)
	}
	// The kernel consumes a message to itself within the call: the send
	// never waits, even on the library's non-blocking socket.
	if err := unix.Sendto(s.GetFd(), buf, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return fmt.Errorf("send: %w", err)
	}
	return nil
}

// readAcks reads the answers to sequence numbers first..last, until the
// last one's (or, with every, each one's), and returns the kernel's error
// for each refused message.
func readAcks(s *nl.NetlinkSocket, first, last uint32, every bool) (map[uint32]error, error) {
	refused := map[uint32]error{}
	pending := 1
	if every {
		pending = int(last - first + 1)
	}
	for pending > 0 {
		msgs, _, err := s.Receive()
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				return nil, fmt.Errorf("acks lost (socket receive buffer full): %w", err)
			}
			return nil, fmt.Errorf("read acks: %w", err)
		}
		for _, m := range msgs {
			seq := m.Header.Seq
			if m.Header.Type != unix.NLMSG_ERROR || seq < first || seq > last {
				continue
			}
			if len(m.Data) < 4 {
				return nil, fmt.Errorf("short ack for message %d", seq)
			}
			if errno := -int32(binary.NativeEndian.Uint32(m.Data[:4])); errno != 0 {
				refused[seq] = syscall.Errno(errno)
			}
			if every || seq == last {
				pending--
			}
		}
	}
	return refused, nil
}

// routeMessage is the RTM_NEWROUTE message "ip route replace" would send
// for r, built with the library's own attribute encoders.
func routeMessage(r *netlink.Route, seq uint32, ack bool) ([]byte, error) {
	if r.Src != nil || len(r.MultiPath) > 0 || r.MPLSDst != nil || r.NewDst != nil || r.Via != nil ||
		r.Flags != 0 || r.Scope != 0 || r.Tos != 0 || r.Realm != 0 || r.MTU != 0 {
		return nil, errors.New("batched install supports destination, gateway, device, protocol, type, table, metric and encapsulation only")
	}
	if r.Dst == nil || r.Dst.IP == nil {
		return nil, errors.New("no destination")
	}
	flags := unix.NLM_F_CREATE | unix.NLM_F_REPLACE
	if ack {
		flags |= unix.NLM_F_ACK
	}
	req := nl.NewNetlinkRequest(unix.RTM_NEWROUTE, flags)
	req.Seq = seq
	msg := nl.NewRtMsg()
	ones, _ := r.Dst.Mask.Size()
	msg.Dst_len = uint8(ones)
	family := nl.GetIPFamily(r.Dst.IP)
	msg.Family = uint8(family)
	attrs := []*nl.RtAttr{nl.NewRtAttr(unix.RTA_DST, ipBytes(r.Dst.IP, family))}
	if r.Encap != nil {
		attrs = append(attrs, nl.NewRtAttr(unix.RTA_ENCAP_TYPE, nl.Uint16Attr(uint16(r.Encap.Type()))))
		buf, err := r.Encap.Encode()
		if err != nil {
			return nil, fmt.Errorf("encapsulation: %w", err)
		}
		if r.Encap.Type() == nl.LWTUNNEL_ENCAP_BPF {
			attrs = append(attrs, nl.NewRtAttr(unix.RTA_ENCAP|unix.NLA_F_NESTED, buf))
		} else {
			attrs = append(attrs, nl.NewRtAttr(unix.RTA_ENCAP, buf))
		}
	}
	if r.Gw != nil {
		if nl.GetIPFamily(r.Gw) != family {
			return nil, errors.New("gateway and destination are not the same IP family")
		}
		attrs = append(attrs, nl.NewRtAttr(unix.RTA_GATEWAY, ipBytes(r.Gw, family)))
	}
	if r.Table > 0 {
		if r.Table >= 256 {
			msg.Table = unix.RT_TABLE_UNSPEC
			attrs = append(attrs, nl.NewRtAttr(unix.RTA_TABLE, nl.Uint32Attr(uint32(r.Table))))
		} else {
			msg.Table = uint8(r.Table)
		}
	}
	if r.Priority > 0 {
		attrs = append(attrs, nl.NewRtAttr(unix.RTA_PRIORITY, nl.Uint32Attr(uint32(r.Priority))))
	}
	if r.Protocol > 0 {
		msg.Protocol = uint8(r.Protocol)
	}
	if r.Type > 0 {
		msg.Type = uint8(r.Type)
	}
	req.AddData(msg)
	for _, a := range attrs {
		req.AddData(a)
	}
	req.AddData(nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(uint32(r.LinkIndex))))
	return req.Serialize(), nil
}

func ipBytes(ip net.IP, family int) []byte {
	if family == nl.FAMILY_V4 {
		return ip.To4()
	}
	return ip.To16()
}
