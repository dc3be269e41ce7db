package cli

import (
	"strings"
	"testing"
)

// TestBenchLabRefusesBadFlags: bad flags are usage errors (exit 2) with a
// precise message, before anything is deployed.
func TestBenchLabRefusesBadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--shape", "star"}, `--shape "star": allowed values: auto, ring, line, grid`},
		{[]string{"--sizes", "10,2"}, "--sizes: 2 routers: at least 3"},
	}
	for _, tt := range tests {
		code, _, stderr := run(t, append([]string{"--state-dir", t.TempDir(), "bench", "lab"}, tt.args...)...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("bench lab %v: exit %d, stderr %q; want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
}
