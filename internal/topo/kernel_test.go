package topo

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// testdata/kernel holds inputs found by deploying them. Each file's first
// line is what validation must say: "# want: ok", or
// "# want: LINE:COL: FIELD: REASON" (the whole message, one error); the
// second says what the kernel did with it. internal/lab's e2e test deploys
// every one of them, so "ok" is a promise the kernel keeps too.
func TestKernelRefusals(t *testing.T) {
	files, err := filepath.Glob("testdata/kernel/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var refused, accepted int
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(string(data), "\n")
			want, ok := strings.CutPrefix(first, "# want: ")
			if !ok {
				t.Fatalf("first line %q is not a '# want:' line", first)
			}
			_, err = ParseNetwork(path, data)
			if want == "ok" {
				accepted++
				if err != nil {
					t.Errorf("refused, want ok: %v", err)
				}
				return
			}
			refused++
			pos, rest, _ := strings.Cut(want, ": ")
			field, msg, _ := strings.Cut(rest, ": ")
			lineS, colS, _ := strings.Cut(pos, ":")
			line, err1 := strconv.Atoi(lineS)
			col, err2 := strconv.Atoi(colS)
			if err1 != nil || err2 != nil {
				t.Fatalf("want line %q has no LINE:COL", first)
			}
			checkErrors(t, path, err, []wantErr{{line, col, field, msg}})
		})
	}
	if refused < 15 || accepted < 10 {
		t.Errorf("testdata/kernel has %d refused and %d accepted inputs: files missing?", refused, accepted)
	}
}
