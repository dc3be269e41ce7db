package registry

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sr6net/sr6/internal/topo"
)

func TestDefault(t *testing.T) {
	reg := Default()
	if got := reg.Names(); !slices.Equal(got, []string{"router", "host"}) {
		t.Errorf("kinds = %v, want router, host (error messages list them in this order)", got)
	}
	for _, tt := range []struct {
		kind string
		want topo.Traits
	}{
		{"router", topo.Underlay | topo.SRv6},
		{"host", 0},
	} {
		if got, ok := reg.Traits(tt.kind); !ok || got != tt.want {
			t.Errorf("traits(%s) = %s, %v; want %s", tt.kind, got, ok, tt.want)
		}
	}
}

// TestSameAsTopoBuiltins: planning with the registry gives exactly what
// topo gives on its own (for callers not yet handed the registry), for
// every example: same JSON, same traits on every node.
func TestSameAsTopoBuiltins(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "..", "examples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("examples: %v %v", files, err)
	}
	reg := Default()
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			a, err := topo.ParseNetwork(f, data)
			if err != nil {
				t.Fatal(err)
			}
			b, err := reg.ParseNetwork(f, data)
			if err != nil {
				t.Fatal(err)
			}
			var ja, jb bytes.Buffer
			if err := a.WriteJSON(&ja); err != nil {
				t.Fatal(err)
			}
			if err := b.WriteJSON(&jb); err != nil {
				t.Fatal(err)
			}
			if ja.String() != jb.String() {
				t.Errorf("plans differ:\ntopo:\n%s\nregistry:\n%s", ja.String(), jb.String())
			}
			for i, n := range a.Nodes {
				if m := b.Nodes[i]; n.Traits != m.Traits {
					t.Errorf("%s: traits %s in topo, %s in the registry", n.Name, n.Traits, m.Traits)
				}
			}
		})
	}
}
