package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/supervise"
)

func TestPrintDaemons(t *testing.T) {
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.Local)
	tests := []struct {
		name string
		in   lab.Inspection
		want []string
	}{
		{"running", lab.Inspection{Supervisor: &lab.SupervisorHealth{PID: 10, Running: true}, Daemons: []supervise.Status{
			{Name: "agents", State: supervise.Ready, PID: 11, Since: at},
			{Name: "controller", State: supervise.Backoff, Restarts: 3, Since: at,
				LastExit: &supervise.Exit{Code: 1, Reason: "exit status 1", Time: at}},
		}}, []string{
			"supervisor: running (pid 10)",
			"DAEMON      STATE    PID  RESTARTS  SINCE     LAST EXIT",
			"agents      ready    11   0         08:00:00  -",
			"controller  backoff  -    3         08:00:00  exit status 1 at 08:00:00",
		}},
		{"no supervisor", lab.Inspection{Supervisor: &lab.SupervisorHealth{}, Daemons: []supervise.Status{
			{Name: "controller", State: lab.DaemonDead, Since: at},
		}}, []string{"supervisor: NOT RUNNING", "controller  dead   -    0         08:00:00  -"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			printDaemons(&app{out: &out}, &tc.in)
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestPrintInspectionAgents: a router's agent, served by the lab's agent
// host outside its namespace, shows beside the processes inside it.
func TestPrintInspectionAgents(t *testing.T) {
	in := lab.Inspection{Name: "tri", Nodes: []lab.NodeStatus{
		{Name: "r1", Kind: "router", Namespace: "tri.r1", Present: true, Processes: []string{"zebra[5]"}, Agent: "served by agents (pid 11)"},
		{Name: "h1", Kind: "host", Namespace: "tri.h1", Present: true},
	}}
	var out bytes.Buffer
	if err := printInspection(&app{out: &out}, &in); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	var r1, h1 string
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, "r1 "):
			r1 = l
		case strings.HasPrefix(l, "h1 "):
			h1 = l
		}
	}
	if !strings.HasSuffix(r1, "zebra[5] agent served by agents (pid 11)") {
		t.Errorf("r1's line: %q", r1)
	}
	if strings.Contains(h1, "agent") {
		t.Errorf("h1's line: %q", h1)
	}
}
