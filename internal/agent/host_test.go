package agent

import (
	"context"
	"strings"
	"testing"
)

// TestRunHostRefusesBadConfigs: configurations that cannot all run are
// refused, naming the culprit, before any agent starts.
func TestRunHostRefusesBadConfigs(t *testing.T) {
	ok := func(node, listen string) Config { return Config{Node: node, Listen: listen, Insecure: true} }
	tests := []struct {
		name   string
		agents []Config
		want   string
	}{
		{"none", nil, "no agents to run"},
		{"no node name", []Config{ok("", "unix:///tmp/x.sock")}, "without a node name"},
		{"no TLS", []Config{{Node: "r1", Listen: "unix:///tmp/x.sock"}}, "agent r1: no TLS configuration"},
		{"a node twice", []Config{ok("r1", "unix:///tmp/a.sock"), ok("r1", "unix:///tmp/b.sock")}, "node r1 given twice"},
		{"one endpoint twice", []Config{ok("r1", "unix:///tmp/a.sock"), ok("r2", "unix:///tmp/a.sock")},
			"nodes r1 and r2 both listen on unix:///tmp/a.sock"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := RunHost(context.Background(), tc.agents, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("RunHost: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
