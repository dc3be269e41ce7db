package stamp

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRxInfo checks what the control messages tell about a received
// packet: the kernel timestamp, the TTL it arrived with and where it was
// sent to.
func TestRxInfo(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "::1"} {
		t.Run(host, func(t *testing.T) {
			rx := listen(t, host)
			defer rx.Close()
			rc, err := rx.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			kernelTS, err := setupSocket(rc, true)
			if err != nil || !kernelTS {
				t.Fatalf("setupSocket: kernel timestamps %v, %v", kernelTS, err)
			}
			tx := listen(t, host)
			defer tx.Close()
			txc, err := tx.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			_ = txc.Control(func(fd uintptr) {
				if netip.MustParseAddr(host).Is4() {
					err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, 7)
				} else {
					err = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, 7)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			before := time.Now()
			if _, err := tx.WriteToUDPAddrPort([]byte("x"), rx.LocalAddr().(*net.UDPAddr).AddrPort()); err != nil {
				t.Fatal(err)
			}
			_ = rx.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf, oob := make([]byte, 16), make([]byte, oobLen)
			_, oobn, _, _, err := rx.ReadMsgUDPAddrPort(buf, oob)
			after := time.Now()
			if err != nil {
				t.Fatal(err)
			}
			info := parseRxInfo(oob[:oobn])
			if info.time.Before(before) || info.time.After(after) {
				t.Fatalf("kernel timestamp %s not within [%s, %s]", info.time, before, after)
			}
			if info.ttl != 7 {
				t.Fatalf("TTL %d, want 7", info.ttl)
			}
			if info.dst != netip.MustParseAddr(host) || info.dst4 != netip.MustParseAddr(host).Is4() {
				t.Fatalf("destination %s (IPv4 info %v)", info.dst, info.dst4)
			}
		})
	}
	if info := parseRxInfo([]byte{1, 2, 3}); info.ttl != -1 || !info.time.IsZero() || info.dst.IsValid() {
		t.Fatalf("garbage control messages gave %+v", info)
	}
}

// TestWildcardReflector probes a reflector bound to a wildcard address on
// 127.0.0.2: routing alone would answer from 127.0.0.1, which the sender
// would not take for its reflector. The reply must come from the address
// probed, on an IPv4 socket and on a dual-stack IPv6 one.
func TestWildcardReflector(t *testing.T) {
	for _, bind := range []string{"0.0.0.0", "::"} {
		t.Run(bind, func(t *testing.T) {
			network := "udp4"
			if bind == "::" {
				network = "udp" // dual-stack: "udp6" would be IPv6-only
			}
			conn, err := net.ListenUDP(network, &net.UDPAddr{IP: net.ParseIP(bind)})
			if err != nil {
				t.Skipf("cannot bind %s: %v", bind, err)
			}
			defer conn.Close()
			// Packets queued before Serve sets its options come without
			// their destination: set them before any probe can arrive.
			rc, err := conn.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := setupSocket(rc, true); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { _ = NewReflector(ReflectorConfig{Log: quietLog()}).Serve(ctx, conn) }()
			target := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), uint16(conn.LocalAddr().(*net.UDPAddr).Port))
			rs := run(t, SenderConfig{Target: target, Interval: time.Millisecond, Count: 10, Timeout: time.Second})
			for i, r := range rs {
				if r.Lost {
					t.Fatalf("probe %d lost: the reply did not come from %s", i, target.Addr())
				}
			}
		})
	}
}
