package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sr6net/sr6/internal/topo"
)

// The store refuses a bad name itself, whoever calls it, so that no path
// built from a lab name can leave the state directory.
func TestStoreRefusesBadNames(t *testing.T) {
	for _, name := range []string{"x/../../..", "../x", "/abs", "a/b", "a.b", "..", "", "UP", "-x", strings.Repeat("a", 25)} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "state")
			s := Store{Dir: dir}
			check := func(op string, err error) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), topo.LabNameRule) {
					t.Errorf("%s(%q) = %v, want an error naming the rule", op, name, err)
				}
			}
			_, err := s.LabDir(name)
			check("LabDir", err)
			_, err = s.Load(name)
			check("Load", err)
			check("Save", s.Save(&State{Name: name}))
			unlock, err := s.Lock(name)
			check("Lock", err)
			if unlock != nil {
				unlock()
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("state directory created for a refused name: %v", err)
			}
		})
	}
}

func TestStoreListSkipsBadNames(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	if err := s.Save(&State{Name: "good"}); err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(s.Dir, "Not.A.Lab")
	if err := os.MkdirAll(bad, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bad, "state.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	names, err := s.List()
	if err != nil || len(names) != 1 || names[0] != "good" {
		t.Errorf("List() = %v, %v; want [good]", names, err)
	}
}

func TestOwnsNamespace(t *testing.T) {
	tests := []struct {
		ns   string
		want bool
	}{
		{"lab1.r1", true},
		{"lab1.h-2_x", true},
		{"lab1", false},
		{"lab1.", false},
		{"lab10.r1", false},
		{"lab.r1", false},
		{"other.r1", false},
		{"lab1.r1.x", false},
		{"lab1.1r", false},
		{"lab1.r 1", false},
		{"xlab1.r1", false},
		{"foreign", false},
	}
	for _, tt := range tests {
		if got := ownsNamespace("lab1", tt.ns); got != tt.want {
			t.Errorf("ownsNamespace(lab1, %q) = %v, want %v", tt.ns, got, tt.want)
		}
	}
}

func TestCheckSocketPaths(t *testing.T) {
	src := func(routing string) *topo.Network {
		nw, err := topo.ParseNetwork("t.yaml", []byte("name: lab\nrouting: "+routing+
			"\nnodes:\n  r1-a-node-name-of-32-characters: {kind: router}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return nw
	}
	long := "/" + strings.Repeat("d", 70) + "/lab"
	tests := []struct {
		name    string
		dir     string
		routing string
		agents  bool
		wantErr string
	}{
		{"short dir, isis and agents", "/var/lib/sr6/labs/lab", topo.RoutingISIS, true, ""},
		{"long dir, static, no agents: no sockets", long, topo.RoutingStatic, false, ""},
		{"long dir, isis", long, topo.RoutingISIS, false, "zserv.api is 117 bytes long, and a unix socket path is at most 107: use a shorter --state-dir"},
		{"long dir, agents", long, topo.RoutingStatic, true, "agent.sock is 118 bytes long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSocketPaths(tt.dir, src(tt.routing), tt.agents)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("error %v, want %q", err, tt.wantErr)
			}
		})
	}
}
