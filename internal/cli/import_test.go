package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImportContainerlab(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "bridged.yaml")
	// Warnings on stderr, the topology in -o, and it validates.
	code, stdout, stderr := run(t, "import", "containerlab", "../clab/testdata/bridged.clab.yml", "-o", out)
	if code != 0 || stdout != "" {
		t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	for _, want := range []string{
		"warning: ../clab/testdata/bridged.clab.yml:20:13: topology.nodes.lan0.kind: node lan0 not imported: kind bridge",
		"wrote " + out + " (6 warnings)",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr has no %q:\n%s", want, stderr)
		}
	}
	if code, stdout, stderr := run(t, "validate", out); code != 0 || !strings.Contains(stdout, `ok: lab "lan-segment", 4 routers`) {
		t.Errorf("validate: exit %d\n%s%s", code, stdout, stderr)
	}

	// Without -o the topology goes to stdout.
	code, stdout, _ = run(t, "import", "containerlab", "../clab/testdata/kindalias.clab.yml")
	if code != 0 || !strings.Contains(stdout, "  - endpoints: [alpha:e1-2, beta:e1-4]\n") {
		t.Errorf("stdout: exit %d\n%s", code, stdout)
	}

	// An error writes nothing: an earlier output stays as it was.
	bad := writeFile(t, "bad.clab.yml", "name: x\ntopology:\n  nodes:\n    a: {kind: srl}\n  links:\n    - endpoints: [\"a:e1-1\", \"b:e1-1\"]\n")
	before, _ := os.ReadFile(out)
	code, _, stderr = run(t, "import", "containerlab", bad, "-o", out)
	if code != 1 || !strings.Contains(stderr, bad+`:6:29: topology.links[0].endpoints[1]: node "b" is not defined under topology.nodes`) {
		t.Errorf("exit %d\nstderr: %s", code, stderr)
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Errorf("a failed import changed %s", out)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left in %s: %v", dir, entries)
	}

	if code, _, stderr := run(t, "import", "containerlab"); code != 2 || !strings.Contains(stderr, "exactly one file") {
		t.Errorf("no file: exit %d, %s", code, stderr)
	}
	if code, _, stderr := run(t, "import", "containerlab", filepath.Join(dir, "missing.clab.yml")); code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("missing file: exit %d, %s", code, stderr)
	}
}
