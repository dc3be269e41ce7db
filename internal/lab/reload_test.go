package lab

import (
	"slices"
	"testing"

	"github.com/sr6net/sr6/internal/supervise"
)

func TestKeptDaemons(t *testing.T) {
	spec := func(name string, args ...string) supervise.Spec {
		return supervise.Spec{Name: name, Path: "/sr6", Args: args, Netns: "l." + name, LogFile: name + ".log", PidFile: name + ".pid"}
	}
	old := []supervise.Spec{spec("agent/r1", "a"), spec("agent/r2", "a"), spec("agent/r3", "a"), spec(controllerName, "c")}
	tests := []struct {
		name    string
		next    []supervise.Spec
		changed bool
		want    []string
	}{
		{"same topology", old, false, []string{"agent/r1", "agent/r2", "agent/r3", controllerName}},
		{"topology changed: controller restarted", old, true, []string{"agent/r1", "agent/r2", "agent/r3"}},
		{"node removed, node added", []supervise.Spec{spec("agent/r1", "a"), spec("agent/r2", "a"), spec("agent/r4", "a"), spec(controllerName, "c")},
			true, []string{"agent/r1", "agent/r2"}},
		{"arguments changed", []supervise.Spec{spec("agent/r1", "b"), spec("agent/r2", "a"), spec("agent/r3", "a")}, true, []string{"agent/r2", "agent/r3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keptDaemons(old, tt.next, tt.changed); !slices.Equal(got, tt.want) {
				t.Fatalf("kept %v, want %v", got, tt.want)
			}
		})
	}
}
