package lab_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/testutil"
	"github.com/sr6net/sr6/internal/topo"
)

// TestValidateRefusesWhatDeployRefuses feeds every input of
// internal/topo/testdata/kernel (found by deploying them) to validation
// and then to a real deploy: each is either refused by validation with a
// position, or deploys; a kernel error without a position fails the test,
// and nothing may be left behind either way.
func TestValidateRefusesWhatDeployRefuses(t *testing.T) {
	testutil.RequirePrivileged(t, "ip")
	files, err := filepath.Glob(filepath.Join("..", "topo", "testdata", "kernel", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no inputs in internal/topo/testdata/kernel: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// A unique name as long as the file's (the 24-character
			// case tests the longest namespace and socket names).
			old := nameLine.FindString(string(raw))
			name := testutil.UniqueName("t")
			for len(name) < len(strings.TrimPrefix(old, "name: ")) {
				name += "x"
			}
			text := nameLine.ReplaceAllString(string(raw), "name: "+name)
			nw, err := topo.ParseNetwork(path, []byte(text))
			if err != nil {
				var el topo.ErrorList
				if !errors.As(err, &el) {
					t.Fatalf("validation error without positions: %v", err)
				}
				for _, e := range el {
					if e.Pos.Line == 0 || e.Field == "" {
						t.Errorf("validation error without position or field: %v", e)
					}
				}
				return
			}
			if nw.Routing == topo.RoutingISIS {
				testutil.RequirePrivileged(t, lab.FRRDir+"/zebra", lab.FRRDir+"/isisd")
			}
			// Short: t.TempDir() under a long test name would push FRR's
			// sockets past the unix path limit (deploy refuses that).
			state, err := os.MkdirTemp("", "sr6k")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.RemoveAll(state) })
			// FRR daemons run as the frr user and must reach their files.
			if err := os.Chmod(state, 0o755); err != nil {
				t.Fatal(err)
			}
			// As `sr6 lab deploy` does by default: agents and a controller.
			opts := lab.Options{Store: lab.Store{Dir: state}, Progress: &testWriter{t: t},
				Agents: true, Controller: true, Binary: sr6Binary}
			t.Cleanup(func() {
				if err := lab.Destroy(context.Background(), name, opts); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			})
			_, derr := lab.Deploy(context.Background(), nw, path, []byte(text), opts)
			if derr != nil {
				t.Errorf("validation passed but deploy failed: %v", derr)
				if left := namespacesOf(name); len(left) > 0 {
					t.Errorf("failed deploy left namespaces: %v", left)
				}
				if _, err := os.Stat(filepath.Join(state, name)); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("failed deploy left its state folder: %v", err)
				}
				return
			}
			if err := lab.Destroy(context.Background(), name, opts); err != nil {
				t.Fatalf("destroy: %v", err)
			}
			if left := namespacesOf(name); len(left) > 0 {
				t.Errorf("namespaces left after destroy: %v", left)
			}
			if _, err := os.Stat(filepath.Join(state, name)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state folder left after destroy: %v", err)
			}
		})
	}
}
