package clab

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/sr6net/sr6/internal/topo"
)

// maxIface is the kernel's limit on interface names (IFNAMSIZ-1).
const maxIface = 15

// ifaceChar tells whether c may appear in an sr6 interface name.
func ifaceChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
}

// validIface tells whether name is usable unchanged as an sr6 interface.
func validIface(name string) bool {
	_, err := topo.ParseEndpoint("n:" + name)
	return err == nil
}

// abbreviations shorten the long vendor interface names that do not fit
// in 15 characters, the way the vendors' own CLIs abbreviate them.
var abbreviations = []struct{ long, short string }{
	{"FourHundredGigE", "FH"}, {"TwoHundredGigE", "TH"}, {"HundredGigE", "Hu"}, {"FiftyGigE", "Fi"},
	{"FortyGigE", "Fo"}, {"TwentyFiveGigE", "TF"}, {"TenGigE", "Te"}, {"TenGigabitEthernet", "Te"},
	{"GigabitEthernet", "Gi"}, {"FastEthernet", "Fa"}, {"Ethernet", "Eth"}, {"ethernet", "e"},
}

// linuxIface maps a containerlab interface name to a valid Linux one,
// deterministically: characters Linux (or sr6) refuses become "-" (so
// "ethernet-1/1" is "ethernet-1-1" and "ge-0/0/0" is "ge-0-0-0"), names
// too long lose their vendor prefix ("GigabitEthernet0/0/0/1" is
// "Gi0-0-0-1"), and what is still too long or reserved is cut and
// suffixed with a hash of the original, so different names never meet.
func linuxIface(name string) string {
	if validIface(name) {
		return name
	}
	b := []byte(name)
	for i, c := range b {
		if !ifaceChar(c) {
			b[i] = '-'
		}
	}
	s := string(b)
	if len(s) > maxIface {
		for _, a := range abbreviations {
			if rest, ok := strings.CutPrefix(s, a.long); ok {
				s = a.short + rest
				break
			}
		}
	}
	if validIface(s) && s != "" {
		return s
	}
	return hashedIface(s, name)
}

// hashedIface is s cut to fit with a hash of orig: "<first 10>-<4 hex>".
func hashedIface(s, orig string) string {
	h := fnv.New32a()
	h.Write([]byte(orig))
	sum := fmt.Sprintf("%04x", h.Sum32()&0xffff)
	// A prefix that keeps the result clear of lo, sr6*, all, default, "."
	// and "..": "if" never starts a reserved name.
	if s == "" || strings.HasPrefix(s, "sr6") || s == "lo" || s == "all" || s == "default" || strings.Trim(s, ".") == "" {
		s = "if" + s
	}
	if len(s) > maxIface-5 {
		s = s[:maxIface-5]
	}
	return s + "-" + sum
}

// ifaceNamer gives each node's interfaces their Linux names: names valid
// as written keep them and are reserved first, so a renamed interface
// never takes a name another interface of the node is written with.
type ifaceNamer struct {
	taken map[string]map[string]string // node -> linux name -> original
}

func newIfaceNamer() *ifaceNamer { return &ifaceNamer{taken: map[string]map[string]string{}} }

func (n *ifaceNamer) reserve(node, name string) {
	if n.taken[node] == nil {
		n.taken[node] = map[string]string{}
	}
	if validIface(name) {
		n.taken[node][name] = name
	}
}

// name returns the Linux name of node's interface orig.
func (n *ifaceNamer) name(node, orig string) string {
	if validIface(orig) {
		return orig
	}
	if n.taken[node] == nil {
		n.taken[node] = map[string]string{}
	}
	s := linuxIface(orig)
	if o, ok := n.taken[node][s]; ok && o != orig {
		s = hashedIface(s, orig)
	}
	n.taken[node][s] = orig
	return s
}

// nodeName maps a containerlab node name to an sr6 one (topo.NodeNameRule):
// other characters become "-", a name not starting with a letter gets an
// "n" in front, and it is cut to 32 characters.
func nodeName(name string) string {
	if topo.CheckNodeName(name) == nil {
		return name
	}
	b := []byte(name)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	s := string(b)
	if s == "" || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		s = "n" + s
	}
	if len(s) > 32 {
		s = s[:32]
	}
	return s
}

// labName maps a containerlab lab name to an sr6 one (topo.LabNameRule):
// lower case, other characters become "-", cut to 24 characters; "" if
// nothing of it is left.
func labName(name string) string {
	b := []byte(strings.ToLower(name))
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	s := strings.TrimLeft(string(b), "_-")
	if len(s) > 24 {
		s = s[:24]
	}
	return s
}
