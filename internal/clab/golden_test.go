package clab

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sr6net/sr6/internal/topo"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata")

// goldenInputs are sr6's test inputs in containerlab's format (testdata),
// each naming on its first line the format features it exercises.
func goldenInputs(t *testing.T) []string {
	t.Helper()
	in, _ := filepath.Glob("testdata/*.clab.yml")
	if len(in) < 6 {
		t.Fatalf("golden inputs missing: %v", in)
	}
	return in
}

// TestGolden converts each input and compares the topology and the
// warnings with the .sr6.yaml and .warnings files next to it (go test
// -update rewrites them); the topology must pass sr6 validation.
func TestGolden(t *testing.T) {
	for _, in := range goldenInputs(t) {
		t.Run(filepath.Base(in), func(t *testing.T) {
			data, err := os.ReadFile(in)
			if err != nil {
				t.Fatal(err)
			}
			res, err := Convert(filepath.Base(in), data)
			if err != nil {
				t.Fatalf("Convert: %v", err)
			}
			if _, err := topo.ParseNetwork(in, res.YAML); err != nil {
				t.Errorf("result does not validate: %v\n%s", err, res.YAML)
			}
			var warns strings.Builder
			for _, w := range res.Warnings {
				warns.WriteString(w.Error() + "\n")
			}
			base := strings.TrimSuffix(in, ".clab.yml")
			compareGolden(t, base+".sr6.yaml", string(res.YAML))
			compareGolden(t, base+".warnings", warns.String())
		})
	}
}

func compareGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test -update writes it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}
