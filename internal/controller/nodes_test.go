package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
)

func TestAgentStatus(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		stream    linkStream
		report    *agentReport
		connected bool
		gen       uint64
		err       string
	}{
		{"never heard of", linkStream{}, nil, false, 0, "no link stream from the agent yet"},
		{"pushed, no stream yet", linkStream{}, &agentReport{applied: true, generation: 3}, false, 3, "no link stream from the agent yet"},
		{"stream, no push yet", linkStream{up: true, changed: t0}, nil, false, 0, "no push has reached the agent yet"},
		{"connected", linkStream{up: true, changed: t0}, &agentReport{applied: true, generation: 4}, true, 4, ""},
		{"connected, state refused", linkStream{up: true, changed: t0}, &agentReport{applied: true, generation: 5, rejected: "bad SID"}, true, 5, "bad SID"},
		{"push failing", linkStream{up: true, changed: t0}, &agentReport{applied: true, generation: 4, unreachable: "apply on r1: deadline exceeded"}, false, 4, "apply on r1: deadline exceeded"},
		{"stream ended", linkStream{changed: t0}, &agentReport{applied: true, generation: 4}, false, 4, "the agent's link stream ended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := agentStatus(tt.stream, tt.report)
			want := restv1.AgentStatus{Connected: tt.connected, Generation: tt.gen, Since: tt.stream.changed, Error: tt.err}
			if got != want {
				t.Errorf("agentStatus = %+v, want %+v", got, want)
			}
		})
	}
}

// TestNodesThroughTheAPI: GET /v1/nodes lists every router, connected
// once its link stream is up and a push reached it, and not when the
// stream ends.
func TestNodesThroughTheAPI(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	client := restv1.NewClient(guarded(t, c, HandlerConfig{}).URL, restv1.WithToken(testToken))
	connected := func() map[string]bool {
		t.Helper()
		ns, err := client.Nodes(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, n := range ns {
			out[n.Name] = n.Agent.Connected
		}
		return out
	}
	want := func(got map[string]bool, r1, r2, r3 bool) {
		t.Helper()
		if len(got) != 3 || got["r1"] != r1 || got["r2"] != r2 || got["r3"] != r3 {
			t.Errorf("connected %v, want r1 %v r2 %v r3 %v (routers only)", got, r1, r2, r3)
		}
	}
	want(connected(), false, false, false)
	now := time.Now()
	for _, r := range []string{"r1", "r2", "r3"} {
		c.linkStreamChanged(r, true, now)
	}
	want(connected(), false, false, false) // no push yet
	syncAgents(c)
	want(connected(), true, true, true)
	c.linkStreamChanged("r2", false, now)
	c.agentUnreachable("r2", errors.New("link event stream ended"), now)
	want(connected(), true, false, true)
}
