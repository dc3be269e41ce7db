package cli

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestDeployDryRun: --dry-run of a lab that is not deployed says deploy
// creates it (as JSON too), --json needs --dry-run, and a bad file is an
// error with its position; none needs root, as none changes anything.
func TestDeployDryRun(t *testing.T) {
	ok := writeFile(t, "tri.yaml", "version: 1\nname: drytri\nnodes:\n  r1: {kind: router}\n  r2: {kind: router}\nlinks:\n  - endpoints: [r1:eth1, r2:eth1]\n")
	bad := writeFile(t, "bad.yaml", badTopology)
	dir := t.TempDir()
	tests := []struct {
		name           string
		args           []string
		code           int
		stdout, stderr string
	}{
		{"not deployed", []string{"lab", "deploy", "--dry-run", ok}, 0, "lab drytri is not deployed: deploy creates it", ""},
		{"json", []string{"lab", "deploy", "--dry-run", "--json", ok}, 0, `"deployed": false`, ""},
		{"json needs dry run", []string{"lab", "deploy", "--json", ok}, 2, "", "--json goes with --dry-run"},
		{"bad file", []string{"lab", "deploy", "--dry-run", bad}, 1, "", bad + ":9:26:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := run(t, append([]string{"--state-dir", dir}, tt.args...)...)
			if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("exit %d (want %d)\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if tt.name == "json" {
				var v struct {
					Lab     string `json:"lab"`
					Changes []any  `json:"changes"`
				}
				if err := json.Unmarshal([]byte(stdout), &v); err != nil || v.Lab != "drytri" || v.Changes == nil {
					t.Errorf("JSON plan %+v (%v): %s", v, err, stdout)
				}
			}
		})
	}
}
