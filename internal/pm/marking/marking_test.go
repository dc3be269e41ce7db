package marking

import (
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/testutil"
)

func TestMasks(t *testing.T) {
	tests := []struct {
		fn   func(int) (uint32, error)
		n    int
		want uint32
		err  bool
	}{
		{TrafficClassBit, 0, 0x00100000, false},
		{TrafficClassBit, 7, 0x08000000, false},
		{TrafficClassBit, 8, 0, true},
		{FlowLabelBit, 0, 1, false},
		{FlowLabelBit, 19, 0x80000, false},
		{FlowLabelBit, 20, 0, true},
	}
	for _, tt := range tests {
		got, err := tt.fn(tt.n)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("bit %d: %#x, %v; want %#x, error %v", tt.n, got, err, tt.want, tt.err)
		}
	}
}

func TestSeglistLayout(t *testing.T) {
	a, b := netip.MustParseAddr("fc00:0:2::1"), netip.MustParseAddr("fc00:0:3::d6")
	l, err := seglist([]netip.Addr{a, b})
	if err != nil {
		t.Fatal(err)
	}
	// Wire order: Segment List[0] is the last segment.
	if l.N != 2 || netip.AddrFrom16(l.Segs[0]) != b || netip.AddrFrom16(l.Segs[1]) != a {
		t.Errorf("seglist = %d %v %v", l.N, netip.AddrFrom16(l.Segs[0]), netip.AddrFrom16(l.Segs[1]))
	}
	for _, bad := range [][]netip.Addr{nil, make([]netip.Addr, 9), {netip.MustParseAddr("10.0.0.1")}} {
		if _, err := seglist(bad); err == nil {
			t.Errorf("seglist(%v) accepted", bad)
		}
	}
}

type chain struct {
	t     *testing.T
	names map[string]string
}

func (c *chain) ip(node string, args ...string) {
	c.t.Helper()
	full := append([]string{"-n", c.names[node]}, args...)
	if out, err := exec.Command("ip", full...).CombinedOutput(); err != nil {
		c.t.Fatalf("ip %s: %v\n%s", strings.Join(full, " "), err, out)
	}
}

func (c *chain) run(node string, argv ...string) string {
	c.t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	out, err := func() ([]byte, error) {
		var o []byte
		err := nsutil.Do(c.names[node], func() error {
			var e error
			o, e = cmd.CombinedOutput()
			return e
		})
		return o, err
	}()
	if err != nil {
		c.t.Fatalf("%v in %s: %v\n%s", argv, node, err, out)
	}
	return string(out)
}

// newChain builds headend a -- transit m -- tail b in namespaces, with a
// one-segment H.Encaps policy at a for 2001:db8::/64 to b's SID, and a
// random-loss rule with a drop counter on m.
func newChain(t *testing.T) *chain {
	c := &chain{t: t, names: map[string]string{}}
	for _, n := range []string{"a", "m", "b"} {
		name := testutil.UniqueName("pm" + n)
		c.names[n] = name
		t.Cleanup(func() { _ = nsutil.Delete(name) })
		if err := nsutil.Create(name); err != nil {
			t.Fatal(err)
		}
		c.ip(n, "link", "set", "lo", "up")
	}
	c.ip("a", "link", "add", "a0", "type", "veth", "peer", "name", "m0", "netns", c.names["m"])
	c.ip("m", "link", "add", "m1", "type", "veth", "peer", "name", "b0", "netns", c.names["b"])
	for _, x := range []struct{ node, dev, addr string }{
		{"a", "a0", "fd00:1::1/64"}, {"m", "m0", "fd00:1::2/64"}, {"m", "m1", "fd00:2::1/64"}, {"b", "b0", "fd00:2::2/64"},
	} {
		c.ip(x.node, "addr", "add", x.addr, "dev", x.dev, "nodad")
		c.ip(x.node, "link", "set", x.dev, "up")
	}
	c.run("m", "sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1")
	c.ip("a", "-6", "route", "add", "fc00:b::/48", "via", "fd00:1::2")
	c.ip("m", "-6", "route", "add", "fc00:b::/48", "via", "fd00:2::2")
	c.ip("a", "-6", "route", "add", "2001:db8::/64", "encap", "seg6", "mode", "encap", "segs", "fc00:b::d6", "dev", "a0")
	// Resolve neighbours first: a packet waiting for one between the two
	// counters and dropped there would be loss nobody counted.
	c.reach("a", "fd00:1::2")
	c.reach("m", "fd00:2::2")
	nft := "add table inet pmtest\n" +
		"add chain inet pmtest lossy { type filter hook forward priority 0; }\n" +
		"add rule inet pmtest lossy ip6 daddr fc00:b::/48 numgen random mod 100 < 20 counter drop\n"
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(nft)
	if err := nsutil.Do(c.names["m"], func() error {
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}); err != nil {
		t.Fatalf("nft: %v", err)
	}
	return c
}

// reach pings addr from node until it answers: fresh veths may take a
// moment to report carrier.
func (c *chain) reach(node, addr string) {
	c.t.Helper()
	for i := 0; ; i++ {
		err := nsutil.Do(c.names[node], func() error {
			return exec.Command("ping", "-6", "-c", "1", "-W", "1", addr).Run()
		})
		if err == nil {
			return
		}
		if i == 20 {
			c.t.Fatalf("%s cannot reach %s: %v", node, addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (c *chain) drops() uint64 {
	c.t.Helper()
	out := c.run("m", "nft", "list", "chain", "inet", "pmtest", "lossy")
	m := regexp.MustCompile(`counter packets (\d+)`).FindStringSubmatch(out)
	if m == nil {
		c.t.Fatalf("no drop counter in:\n%s", out)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

func (c *chain) send(n int) {
	c.t.Helper()
	err := nsutil.Do(c.names["a"], func() error {
		conn, err := net.Dial("udp6", "[2001:db8::1]:9")
		if err != nil {
			return err
		}
		defer conn.Close()
		payload := make([]byte, 100)
		for i := 0; i < n; i++ {
			if _, err := conn.Write(payload); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		c.t.Fatal(err)
	}
}

// attach loads the programs and attaches them in node's namespace.
func (c *chain) attach(node, dev string, role Role) *Programs {
	c.t.Helper()
	p, err := Load()
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { p.Close() })
	err = nsutil.Do(c.names[node], func() error {
		ifc, err := net.InterfaceByName(dev)
		if err != nil {
			return err
		}
		return p.Attach(ifc.Index, role)
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return p
}

// TestLossIsExact colors and counts a policy's packets at the headend and
// the tail across a transit node that drops 20 % at random: per color, the
// headend's count minus the tail's is exactly the drop counter's increase.
func TestLossIsExact(t *testing.T) {
	testutil.RequirePrivileged(t, "ip", "nft", "ping")
	c := newChain(t)
	head := c.attach("a", "a0", Headend)
	tail := c.attach("b", "b0", Tail)
	mask, _ := TrafficClassBit(0)
	segs := []netip.Addr{netip.MustParseAddr("fc00:b::d6")}
	for _, p := range []*Programs{head, tail} {
		if err := p.Configure(mask, 1); err != nil {
			t.Fatal(err)
		}
		if err := p.Register(segs); err != nil {
			t.Fatal(err)
		}
	}
	read := func(p *Programs, color int) Counter {
		t.Helper()
		v, err := p.Read(segs, color)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := c.drops()
	c.send(1000)
	sent, got := read(head, 1), read(tail, 1)
	dropped := c.drops() - before
	if sent.Packets != 1000 {
		t.Errorf("headend counted %d packets in color 1, want 1000", sent.Packets)
	}
	if dropped == 0 || sent.Packets-got.Packets != dropped {
		t.Errorf("color 1: headend %d, tail %d, transit dropped %d: loss must equal drops, exactly", sent.Packets, got.Packets, dropped)
	}
	if sent.Bytes != got.Bytes+dropped*(sent.Bytes/sent.Packets) {
		t.Errorf("bytes: headend %d, tail %d", sent.Bytes, got.Bytes)
	}
	if n := read(tail, 0).Packets; n != 0 {
		t.Errorf("tail counted %d packets in color 0 while the headend marked 1", n)
	}

	// The next period: color 0, counted apart.
	if err := head.Configure(mask, 0); err != nil {
		t.Fatal(err)
	}
	before = c.drops()
	c.send(500)
	sent0, got0 := read(head, 0), read(tail, 0)
	dropped = c.drops() - before
	if sent0.Packets != 500 || sent0.Packets-got0.Packets != dropped {
		t.Errorf("color 0: headend %d, tail %d, dropped %d", sent0.Packets, got0.Packets, dropped)
	}
	if read(tail, 1) != got {
		t.Errorf("color 1 moved while the headend marked 0")
	}
	// Unregistered lists are neither marked nor counted.
	if err := head.Unregister(segs); err != nil {
		t.Fatal(err)
	}
	c.send(100)
	if v := read(head, 0); v.Packets != 0 {
		t.Errorf("after unregister the headend still counts: %+v", v)
	}
}
