package controller

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/dataplane"
)

// TestDesiredThroughTheAPI: GET /v1/nodes/{name}/desired shows the
// controller's model of a router's state, field for field, through the
// typed client; empty lists are [] and unset optional fields absent.
func TestDesiredThroughTheAPI(t *testing.T) {
	c := newTestController(t, "triangle.yaml")
	ctx := context.Background()
	for _, p := range []Policy{{Name: "fwd", From: "h1", To: "h2", Include: []string{"r2"}}, {Name: "back", From: "h2", To: "h1"}} {
		if _, err := c.AddPolicy(ctx, p, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.StartSession(ctx, Session{Name: "d", Policy: "fwd", Delay: true, ReturnPolicy: "back"}); err != nil {
		t.Fatal(err)
	}
	h, err := c.NewHandler(HandlerConfig{Token: "t0ken"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	client := restv1.NewClient(srv.URL, restv1.WithToken("t0ken"))

	got, err := client.Desired(ctx, "r1")
	if err != nil {
		t.Fatal(err)
	}
	want := c.Desired("r1")
	if got.Generation != want.Generation || got.Generation == 0 {
		t.Errorf("generation %d, the model's %d", got.Generation, want.Generation)
	}
	if len(got.Steering) != len(want.Steering) || len(got.Steering) == 0 {
		t.Fatalf("%d steering routes, the model has %d", len(got.Steering), len(want.Steering))
	}
	for i, s := range want.Steering {
		g := got.Steering[i]
		if g.Prefix != s.Prefix || string(g.Mode) != string(s.Mode) || !slices.Equal(g.Segments, s.Segments) || g.Policy != s.Policy {
			t.Errorf("steering[%d] %+v, the model's %+v", i, g, s)
		}
	}
	if len(got.SIDs) != len(want.SIDs) {
		t.Fatalf("%d SIDs, the model has %d", len(got.SIDs), len(want.SIDs))
	}
	for i, s := range want.SIDs {
		g := got.SIDs[i]
		if g.SID != s.SID || g.Action != string(s.Behavior.Action) || g.Table != s.Behavior.Table {
			t.Errorf("sids[%d] %+v, the model's %+v", i, g, s)
		}
		switch s.Behavior.Action {
		case dataplane.EndDX4:
			if g.NH4 == nil || g.NH4.String() != "0.0.0.0" || g.NH6 != nil {
				t.Errorf("End.DX4 %+v: want nh4 0.0.0.0 and no nh6", g)
			}
		case dataplane.EndX:
			if g.NH6 == nil || *g.NH6 != s.Behavior.NH6 || g.NH4 != nil {
				t.Errorf("End.X %+v: want nh6 %s and no nh4", g, s.Behavior.NH6)
			}
		case dataplane.End:
			if g.NH4 != nil || g.NH6 != nil || g.Table != 0 {
				t.Errorf("End %+v has parameters", g)
			}
		}
	}
	if len(got.Underlay) != len(want.Underlay) || !got.Underlay[0].Unreachable || got.Underlay[0].Via != nil {
		t.Errorf("underlay %+v, the model's %+v (the locator's unreachable route first)", got.Underlay, want.Underlay)
	}
	for i, u := range want.Underlay[1:] {
		if g := got.Underlay[i+1]; g.Prefix != u.Prefix || g.Via == nil || *g.Via != u.Via || g.Dev != u.Dev {
			t.Errorf("underlay[%d] %+v, the model's %+v", i+1, g, u)
		}
	}
	pm := got.PM
	if pm == nil || pm.PeriodMs != 1000 || pm.MarkMask != DefaultMarkMask || pm.ProbeAddr == nil || *pm.ProbeAddr != want.PM.Probe {
		t.Fatalf("pm %+v, the model's %+v", pm, want.PM)
	}
	if len(pm.Delays) != 1 || pm.Delays[0].Target != want.PM.Delays[0].Target || pm.Delays[0].IntervalMs != 100 {
		t.Errorf("delays %+v, the model's %+v", pm.Delays, want.PM.Delays)
	}
	if len(pm.Lists) == 0 || pm.Lists[0].Role != restv1.RoleHeadend {
		t.Errorf("r1 lists %+v: want fwd's lists as headend", pm.Lists)
	}
	tail, err := client.Desired(ctx, "r3")
	if err != nil {
		t.Fatal(err)
	}
	if tail.PM == nil || len(tail.PM.Lists) == 0 || tail.PM.Lists[0].Role != restv1.RoleTail || len(tail.PM.Delays) != 0 {
		t.Errorf("r3 pm %+v: want fwd's lists as tail, no delays", tail.PM)
	}

	// r2 heads no policy: its steering is [] and, measuring nothing but
	// its reflector, its delays too.
	req, _ := http.NewRequest("GET", srv.URL+"/v1/nodes/r2/desired", nil)
	req.Header.Set("Authorization", "Bearer t0ken")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		t.Fatal(err)
	}
	if string(raw["steering"]) != "[]" {
		t.Errorf("r2 steering %s, want []", raw["steering"])
	}
	var rawPM map[string]json.RawMessage
	if err := json.Unmarshal(raw["pm"], &rawPM); err != nil || string(rawPM["delays"]) != "[]" || string(rawPM["lists"]) != "[]" {
		t.Errorf("r2 pm %s, want [] lists and delays", raw["pm"])
	}
}
