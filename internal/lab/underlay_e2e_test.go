package lab_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sr6net/sr6/internal/gen"
	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/testutil"
	"github.com/sr6net/sr6/internal/topo"
	"github.com/sr6net/sr6/internal/underlay"
)

// newGenLab is newLab for a generated topology.
func newGenLab(t *testing.T, o gen.Options) *testLab {
	t.Helper()
	testutil.RequirePrivileged(t, "ping", "tcpdump", "ip")
	o.Name = testutil.UniqueName("t")
	text, err := gen.YAML(o)
	if err != nil {
		t.Fatal(err)
	}
	nw, err := topo.ParseNetwork("gen.yaml", text)
	if err != nil {
		t.Fatalf("topology: %v", err)
	}
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	l := &testLab{t: t, name: o.Name, nw: nw, data: text,
		opts: lab.Options{Store: lab.Store{Dir: dir}, Progress: &testWriter{t: t}}}
	t.Cleanup(func() {
		if err := lab.Destroy(t.Context(), o.Name, l.opts); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		if left := namespacesOf(o.Name); len(left) > 0 {
			t.Errorf("namespaces left after destroy: %v", left)
		}
	})
	return l
}

// TestCompressedStaticUnderlay deploys a 5x5 grid with the compressed
// static underlay (no agents, no controller) and checks that the kernel
// holds exactly the compressed tables, far fewer routes than one per
// destination, that every router's loopback answers a ping from a corner,
// and that h1 (on r1) reaches h2 (on r25) through End SIDs: encapsulated at
// r1 towards r5's End SID, then r25's End.DT6, seen with its SRH at r5.
func TestCompressedStaticUnderlay(t *testing.T) {
	t.Parallel()
	l := newGenLab(t, gen.Options{Shape: "grid", Rows: 5, Cols: 5, Hosts: 1})
	l.deploy()
	static := underlay.Static(l.nw)
	// One route per destination would be 24 loopbacks + 24 locators +
	// about 40 links, per router.
	for _, r := range l.nw.NodesWith(topo.Underlay) {
		via := 0
		for _, line := range l.ownedRoutes(r.Name) {
			if strings.Contains(line, " via ") {
				via++
			}
		}
		if via != len(static[r.Name]) || via > 20 {
			t.Errorf("%s has %d sr6 next-hop routes in the kernel, its compressed table %d (want at most 20)",
				r.Name, via, len(static[r.Name]))
		}
	}
	for _, r := range l.nw.NodesWith(topo.Underlay) {
		if out, err := l.run("r1", "ping", "-n", "-c", "1", "-W", "2", r.Loopback.String()); err != nil {
			t.Errorf("ping %s (%s) from r1: %v\n%s", r.Name, r.Loopback, err, out)
		}
	}

	// Source routing without a controller: h1's traffic to h2 through r5.
	r5, r25 := l.nw.Node("r5"), l.nw.Node("r25")
	h1, h2 := l.nw.Node("h1"), l.nw.Node("h2")
	steer := func(node string, dst *topo.Node, segs ...string) {
		t.Helper()
		argv := []string{"ip", "-6", "route", "replace", dst.Interfaces[0].Link.Subnet6.String(),
			"encap", "seg6", "mode", "encap", "segs", strings.Join(segs, ","), "dev", "sr6"}
		if out, err := l.run(node, argv...); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(argv, " "), err, out)
		}
	}
	steer("r1", h2, r5.SIDs.End.String(), r25.SIDs.DT6.String())
	steer("r25", h1, r5.SIDs.End.String(), l.nw.Node("r1").SIDs.DT6.String())
	var in string // r5's interface towards r4: the only way in from r1 on a shortest path
	for _, ifc := range r5.Interfaces {
		if ifc.Peer.Node.Name == "r4" {
			in = ifc.Name
		}
	}
	seen := l.capture("r5", in, "ip6 and ip6[6] == 43")
	const n = 5
	if got := l.ping("h1", "h2", false, n); got != n {
		t.Fatalf("h1 -> h2 through r5's End SID: %d/%d replies", got, n)
	}
	srh := 0
	for _, line := range seen() {
		if strings.Contains(line, "> "+r5.SIDs.End.String()+": RT6") {
			srh++
		}
	}
	if srh < n {
		t.Errorf("r5 saw %d packets with an SRH to its End SID on %s, want %d", srh, in, n)
	}
	t.Logf("r5 saw %d SRv6 packets to its End SID", srh)
}
