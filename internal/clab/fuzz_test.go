package clab

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/sr6net/sr6/internal/topo"
)

// maxFuzzInput bounds the input so each run stays fast; containerlab
// files are far smaller.
const maxFuzzInput = 64 << 10

var fuzzSeeds = []string{
	"",
	"name: x\ntopology:\n  nodes:\n    a: {kind: srl}\n",
	"name: x\ntopology:\n  defaults: &d {kind: linux, image: frrouting/frr}\n  nodes:\n    a: *d\n    b: {<<: *d, image: alpine}\n  links:\n    - endpoints: [\"a:eth1\", \"b:eth1\"]\n      mtu: 9500\n",
	"name: x\ntopology:\n  groups: {g: {kind: ceos}}\n  nodes:\n    a: {group: g}\n    b: {group: g}\n  links:\n    - type: veth\n      endpoints: [{node: a, interface: Ethernet1/1}, {node: b, interface: Ethernet1/1}]\n",
	"name: x\ntopology:\n  nodes:\n    a: {kind: srl}\n  links:\n    - endpoints: [\"a:e1/1\", \"a:e1-1\"]\n    - endpoints: [\"a:lo\", \"host:x\"]\n",
	"name: x\ntopology:\n  nodes:\n    a: {kind: linux, labels: {sr6-kind: router}}\n    h: {kind: linux}\n  links:\n    - endpoints: [\"a:GigabitEthernet0/0/0/0\", \"h:eth1\"]\n    - {type: vxlan, endpoint: {node: a, interface: v}, remote: 1.2.3.4, vni: 1}\n",
	"name: x\ntopology:\n  nodes:\n    a: {<<: [*x]}\n",
	"name: \"\\u2028\"\ntopology: {nodes: {a: {kind: srl, image: \"a\\nb\"}}}\n",
}

// FuzzConvert: any input gives either errors that all have a position,
// or a topology that sr6 accepts, with positioned warnings; never a panic.
func FuzzConvert(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	files, _ := filepath.Glob("testdata/*.clab.yml")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > maxFuzzInput {
			return
		}
		res, err := Convert("f.clab.yml", data)
		if err != nil {
			var el topo.ErrorList
			if !errors.As(err, &el) || len(el) == 0 {
				t.Fatalf("error without positions: %v", err)
			}
			for _, e := range el {
				if e.File != "f.clab.yml" || e.Msg == "" {
					t.Errorf("error without file or message: %#v", e)
				}
			}
			return
		}
		if _, err := topo.ParseNetwork("out.yaml", res.YAML); err != nil {
			t.Fatalf("result refused by sr6: %v\ninput:\n%s\nresult:\n%s", err, data, res.YAML)
		}
		for _, w := range res.Warnings {
			if w.Pos.Line == 0 || w.Msg == "" {
				t.Errorf("warning without position: %v", w)
			}
		}
	})
}
