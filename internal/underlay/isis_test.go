package underlay

import (
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sr6net/sr6/internal/topo"
)

func loadExample(t *testing.T, name string) *topo.Network {
	t.Helper()
	nw, err := topo.LoadNetwork(filepath.Join("..", "..", "examples", name))
	if err != nil {
		t.Fatalf("load %s: %v", name, err)
	}
	return nw
}

func TestNET(t *testing.T) {
	tests := []struct {
		id   int
		want string
	}{
		{1, "49.0001.0000.0000.0001.00"},
		{2, "49.0001.0000.0000.0002.00"},
		{10, "49.0001.0000.0000.000a.00"}, // the system id is the router id in hex
		{0x1234, "49.0001.0000.0000.1234.00"},
		{0xffff, "49.0001.0000.0000.ffff.00"}, // the largest id the schema allows
	}
	for _, tt := range tests {
		if got := NET(&topo.Node{Name: "r", Kind: topo.KindRouter, ID: tt.id}); got != tt.want {
			t.Errorf("NET(id %#x) = %q, want %q", tt.id, got, tt.want)
		}
	}
}

// TestNETUnique: routers of a lab get distinct system ids.
func TestNETUnique(t *testing.T) {
	for _, ex := range []string{"line3.yaml", "triangle.yaml", "dc8.yaml"} {
		nw := loadExample(t, ex)
		seen := map[string]string{}
		for _, r := range nw.NodesWith(topo.Underlay) {
			n := NET(r)
			if other, dup := seen[n]; dup {
				t.Errorf("%s: %s and %s share NET %s", ex, other, r.Name, n)
			}
			seen[n] = r.Name
		}
	}
}

// section is one top-level statement of an FRR configuration: the line
// opening it (such as "interface eth1" or "router isis sr6") and, for
// blocks, the indented lines inside, without their indentation.
type section struct {
	head string
	body []string
}

// isisSections splits an FRR configuration into its sections, in file
// order, and checks that every block is closed by exit.
func isisSections(t *testing.T, cfg string) []section {
	t.Helper()
	var out []section
	open := false
	for _, line := range strings.Split(strings.TrimSuffix(cfg, "\n"), "\n") {
		switch {
		case line == "!" || line == "":
			if open {
				t.Errorf("block %q not closed by exit before %q", out[len(out)-1].head, line)
				open = false
			}
		case line == "exit":
			if !open {
				t.Errorf("exit outside a block")
			}
			open = false
		case strings.HasPrefix(line, " "):
			if !open {
				t.Errorf("indented line %q outside a block", line)
				continue
			}
			out[len(out)-1].body = append(out[len(out)-1].body, strings.TrimPrefix(line, " "))
		default:
			out = append(out, section{head: line})
			open = strings.HasPrefix(line, "interface ") || strings.HasPrefix(line, "router ") ||
				strings.HasPrefix(line, "route-map ")
		}
	}
	if open {
		t.Errorf("last block %q not closed", out[len(out)-1].head)
	}
	return out
}

func findSection(secs []section, head string) (section, int) {
	for i, s := range secs {
		if s.head == head {
			return s, i
		}
	}
	return section{}, -1
}

func TestISISConfig(t *testing.T) {
	tests := []struct {
		name    string
		nw      func(t *testing.T) *topo.Network
		router  string
		net     string
		locator string
		core    map[string]int // core interface -> metric
		passive []string       // host interfaces
	}{
		{
			name: "line3 r2", nw: func(t *testing.T) *topo.Network { return loadExample(t, "line3.yaml") },
			router: "r2", net: "49.0001.0000.0000.0002.00", locator: "fc00:0:2::/48",
			core: map[string]int{"eth1": 10, "eth2": 10},
		},
		{
			name: "line3 r1 (host link)", nw: func(t *testing.T) *topo.Network { return loadExample(t, "line3.yaml") },
			router: "r1", net: "49.0001.0000.0000.0001.00", locator: "fc00:0:1::/48",
			core: map[string]int{"eth1": 10}, passive: []string{"eth0"},
		},
		{
			name: "line3 r3 (host written second)", nw: func(t *testing.T) *topo.Network { return loadExample(t, "line3.yaml") },
			router: "r3", net: "49.0001.0000.0000.0003.00", locator: "fc00:0:3::/48",
			core: map[string]int{"eth1": 10}, passive: []string{"eth0"},
		},
		{
			name: "dc8 r7 (metric 20 link)", nw: func(t *testing.T) *topo.Network { return loadExample(t, "dc8.yaml") },
			router: "r7", net: "49.0001.0000.0000.0007.00", locator: "fc00:0:7::/48",
			core: map[string]int{"eth1": 10, "eth2": 10, "eth3": 20},
		},
		{
			name: "dc8 r1 (two hosts)", nw: func(t *testing.T) *topo.Network { return loadExample(t, "dc8.yaml") },
			router: "r1", net: "49.0001.0000.0000.0001.00", locator: "fc00:0:1::/48",
			core: map[string]int{"eth2": 10}, passive: []string{"eth0", "eth1"},
		},
		{
			name: "explicit id and locator", nw: func(t *testing.T) *topo.Network {
				return mustNetwork(t, "ids", `name: ids
routing: isis
nodes:
  core: {kind: router, id: 4660, locator: "fc00:0:99::/48"} # id 0x1234
  edge: {kind: router}
links:
  - endpoints: [core:ge-0, edge:ge-0]
    metric: 333
`)
			},
			router: "core", net: "49.0001.0000.0000.1234.00", locator: "fc00:0:99::/48",
			core: map[string]int{"ge-0": 333},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nw := tt.nw(t)
			r := mustNode(t, nw, tt.router)
			if r.Locator.String() != tt.locator {
				t.Fatalf("test table: %s's locator is %s, not %s", r.Name, r.Locator, tt.locator)
			}
			cfg := ISISConfig(r)

			// zebra: only the header.
			wantZebra := "frr defaults traditional\nhostname " + tt.router + "\n!\n"
			if cfg.Zebra != wantZebra {
				t.Errorf("Zebra =\n%s\nwant\n%s", cfg.Zebra, wantZebra)
			}

			isisd := cfg.ISISd
			if !strings.HasPrefix(isisd, wantZebra) {
				t.Errorf("isisd does not start with the header %q:\n%s", wantZebra, isisd)
			}
			secs := isisSections(t, isisd)

			// The locator, and only the locator, is let through.
			var pl []string
			for _, s := range secs {
				if strings.HasPrefix(s.head, "ipv6 prefix-list ") {
					pl = append(pl, s.head)
				}
			}
			if want := []string{"ipv6 prefix-list SR6-LOCATOR seq 5 permit " + tt.locator}; !slices.Equal(pl, want) {
				t.Errorf("prefix lists = %q, want %q", pl, want)
			}
			rm, i := findSection(secs, "route-map SR6-LOCATOR permit 10")
			if i < 0 {
				t.Errorf("no route-map SR6-LOCATOR permit 10:\n%s", isisd)
			} else if want := []string{"match ipv6 address prefix-list SR6-LOCATOR"}; !slices.Equal(rm.body, want) {
				t.Errorf("route-map body = %q, want %q", rm.body, want)
			}
			for _, s := range secs {
				if strings.HasPrefix(s.head, "route-map ") && s.head != "route-map SR6-LOCATOR permit 10" {
					t.Errorf("unexpected %q", s.head)
				}
			}

			// Interfaces: lo, and every interface of r exactly once.
			var ifaces []string
			for _, s := range secs {
				if name, ok := strings.CutPrefix(s.head, "interface "); ok {
					ifaces = append(ifaces, name)
				}
			}
			var wantIfaces []string
			wantIfaces = append(wantIfaces, "lo")
			for _, ifc := range r.Interfaces {
				wantIfaces = append(wantIfaces, ifc.Name)
			}
			if !slices.Equal(ifaces, wantIfaces) {
				t.Errorf("interfaces = %q, want %q", ifaces, wantIfaces)
			}
			if n := len(tt.core) + len(tt.passive); n != len(r.Interfaces) {
				t.Fatalf("test table lists %d interfaces, %s has %d", n, r.Name, len(r.Interfaces))
			}
			passive := []string{"ipv6 router isis sr6", "isis passive"}
			if lo, _ := findSection(secs, "interface lo"); !slices.Equal(lo.body, passive) {
				t.Errorf("interface lo = %q, want %q", lo.body, passive)
			}
			for _, name := range tt.passive {
				if s, _ := findSection(secs, "interface "+name); !slices.Equal(s.body, passive) {
					t.Errorf("host interface %s = %q, want %q", name, s.body, passive)
				}
			}
			for name, metric := range tt.core {
				want := []string{
					"ipv6 router isis sr6",
					"isis network point-to-point",
					"isis metric " + strconv.Itoa(metric),
					"isis hello-interval 1",
					"isis hello-multiplier 3",
				}
				if s, _ := findSection(secs, "interface "+name); !slices.Equal(s.body, want) {
					t.Errorf("core interface %s = %q, want %q", name, s.body, want)
				}
			}

			// The router block.
			rt, ri := findSection(secs, "router isis sr6")
			if ri < 0 {
				t.Fatalf("no router isis sr6:\n%s", isisd)
			}
			if ri != len(secs)-1 {
				t.Errorf("router isis is not the last section")
			}
			for _, line := range []string{
				"is-type level-2-only",
				"metric-style wide",
				"lsp-gen-interval 1",
				"spf-interval 1",
				"net " + tt.net,
				"log-adjacency-changes",
				"redistribute ipv6 kernel level-2 route-map SR6-LOCATOR",
			} {
				if n := countOf(rt.body, line); n != 1 {
					t.Errorf("router isis has %q %d times, want once:\n%s", line, n, strings.Join(rt.body, "\n"))
				}
			}
			// FRR 8 builds the first LSP when it reads `net`, under the
			// timers in force then: the timers must come first.
			net := slices.Index(rt.body, "net "+tt.net)
			for _, timer := range []string{"lsp-gen-interval 1", "spf-interval 1", "is-type level-2-only"} {
				if j := slices.Index(rt.body, timer); j < 0 || net < 0 || j > net {
					t.Errorf("%q (line %d) must come before net (line %d)", timer, j, net)
				}
			}
			if strings.Count(isisd, " net ") != 1 {
				t.Errorf("more than one net line:\n%s", isisd)
			}
		})
	}
}

// TestISISConfigLine3R2Golden pins r2's whole isisd.conf for line3, so any
// change to the rendering shows up as a diff to review.
func TestISISConfigLine3R2Golden(t *testing.T) {
	nw := loadExample(t, "line3.yaml")
	got := ISISConfig(mustNode(t, nw, "r2")).ISISd
	want := `frr defaults traditional
hostname r2
!
ipv6 prefix-list SR6-LOCATOR seq 5 permit fc00:0:2::/48
!
route-map SR6-LOCATOR permit 10
 match ipv6 address prefix-list SR6-LOCATOR
exit
!
interface lo
 ipv6 router isis sr6
 isis passive
exit
!
interface eth1
 ipv6 router isis sr6
 isis network point-to-point
 isis metric 10
 isis hello-interval 1
 isis hello-multiplier 3
exit
!
interface eth2
 ipv6 router isis sr6
 isis network point-to-point
 isis metric 10
 isis hello-interval 1
 isis hello-multiplier 3
exit
!
router isis sr6
 is-type level-2-only
 metric-style wide
 lsp-gen-interval 1
 spf-interval 1
 net 49.0001.0000.0000.0002.00
 log-adjacency-changes
 redistribute ipv6 kernel level-2 route-map SR6-LOCATOR
exit
!
`
	if got != want {
		t.Errorf("isisd.conf for line3 r2:\n%s\nwant:\n%s", got, want)
	}
	// The quirk the code comments on, checked on the raw text too.
	lsp := strings.Index(got, "lsp-gen-interval 1")
	net := strings.Index(got, "net 49.0001.0000.0000.0002.00")
	if lsp < 0 || net < 0 || lsp > net {
		t.Errorf("lsp-gen-interval 1 at %d must precede net at %d", lsp, net)
	}
}

func countOf(lines []string, s string) int {
	n := 0
	for _, l := range lines {
		if l == s {
			n++
		}
	}
	return n
}
