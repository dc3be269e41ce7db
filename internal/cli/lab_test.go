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
			{Name: "agent/r1", State: supervise.Ready, PID: 11, Since: at},
			{Name: "controller", State: supervise.Backoff, Restarts: 3, Since: at,
				LastExit: &supervise.Exit{Code: 1, Reason: "exit status 1", Time: at}},
		}}, []string{
			"supervisor: running (pid 10)",
			"DAEMON      STATE    PID  RESTARTS  SINCE     LAST EXIT",
			"agent/r1    ready    11   0         08:00:00  -",
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
