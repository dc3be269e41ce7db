package lab_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/testutil"
)

// These tests drive the runtime operations (link set, impair, capture,
// stats) on real labs, through the Go API the CLI and the web UI call.

// interfaceState returns what Inspect reports of node:iface.
func (l *testLab) interfaceState(node, iface string) lab.InterfaceStatus {
	l.t.Helper()
	in, err := lab.Inspect(context.Background(), l.name, l.opts)
	if err != nil {
		l.t.Fatal(err)
	}
	for _, n := range in.Nodes {
		for _, i := range n.Interfaces {
			if n.Name == node && i.Name == iface {
				return i
			}
		}
	}
	l.t.Fatalf("inspect has no %s:%s", node, iface)
	return lab.InterfaceStatus{}
}

// policyPath is the path the controller reports for policy name.
func policyPath(c *restv1.Client, name string) (string, error) {
	v, err := c.Policy(context.Background(), name)
	if err != nil {
		return "", err
	}
	return strings.Join(v.Status.Path, ">"), nil
}

// startCapture captures node:iface with filter into a file through
// lab.Capture; the returned function stops it and returns what `tcpdump
// -r` reads back, one line per packet, and the summary.
func (l *testLab) startCapture(endpoint, filter string) func() ([]string, *restv1.CaptureSummary) {
	l.t.Helper()
	path := filepath.Join(l.t.TempDir(), "capture.pcap")
	f, err := os.Create(path)
	if err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	type result struct {
		sum *restv1.CaptureSummary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := lab.Capture(ctx, l.name, endpoint, lab.CaptureOptions{Filter: filter, Ready: func() { close(ready) }}, f, l.opts)
		done <- result{sum, err}
	}()
	select {
	case <-ready:
	case r := <-done:
		cancel()
		l.t.Fatalf("capture ended before it was ready: %v", r.err)
	case <-time.After(10 * time.Second):
		cancel()
		l.t.Fatal("capture not ready within 10s")
	}
	var stopped *result
	stop := func() ([]string, *restv1.CaptureSummary) {
		l.t.Helper()
		if stopped == nil {
			time.Sleep(200 * time.Millisecond) // the last replies
			cancel()
			r := <-done
			stopped = &r
			f.Close()
		}
		if stopped.err != nil {
			l.t.Fatalf("capture: %v", stopped.err)
		}
		return readPcap(l.t, path, nil), stopped.sum
	}
	l.t.Cleanup(func() {
		if stopped == nil {
			cancel()
			<-done
			f.Close()
		}
	})
	return stop
}

// readPcap decodes a pcap file (or, with path "-", data) with tcpdump,
// which refuses a torn or truncated file.
func readPcap(t *testing.T, path string, data []byte) []string {
	t.Helper()
	cmd := exec.Command("tcpdump", "-nn", "-r", path)
	cmd.Stdin = bytes.NewReader(data)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || strings.Contains(stderr.String(), "truncated") {
		t.Fatalf("tcpdump -r %s: %v: %s", path, err, stderr.String())
	}
	var lines []string
	for _, s := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if s != "" {
			lines = append(lines, s)
		}
	}
	return lines
}

func countContaining(lines []string, subs ...string) int {
	n := 0
	for _, line := range lines {
		all := true
		for _, s := range subs {
			all = all && strings.Contains(line, s)
		}
		if all {
			n++
		}
	}
	return n
}

// TestLinkSetReroutes cuts the link a policy uses with lab.SetLink (both
// ends down): the controller moves the policy onto r1>r2>r3, and the
// traffic (an SRH through r2, captured with lab.Capture) flows there; up
// again, the policy comes back onto the direct link.
func TestLinkSetReroutes(t *testing.T) {
	t.Parallel()
	l := newLab(t, "triangle.yaml", nil)
	c := l.withController()
	l.addPolicy(c, restv1.Policy{Name: "fwd", From: "h1", To: "h2"})
	l.addPolicy(c, restv1.Policy{Name: "back", From: "h2", To: "h1"})
	eventually(t, 10*time.Second, "IPv4 over the direct path", func() error {
		if got := l.ping("h1", "h2", true, 1); got != 1 {
			return errors.New("no reply")
		}
		return nil
	})
	ctx := context.Background()
	cut := time.Now()
	res, err := lab.SetLink(ctx, l.name, "r1:eth3", false, l.opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("link set down took %s", time.Since(cut).Round(time.Microsecond))
	if res.Endpoints != [2]string{"r1:eth3", "r3:eth3"} || res.State != restv1.LinkDown || res.Rerouting != restv1.RerouteController {
		t.Errorf("link set down: %+v", res)
	}
	// Both ends are down, as when a cable is cut (not only the far end's
	// carrier).
	for _, ep := range [][2]string{{"r1", "eth3"}, {"r3", "eth3"}} {
		if s := l.interfaceState(ep[0], ep[1]).State; s != "down" {
			t.Errorf("%s:%s is %s, want down", ep[0], ep[1], s)
		}
	}
	eventually(t, 10*time.Second, "rerouted over r2", func() error {
		if got, err := policyPath(c, "fwd"); err != nil || got != "r1>r2>r3" {
			return fmt.Errorf("path %s (%v)", got, err)
		}
		return nil
	})
	t.Logf("policy re-routed %s after the cut (polled every 50 ms)", time.Since(cut).Round(time.Millisecond))
	viaR2 := l.startCapture("r2:eth1", "ip6 and ip6[6] == 43")
	eventually(t, 10*time.Second, "IPv4 after the cut", func() error {
		if got := l.ping("h1", "h2", true, 3); got != 3 {
			return fmt.Errorf("%d/3 replies", got)
		}
		return nil
	})
	lines, sum := viaR2()
	// tcpdump prints an SRv6 packet as "IP6 ... > ...: RT6 (... type=4
	// ...) IP 10... > 10...: ICMP echo request".
	if n := countContaining(lines, "RT6", "ICMP echo request"); n < 3 {
		t.Errorf("r2 carried %d echo requests in an SRH after the cut, want at least 3:\n%s", n, strings.Join(lines, "\n"))
	}
	if sum.Packets != uint64(len(lines)) || sum.Node != "r2" || sum.Interface != "eth1" {
		t.Errorf("capture summary %+v for %d packets read back", sum, len(lines))
	}
	st, err := l.opts.Store.Load(l.name)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(st.LinksDown, []string{"r1:eth3"}) {
		t.Errorf("state links_down %v, want [r1:eth3]", st.LinksDown)
	}

	// Up again, named by its other end.
	mend := time.Now()
	if _, err := lab.SetLink(ctx, l.name, "r3:eth3", true, l.opts); err != nil {
		t.Fatal(err)
	}
	t.Logf("link set up took %s (carrier at both ends)", time.Since(mend).Round(time.Microsecond))
	eventually(t, 10*time.Second, "back on the direct path", func() error {
		if got, err := policyPath(c, "fwd"); err != nil || got != "r1>r3" {
			return fmt.Errorf("path %s (%v)", got, err)
		}
		return nil
	})
	eventually(t, 10*time.Second, "IPv4 after the repair", func() error {
		if got := l.ping("h1", "h2", true, 3); got != 3 {
			return fmt.Errorf("%d/3 replies", got)
		}
		return nil
	})
	if st, _ := l.opts.Store.Load(l.name); len(st.LinksDown) != 0 {
		t.Errorf("state links_down %v after up, want none", st.LinksDown)
	}
}

// TestLinkSetStatic: with static routing and no controller nothing
// re-routes (the result says so, traffic stops), and up again the static
// routes the kernel removed are back. Bad input changes nothing.
func TestLinkSetStatic(t *testing.T) {
	t.Parallel()
	l := newLab(t, "triangle.yaml", nil)
	l.deploy()
	ctx := context.Background()
	for _, tc := range []struct{ endpoint, want string }{
		{"r9:eth1", "lab " + l.name + " has no node r9 (its nodes: r1, r2, r3, h1, h2)"},
		{"r1:eth7", "node r1 of lab " + l.name + " has no interface eth7 (its interfaces: eth0, eth1, eth3)"},
		{"r1:lo", "interface name lo is reserved"},
		{"r1", "is not an endpoint"},
	} {
		if _, err := lab.SetLink(ctx, l.name, tc.endpoint, false, l.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("link set %s: %v, want an error with %q", tc.endpoint, err, tc.want)
		}
	}
	if got := l.ping("h1", "h2", false, 2); got != 2 {
		t.Fatalf("IPv6 ping before: %d/2", got)
	}
	res, err := lab.SetLink(ctx, l.name, "r3:eth3", false, l.opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rerouting != restv1.RerouteNone || !strings.Contains(res.Note, "nothing re-routes") {
		t.Errorf("static lab without a controller: %+v, want rerouting none and a note saying so", res)
	}
	if got := l.ping("h1", "h2", false, 2); got != 0 {
		t.Errorf("IPv6 ping over a cut link without rerouting: %d/2, want 0", got)
	}
	// Twice is no error and changes nothing.
	if _, err := lab.SetLink(ctx, l.name, "r1:eth3", false, l.opts); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.SetLink(ctx, l.name, "r1:eth3", true, l.opts); err != nil {
		t.Fatal(err)
	}
	if got := l.ping("h1", "h2", false, 3); got != 3 {
		t.Errorf("IPv6 ping after up: %d/3", got)
	}
	// The host's own link: its default route comes back too.
	if _, err := lab.SetLink(ctx, l.name, "h1:eth0", false, l.opts); err != nil {
		t.Fatal(err)
	}
	if _, err := lab.SetLink(ctx, l.name, "h1:eth0", true, l.opts); err != nil {
		t.Fatal(err)
	}
	if got := l.ping("h1", "h2", false, 3); got != 3 {
		t.Errorf("IPv6 ping after h1:eth0 down and up: %d/3", got)
	}
}

func nftTable(t *testing.T, l *testLab, node string) string {
	t.Helper()
	out, err := l.run(node, "nft", "list", "table", "netdev", lab.ImpairTable)
	if err != nil && !strings.Contains(out, "No such file") {
		t.Fatalf("nft on %s: %v\n%s", node, err, out)
	}
	return out
}

func qdiscs(t *testing.T, l *testLab, node, iface string) string {
	t.Helper()
	out, err := l.run(node, "tc", "qdisc", "show", "dev", iface)
	if err != nil {
		t.Fatalf("tc on %s: %v\n%s", node, err, out)
	}
	return out
}

// TestImpairRuntime sets, replaces and clears loss and rate at runtime,
// checks them on the wire (pings lost; the rate measured by lab
// WatchStats under iperf3), in the kernel (one rule, one qdisc) and in
// inspect, and that bad input and a kernel without netem change nothing.
func TestImpairRuntime(t *testing.T) {
	t.Parallel()
	testutil.RequirePrivileged(t, "iperf3", "nft", "tc")
	l := newLab(t, "line3.yaml", func(s string) string {
		return strings.Replace(s, "  - endpoints: [r2:eth2, r3:eth1]", "  - endpoints: [r2:eth2, r3:eth1]\n    rate: 50mbit", 1)
	})
	l.deploy()
	ctx := context.Background()
	if imp := l.interfaceState("r2", "eth2").Impairment; imp == nil || imp.RateBps != 50e6 || imp.Source != restv1.ImpairTopology {
		t.Errorf("inspect r2:eth2 before: %+v, want the topology's 50mbit", imp)
	}

	// Bad input: refused, nothing changed.
	before, err := os.ReadFile(l.layout().State())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		endpoint string
		imp      restv1.Impairment
		want     string
	}{
		{"r1:eth1", restv1.Impairment{LossPercent: 140}, "loss 140% must be a percentage from 0% to 100%"},
		{"r1:eth1", restv1.Impairment{JitterUs: 1000}, "jitter needs a delay"},
		{"r1:eth1", restv1.Impairment{RateBps: 10}, "rate 10 bit/s is out of range"},
		{"r7:eth1", restv1.Impairment{LossPercent: 5}, "has no node r7"},
		{"r1:eth2", restv1.Impairment{LossPercent: 5}, "has no interface eth2 (its interfaces: eth0, eth1)"},
	} {
		if _, err := lab.Impair(ctx, l.name, tc.endpoint, tc.imp, l.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("impair %s %+v: %v, want %q", tc.endpoint, tc.imp, err, tc.want)
		}
	}
	if after, _ := os.ReadFile(l.layout().State()); !bytes.Equal(before, after) {
		t.Errorf("refused impairments changed the state file")
	}
	if out := nftTable(t, l, "r1"); strings.Contains(out, "numgen") {
		t.Errorf("refused impairments left a loss rule on r1:\n%s", out)
	}

	// Neighbours resolved first: at 50 % loss on r1:eth1's egress, half of
	// r1's neighbour solicitations and advertisements to r2 are lost too,
	// and a failed resolution drops more than the rule does (80 of 100
	// lost was seen).
	if got := l.ping("h1", "h2", false, 3); got == 0 {
		t.Fatalf("h1 cannot ping h2 before any impairment")
	}
	// Loss, applied twice: one rule.
	for range 2 {
		if _, err := lab.Impair(ctx, l.name, "r1:eth1", restv1.Impairment{LossPercent: 50}, l.opts); err != nil {
			t.Fatal(err)
		}
	}
	if out := nftTable(t, l, "r1"); strings.Count(out, "numgen random mod 10000 < 5000") != 1 || strings.Count(out, "numgen") != 1 {
		t.Errorf("r1 after impairing twice, want exactly one 50%% rule:\n%s", out)
	}
	const sent = 100
	// 50 % of the requests h1 sends r1 -> r2 (one direction) are lost.
	if lost := sent - l.ping("h1", "h2", false, sent); lost < sent*30/100 || lost > sent*70/100 {
		t.Errorf("lost %d of %d pings at 50%% one way, want 30-70%%", lost, sent)
	}
	if imp := l.interfaceState("r1", "eth1").Impairment; imp == nil || imp.LossPercent != 50 || imp.Source != restv1.ImpairRuntime {
		t.Errorf("inspect r1:eth1: %+v, want runtime loss 50%%", imp)
	}
	if imp := l.interfaceState("r2", "eth1").Impairment; imp != nil {
		t.Errorf("inspect r2:eth1 (the peer, not impaired): %+v", imp)
	}

	// Delay needs netem: where the kernel lacks it, a clear error and the
	// loss stays as it was.
	stateBefore, _ := os.ReadFile(l.layout().State())
	qBefore := qdiscs(t, l, "r1", "eth1")
	_, err = lab.Impair(ctx, l.name, "r1:eth1", restv1.Impairment{DelayUs: 10000, JitterUs: 1000, RateBps: 10e6}, l.opts)
	switch {
	case errors.Is(err, lab.ErrNoNetem):
		if !strings.Contains(err.Error(), "CONFIG_NET_SCH_NETEM") || !strings.Contains(err.Error(), "nothing was changed") {
			t.Errorf("no netem: %v", err)
		}
		if out := nftTable(t, l, "r1"); !strings.Contains(out, "< 5000") {
			t.Errorf("a refused delay removed the loss:\n%s", out)
		}
		if q := qdiscs(t, l, "r1", "eth1"); q != qBefore {
			t.Errorf("a refused delay changed the qdiscs: %q, was %q", q, qBefore)
		}
		if after, _ := os.ReadFile(l.layout().State()); !bytes.Equal(stateBefore, after) {
			t.Errorf("a refused delay changed the state file")
		}
	case err != nil:
		t.Fatalf("delay: %v", err)
	default:
		// A kernel with netem: the delay is there, the loss is gone.
		if q := qdiscs(t, l, "r1", "eth1"); !strings.Contains(q, "netem") || !strings.Contains(q, "delay 10ms") {
			t.Errorf("r1:eth1 qdiscs after a delay: %s", q)
		}
		if out := nftTable(t, l, "r1"); strings.Contains(out, "numgen") {
			t.Errorf("delay alone kept the loss:\n%s", out)
		}
	}

	// Clear: no rule, no qdisc, no loss.
	if _, err := lab.Impair(ctx, l.name, "r1:eth1", restv1.Impairment{}, l.opts); err != nil {
		t.Fatal(err)
	}
	if out := nftTable(t, l, "r1"); strings.Contains(out, "numgen") {
		t.Errorf("loss rule left after clear:\n%s", out)
	}
	if q := qdiscs(t, l, "r1", "eth1"); strings.Contains(q, "tbf") || strings.Contains(q, "netem") {
		t.Errorf("qdisc left after clear: %s", q)
	}
	if got := l.ping("h1", "h2", false, 20); got != 20 {
		t.Errorf("ping after clear: %d/20", got)
	}
	if imp := l.interfaceState("r1", "eth1").Impairment; imp != nil {
		t.Errorf("inspect r1:eth1 after clear: %+v", imp)
	}

	// The topology's 50mbit on r2:eth2 replaced by 10mbit at runtime, and
	// measured by WatchStats while iperf3 fills the link.
	for range 2 {
		if _, err := lab.Impair(ctx, l.name, "r2:eth2", restv1.Impairment{RateBps: 10e6}, l.opts); err != nil {
			t.Fatal(err)
		}
	}
	if q := qdiscs(t, l, "r2", "eth2"); strings.Count(q, "qdisc tbf") != 1 || !strings.Contains(q, "rate 10Mbit") {
		t.Errorf("r2:eth2 qdiscs, want one tbf at 10Mbit: %s", q)
	}
	server := exec.Command("iperf3", "-s", "-1", "-B", l.nw.Node("r3").Loopback.String())
	if err := nsutil.Start(l.ns("r3"), server); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = server.Process.Kill(); _ = server.Wait() }()
	time.Sleep(300 * time.Millisecond)
	client := exec.Command("iperf3", "-c", l.nw.Node("r3").Loopback.String(), "-t", "5",
		"-B", l.nw.Node("r2").Loopback.String())
	if err := nsutil.Start(l.ns("r2"), client); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = client.Process.Kill(); _ = client.Wait() }()
	time.Sleep(1500 * time.Millisecond) // past TCP's slow start
	var samples []restv1.StatsSample
	err = lab.WatchStats(ctx, l.name, lab.StatsOptions{Target: "r2:eth2", Count: 2}, l.opts, func(s restv1.StatsSample) error {
		samples = append(samples, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range samples {
		if len(s.Interfaces) != 1 || s.Interfaces[0].Node != "r2" || s.Interfaces[0].Interface != "eth2" {
			t.Fatalf("sample of r2:eth2: %+v", s)
		}
		i := s.Interfaces[0]
		t.Logf("r2:eth2 over %.3fs: tx %.2f Mbit/s %.0f pkt/s, rx %.2f Mbit/s", s.IntervalS, i.TxBps/1e6, i.TxPps, i.RxBps/1e6)
		if i.TxBps < 8e6 || i.TxBps > 11e6 {
			t.Errorf("tx rate of r2:eth2 limited to 10mbit: %.2f Mbit/s, want 8-11", i.TxBps/1e6)
		}
		// Core links are jumbo (9000 bytes): 10 Mbit/s is ~140 pkt/s.
		if i.TxPps < 100 || i.RxPps < 20 {
			t.Errorf("packet rates of r2:eth2: tx %.0f rx %.0f pkt/s", i.TxPps, i.RxPps)
		}
		if s.IntervalS < 0.9 || s.IntervalS > 1.5 {
			t.Errorf("sample interval %.3fs, want about 1s", s.IntervalS)
		}
	}
	if imp := l.interfaceState("r3", "eth1").Impairment; imp == nil || imp.RateBps != 50e6 || imp.Source != restv1.ImpairTopology {
		t.Errorf("inspect r3:eth1 (the peer keeps the topology's rate): %+v", imp)
	}
	// Cleared, the topology's impairment is not shown any more: none is
	// in force.
	if _, err := lab.Impair(ctx, l.name, "r2:eth2", restv1.Impairment{}, l.opts); err != nil {
		t.Fatal(err)
	}
	if imp := l.interfaceState("r2", "eth2").Impairment; imp != nil {
		t.Errorf("inspect r2:eth2 after clear: %+v", imp)
	}
	// The same topology deployed again keeps the runtime changes.
	l.redeploy()
	if q := qdiscs(t, l, "r2", "eth2"); strings.Contains(q, "tbf") {
		t.Errorf("a deploy of the same topology put the topology's rate back on r2:eth2: %s", q)
	}
}

// TestCaptureCLI runs `sr6 lab capture -w FILE` as a user would, stops it
// with SIGINT and reads the file back; the Go API's stream to a pipe
// reads back with `tcpdump -r -`.
func TestCaptureCLI(t *testing.T) {
	t.Parallel()
	l := newLab(t, "line3.yaml", nil)
	l.deploy()
	path := filepath.Join(t.TempDir(), "h1.pcap")
	cmd := exec.Command(sr6Binary, "--state-dir", l.opts.Store.Dir, "lab", "capture", l.name, "h1:eth0", "-w", path,
		"icmp6", "and", "ip6[40]", "==", "128")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			t.Log("sr6 lab capture: " + sc.Text())
			if strings.HasPrefix(sc.Text(), "capturing on") {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		t.Fatal("sr6 lab capture not ready within 10s")
	}
	if got := l.ping("h1", "h2", false, 5); got != 5 {
		t.Fatalf("ping: %d/5", got)
	}
	time.Sleep(100 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sr6 lab capture after SIGINT: %v (a clean stop exits 0)", err)
	}
	lines := readPcap(t, path, nil)
	if n := countContaining(lines, "ICMP6, echo request"); n != 5 || len(lines) != 5 {
		t.Errorf("capture file holds %d echo requests in %d packets, want 5 and 5:\n%s", n, len(lines), strings.Join(lines, "\n"))
	}
	if !regexp.MustCompile(`captured 5 packets on h1:eth0 of lab `).MatchString(stdout.String()) {
		t.Errorf("summary %q", stdout.String())
	}

	// The stream, as `| tcpdump -r -` sees it, stopped after 3 packets.
	var stream bytes.Buffer
	done := make(chan error, 1)
	readyAPI := make(chan struct{})
	go func() {
		_, err := lab.Capture(context.Background(), l.name, "r2:eth1", lab.CaptureOptions{Filter: "icmp6 and ip6[40] == 129", Count: 3,
			Ready: func() { close(readyAPI) }}, &stream, l.opts)
		done <- err
	}()
	select {
	case <-readyAPI:
	case err := <-done:
		t.Fatalf("capture: %v", err)
	}
	l.ping("h1", "h2", false, 5)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if lines := readPcap(t, "-", stream.Bytes()); countContaining(lines, "ICMP6, echo reply") != 3 {
		t.Errorf("stream read back with tcpdump -r -: %q, want 3 echo replies", lines)
	}
	// A capture refused at the start leaves no file behind.
	refused := filepath.Join(t.TempDir(), "none.pcap")
	out, err := exec.Command(sr6Binary, "--state-dir", l.opts.Store.Dir, "lab", "capture", l.name, "h1:eth9", "-w", refused).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "has no interface eth9 (its interfaces: eth0)") {
		t.Errorf("capture on h1:eth9: %v: %s", err, out)
	}
	if _, err := os.Stat(refused); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused capture left %s: %v", refused, err)
	}
	// A filter tcpdump cannot compile is an error that says so.
	if _, err := lab.Capture(context.Background(), l.name, "r2:eth1", lab.CaptureOptions{Filter: "ip6[["}, &stream, l.opts); err == nil ||
		!strings.Contains(err.Error(), "filter") {
		t.Errorf("bad filter: %v", err)
	}
}

// TestLinkSetISIS: without a controller, IS-IS re-routes the underlay
// around a link set down and back onto it when it is up.
func TestLinkSetISIS(t *testing.T) {
	t.Parallel()
	testutil.RequirePrivileged(t, lab.FRRDir+"/zebra", lab.FRRDir+"/isisd")
	l := newLab(t, "triangle.yaml", func(s string) string {
		return strings.Replace(s, "nodes:", "routing: isis\nnodes:", 1)
	})
	l.opts.Binary = sr6Binary
	l.deploy()
	r2 := l.nw.Node("r2").Loopback.String()
	viaDirect := func() error {
		out, err := l.run("r1", "ip", "-6", "route", "get", l.hostAddr("h2", false))
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		if !strings.Contains(out, "dev eth3") {
			return fmt.Errorf("r1 routes h2 %s", strings.TrimSpace(out))
		}
		return nil
	}
	eventually(t, 30*time.Second, "r1 routes h2 over the direct link", viaDirect)
	res, err := lab.SetLink(context.Background(), l.name, "r1:eth3", false, l.opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Rerouting != restv1.RerouteISIS {
		t.Errorf("IS-IS lab without a controller: %+v", res)
	}
	eventually(t, 30*time.Second, "IS-IS re-routed h2 through r2", func() error {
		out, _ := l.run("r1", "ip", "-6", "route", "get", l.hostAddr("h2", false))
		if !strings.Contains(out, "dev eth1") {
			return fmt.Errorf("r1 routes h2 %s (r2 is %s)", strings.TrimSpace(out), r2)
		}
		if got := l.ping("h1", "h2", false, 2); got != 2 {
			return fmt.Errorf("ping %d/2", got)
		}
		return nil
	})
	if _, err := lab.SetLink(context.Background(), l.name, "r1:eth3", true, l.opts); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "IS-IS back on the direct link", viaDirect)
	if got := l.ping("h1", "h2", false, 2); got != 2 {
		t.Errorf("ping after up: %d/2", got)
	}
}
