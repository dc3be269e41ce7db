package lab

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
)

const triangle = `version: 1
name: %s
nodes:
  r1: {kind: router}
  r2: {kind: router}
  %s: {kind: router}
  h1: {kind: host}
links:
  - endpoints: [h1:eth0, r1:eth0]
  - endpoints: [r1:eth1, r2:eth1]
    loss: 2%%
  - endpoints: [r2:eth2, %s:eth2]
    rate: 10mbit
`

// saveLab writes the state of a lab that is not running (no namespaces
// exist), third naming its third router.
func saveLab(t *testing.T, s Store, name, third string, edit func(*State)) {
	t.Helper()
	st := &State{Name: name, Source: name + ".yaml", Topology: fmt.Sprintf(triangle, name, third, third), Phase: PhaseRunning}
	for _, n := range []string{"r1", "r2", third, "h1"} {
		st.Namespaces = append(st.Namespaces, Namespace(name, n))
	}
	if edit != nil {
		edit(st)
	}
	if err := s.Save(st); err != nil {
		t.Fatal(err)
	}
}

func TestResolveEndpoint(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	saveLab(t, s, "alpha", "r3", nil)
	saveLab(t, s, "beta", "r9", nil)
	opts := Options{Store: s}
	opts.defaults()
	tests := []struct{ lab, endpoint, want string }{
		{"alpha", "r9:eth2", "lab alpha has no node r9 (its nodes: r1, r2, r3, h1); r9 is a node of lab beta"},
		{"alpha", "r7:eth2", "lab alpha has no node r7 (its nodes: r1, r2, r3, h1)"},
		{"alpha", "r1:eth2", "node r1 of lab alpha has no interface eth2 (its interfaces: eth0, eth1)"},
		{"alpha", "r1:sr6", "interface name sr6 is reserved"},
		{"alpha", "r1", `"r1" is not an endpoint: write node:interface`},
		{"alpha", "r1:eth1", "lab alpha is not running: namespace alpha.r1 is missing"},
		{"gamma", "r1:eth1", "no lab gamma in " + s.Dir},
	}
	for _, tc := range tests {
		t.Run(tc.lab+"/"+tc.endpoint, func(t *testing.T) {
			_, err := resolveEndpoint(opts, tc.lab, tc.endpoint)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("resolveEndpoint(%s, %s) = %v, want %q", tc.lab, tc.endpoint, err, tc.want)
			}
			if strings.HasSuffix(tc.want, "(its nodes: r1, r2, r3, h1)") && strings.Contains(err.Error(), "beta") {
				t.Errorf("a node no other lab has was said to be another lab's: %v", err)
			}
		})
	}
}

func TestResolveLab(t *testing.T) {
	s := Store{Dir: filepath.Join(t.TempDir(), "labs")}
	opts := Options{Store: s}
	check := func(name, want string, wantErr string) {
		t.Helper()
		got, err := ResolveLab(opts, name)
		if wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), wantErr) {
				t.Errorf("ResolveLab(%q) = %q, %v, want error %q", name, got, err, wantErr)
			}
			return
		}
		if err != nil || got != want {
			t.Errorf("ResolveLab(%q) = %q, %v, want %q", name, got, err, want)
		}
	}
	check("", "", "no lab is deployed in "+s.Dir)
	check("a.b", "", "lab name")
	saveLab(t, s, "alpha", "r3", nil)
	check("", "alpha", "")
	check("other", "other", "") // named: checked where it is loaded
	saveLab(t, s, "beta", "r3", nil)
	check("", "", "2 labs are deployed (alpha, beta): name one")
	check("beta", "beta", "")
	if err := os.MkdirAll(filepath.Join(s.Dir, "not-a-lab"), 0o755); err != nil {
		t.Fatal(err)
	}
	check("", "", "2 labs are deployed")
}

func TestCheckImpairment(t *testing.T) {
	tests := []struct {
		imp  restv1.Impairment
		want string // "" = valid
	}{
		{restv1.Impairment{}, ""},
		{restv1.Impairment{LossPercent: 100, RateBps: 8000, DelayUs: 10_000_000, JitterUs: 1}, ""},
		{restv1.Impairment{LossPercent: 0.25}, ""},
		{restv1.Impairment{LossPercent: 140}, "loss 140% must be a percentage from 0% to 100%"},
		{restv1.Impairment{LossPercent: -1}, "must be a percentage"},
		{restv1.Impairment{LossPercent: 0.125}, "more than two decimals"},
		{restv1.Impairment{RateBps: 7999}, "rate 7999 bit/s is out of range"},
		{restv1.Impairment{DelayUs: 10_000_001}, "delay 10000001us is out of range"},
		{restv1.Impairment{DelayUs: 1, JitterUs: 10_000_001}, "jitter 10000001us is out of range"},
		{restv1.Impairment{JitterUs: 5}, "jitter needs a delay"},
	}
	for _, tc := range tests {
		err := CheckImpairment(tc.imp)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("CheckImpairment(%+v) = %v, want %q", tc.imp, err, tc.want)
		}
	}
}

func TestEffectiveImpairments(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	saveLab(t, s, "alpha", "r3", func(st *State) {
		st.Impairments = []restv1.Impairment{
			{Node: "r1", Interface: "eth1", Source: restv1.ImpairRuntime},                             // clears the topology's 2 %
			{Node: "r3", Interface: "eth2", RateBps: 5e6, Source: restv1.ImpairRuntime},               // replaces its 10mbit
			{Node: "h1", Interface: "eth0", LossPercent: 1, DelayUs: 1, Source: restv1.ImpairRuntime}, // new
		}
	})
	st, err := s.Load("alpha")
	if err != nil {
		t.Fatal(err)
	}
	nw, err := stateNetwork(st)
	if err != nil {
		t.Fatal(err)
	}
	got := effectiveImpairments(st, nw)
	want := map[string]string{
		"r2:eth1": "loss 2% (topology)",
		"r2:eth2": "rate 10mbit (topology)",
		"r3:eth2": "rate 5mbit (runtime)",
		"h1:eth0": "loss 1% delay 1µs (runtime)",
	}
	if len(got) != len(want) {
		t.Errorf("effective impairments %v, want %v", got, want)
	}
	for k, w := range want {
		imp, ok := got[k]
		if s := FormatImpairment(imp) + " (" + imp.Source + ")"; !ok || s != w {
			t.Errorf("%s: %q, want %q", k, s, w)
		}
	}
	if FormatImpairment(restv1.Impairment{}) != "none" {
		t.Errorf("FormatImpairment of nothing: %q", FormatImpairment(restv1.Impairment{}))
	}
}

func TestRate(t *testing.T) {
	tests := []struct {
		prev, cur uint64
		secs      float64
		want      float64
	}{
		{100, 300, 2, 100},
		{0, 0, 1, 0},
		{500, 100, 1, 100}, // counters re-created: from zero
	}
	for _, tc := range tests {
		if got := rate(tc.prev, tc.cur, tc.secs); got != tc.want {
			t.Errorf("rate(%d, %d, %g) = %g, want %g", tc.prev, tc.cur, tc.secs, got, tc.want)
		}
	}
}
