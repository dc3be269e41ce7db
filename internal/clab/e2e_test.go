package clab_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sr6net/sr6/internal/clab"
	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/testutil"
	"github.com/sr6net/sr6/internal/topo"
)

var nameLine = regexp.MustCompile(`(?m)^name: .*$`)

// deployImported imports a containerlab file, renames the lab to a unique
// name, deploys it (routers get their addresses, SIDs and static underlay
// as with any sr6 topology) and registers its destruction.
func deployImported(t *testing.T, file string) (*topo.Network, string) {
	t.Helper()
	testutil.RequirePrivileged(t, "ping", "ip")
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	res, err := clab.Convert(filepath.Base(file), data)
	if err != nil {
		t.Fatal(err)
	}
	name := testutil.UniqueName("t")
	text := nameLine.ReplaceAll(res.YAML, []byte("name: "+name))
	nw, err := topo.ParseNetwork(file, text)
	if err != nil {
		t.Fatalf("imported topology: %v\n%s", err, text)
	}
	opts := lab.Options{Store: lab.Store{Dir: t.TempDir()}}
	t.Cleanup(func() {
		if err := lab.Destroy(context.Background(), name, opts); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		all, _ := nsutil.List()
		for _, ns := range all {
			if strings.HasPrefix(ns, name+".") {
				t.Errorf("namespace %s left after destroy", ns)
			}
		}
	})
	if _, err := lab.Deploy(context.Background(), nw, file, text, opts); err != nil {
		t.Fatalf("deploy: %v", err)
	}
	return nw, name
}

func run(t *testing.T, ns string, argv ...string) string {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := nsutil.Run(ns, cmd); err != nil {
		t.Fatalf("%s in %s: %v\n%s", argv, ns, err, out.String())
	}
	return out.String()
}

// ping checks that every echo request from host from to host to comes
// back, over IPv6 (the routed family of the underlay).
func ping(t *testing.T, nw *topo.Network, name, from, to string) {
	t.Helper()
	dst := nw.Node(to).Interfaces[0].Addr6.Addr().String()
	out := run(t, lab.Namespace(name, from), "ping", "-n", "-q", "-c", "5", "-i", "0.05", "-W", "1", dst)
	if !strings.Contains(out, " 5 received") {
		t.Errorf("ping %s -> %s (%s):\n%s", from, to, dst, out)
	}
}

// TestImportedFabricPings imports the fabric input (two SR Linux spines,
// two leaves, a linux host on each leaf) and pings host to host across the
// fabric; every router has its SRv6 SIDs.
func TestImportedFabricPings(t *testing.T) {
	nw, name := deployImported(t, "testdata/fabric.clab.yml")
	ping(t, nw, name, "web", "db")
	for _, r := range []string{"lf1", "sp1", "sp2", "lf2"} {
		routes := run(t, lab.Namespace(name, r), "ip", "-6", "route", "show", "table", "all")
		if !strings.Contains(routes, "seg6local action End ") {
			t.Errorf("%s has no End SID:\n%s", r, routes)
		}
	}
}

// TestImportedExtendedLab deploys the extended-format input: renamed
// interfaces (ethernet-1/1, GigabitEthernet0/0/0/1) exist under their
// Linux names, link MTUs are containerlab's, and hosts reach each other.
func TestImportedExtendedLab(t *testing.T) {
	nw, name := deployImported(t, "testdata/extended.clab.yml")
	ping(t, nw, name, "h1", "h2")
	mtu := regexp.MustCompile(` mtu (\d+) `)
	for _, tt := range []struct {
		node, iface string
		want        string
	}{
		{"spine1", "ethernet-1-1", "9500"}, // mtu: 9500
		{"leaf-1", "Ethernet1", "9500"},    // the other end of the same veth
		{"spine2", "ethernet-1-1", "1500"}, // mtu: 1500
		{"xr1", "Gi0-0-0-1", "9000"},       // no mtu: sr6's core MTU
		{"h1", "eth1", "1500"},             // no mtu: sr6's host MTU
	} {
		out := run(t, lab.Namespace(name, tt.node), "ip", "-o", "link", "show", "dev", tt.iface)
		m := mtu.FindStringSubmatch(out)
		if m == nil || m[1] != tt.want {
			t.Errorf("%s:%s: want mtu %s, got %s", tt.node, tt.iface, tt.want, out)
		}
	}
	if n := len(nw.NodesWith(topo.SRv6)); n != 6 {
		t.Errorf("%d SRv6 nodes, want 6", n)
	}
}
