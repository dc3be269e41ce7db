package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sr6net/sr6/internal/nsutil"
)

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = Run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const badTopology = `version: 1
name: broken
nodes:
  r1: {kind: router}
  r2: {kind: switch}
  h1: {kind: host}
links:
  - endpoints: [h1:eth0, r1:eth0]
  - endpoints: [r1:eth1, r9:eth1]
    colour: red
`

func TestCommands(t *testing.T) {
	bad := writeFile(t, "bad.yaml", badTopology)
	tests := []struct {
		name     string
		args     []string
		code     int
		stdout   []string
		stderr   []string
		noStdout bool
	}{
		{name: "validate ok", args: []string{"validate", "../../examples/dc8.yaml"}, code: 0,
			stdout: []string{`ok: lab "dc8", 8 routers, 4 hosts, 14 links, routing isis`}},
		{name: "validate reports every error with its position", args: []string{"validate", bad}, code: 1,
			stderr: []string{
				bad + `:5:14: nodes.r2.kind: unknown kind "switch"; allowed values: router, host`,
				bad + `:9:26: links[1].endpoints[1]: node "r9" is not defined under nodes`,
				bad + `:10:5: links[1].colour: unknown key; allowed keys: endpoints, metric, latency, loss, rate, mtu, subnet4, subnet6`,
			}},
		{name: "validate missing file", args: []string{"validate", "/nonexistent.yaml"}, code: 1,
			stderr: []string{"read topology", "no such file"}},
		{name: "graph dot", args: []string{"graph", "../../examples/triangle.yaml"}, code: 0,
			stdout: []string{`graph "tri" {`, `"r1" -- "r2"`, "loc fc00:0:1::/48"}},
		{name: "graph bad format", args: []string{"graph", "-f", "png", "../../examples/triangle.yaml"}, code: 2,
			stderr: []string{`--format "png": allowed values: dot, json`}},
		{name: "deploy bad topology changes nothing", args: []string{"lab", "deploy", bad, "--state-dir", t.TempDir()}, code: 1,
			stderr: []string{`unknown kind "switch"`}},
		{name: "unknown command", args: []string{"frobnicate"}, code: 1, stderr: []string{"unknown command"}},
		{name: "srv6 add bad mode", args: []string{"lab", "srv6", "add", "x", "p", "--from", "h1", "--to", "h2", "--mode", "sideways"},
			code: 2, stderr: []string{`--mode: unknown mode "sideways"; allowed values: encap, inline`}},
		{name: "srv6 add needs from", args: []string{"lab", "srv6", "add", "x", "p", "--to", "h2"},
			code: 1, stderr: []string{`required flag(s) "from" not set`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, tt.args...)
			if code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			for _, want := range tt.stdout {
				if !strings.Contains(stdout, want) {
					t.Errorf("stdout lacks %q:\n%s", want, stdout)
				}
			}
			for _, want := range tt.stderr {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, stderr)
				}
			}
		})
	}
	if ns, _ := nsutil.List(); len(ns) > 0 {
		for _, n := range ns {
			if strings.HasPrefix(n, "broken.") {
				t.Errorf("a bad topology left namespace %s", n)
			}
		}
	}
}

func TestGraphJSON(t *testing.T) {
	code, stdout, stderr := run(t, "graph", "--format", "json", "../../examples/line3.yaml")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var g struct {
		Name  string `json:"name"`
		Nodes []struct {
			Name string `json:"name"`
			SIDs *struct {
				End string `json:"end"`
			} `json:"sids"`
		} `json:"nodes"`
		Links []json.RawMessage `json:"links"`
	}
	if err := json.Unmarshal([]byte(stdout), &g); err != nil {
		t.Fatalf("graph JSON: %v\n%s", err, stdout)
	}
	if g.Name != "line3" || len(g.Nodes) != 5 || len(g.Links) != 4 {
		t.Fatalf("graph JSON: name %q, %d nodes, %d links", g.Name, len(g.Nodes), len(g.Links))
	}
	if g.Nodes[1].SIDs == nil || g.Nodes[1].SIDs.End != "fc00:0:2::1" {
		t.Errorf("r2 End SID in JSON: %+v", g.Nodes[1].SIDs)
	}
}

// TestUnknownLabSaysWhereItLooked: a lab missing from the state directory
// is named with the folder searched, so that a forgotten --state-dir shows.
func TestUnknownLabSaysWhereItLooked(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"lab", "inspect", "nosuch"}, {"policy", "list", "--lab", "nosuch"}} {
		code, _, stderr := run(t, append(args, "--state-dir", dir)...)
		if code == 0 || !strings.Contains(stderr, "no lab nosuch in "+dir+" (labs are looked up in --state-dir)") {
			t.Errorf("%v: exit %d, stderr %q", args, code, stderr)
		}
	}
}

// TestUnknownSubcommandIsAnError: a typo under a group command is a usage
// error (exit 2), not the group's help with exit 0.
func TestUnknownSubcommandIsAnError(t *testing.T) {
	for _, args := range [][]string{{"lab", "bogus"}, {"policy", "lsit"}, {"pm", "strat"}, {"topo", "x"}} {
		code, _, stderr := run(t, args...)
		if code != 2 || !strings.Contains(stderr, "unknown command") {
			t.Errorf("%v: exit %d, stderr %q; want 2 and unknown command", args, code, stderr)
		}
	}
	if code, _, _ := run(t, "lab"); code != 0 {
		t.Errorf("lab alone (its help): exit %d", code)
	}
}
