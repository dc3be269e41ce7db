package cli

import (
	"strings"
	"testing"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/lab"
)

func TestImpairFlags(t *testing.T) {
	tests := []struct {
		f    impairFlags
		want restv1.Impairment
		err  string
	}{
		{f: impairFlags{loss: "5%", rate: "10mbit"}, want: restv1.Impairment{LossPercent: 5, RateBps: 10e6}},
		{f: impairFlags{delay: "10ms", jitter: "1ms"}, want: restv1.Impairment{DelayUs: 10000, JitterUs: 1000}},
		{f: impairFlags{clear: true}, want: restv1.Impairment{}},
		{f: impairFlags{loss: "140%"}, err: `--loss: loss "140%" must be a percentage from 0% to 100%`},
		{f: impairFlags{loss: "5"}, err: `--loss: loss "5" needs a % sign`},
		{f: impairFlags{rate: "10mbps"}, err: "--rate: rate \"10mbps\" must be a number with a unit"},
		{f: impairFlags{delay: "soon"}, err: "--delay: latency \"soon\" must be a duration"},
		{f: impairFlags{jitter: "1ms"}, err: "jitter needs a delay"},
		{f: impairFlags{}, err: "give --loss, --rate, --delay and/or --jitter, or --clear"},
		{f: impairFlags{clear: true, loss: "1%"}, err: "--clear takes no --loss"},
	}
	for _, tc := range tests {
		got, err := tc.f.impairment()
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%+v: %v, want %q", tc.f, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("%+v = %+v, %v, want %+v", tc.f, got, err, tc.want)
		}
	}
}

func TestFormatBits(t *testing.T) {
	for in, want := range map[float64]string{0: "0", 812: "812", 12345: "12.3k", 9.87e6: "9.87M", 1e9: "1.00G", 250e6: "250M"} {
		if got := formatBits(in); got != want {
			t.Errorf("formatBits(%g) = %q, want %q", in, got, want)
		}
	}
}

func TestLabArgs(t *testing.T) {
	dir := t.TempDir()
	a := &app{stateDir: dir}
	s := lab.Store{Dir: dir}
	if err := s.Save(&lab.State{Name: "only", Phase: lab.PhaseRunning}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		flagLab        string
		args           []string
		name, ep, rest string
		err            string
	}{
		{args: []string{"r1:eth1", "down"}, name: "only", ep: "r1:eth1", rest: "down"},
		{args: []string{"tri", "r1:eth1", "up"}, name: "tri", ep: "r1:eth1", rest: "up"},
		{flagLab: "tri", args: []string{"r1:eth1"}, name: "tri", ep: "r1:eth1"},
		{flagLab: "tri", args: []string{"tri", "r1:eth1"}, name: "tri", ep: "r1:eth1"},
		{flagLab: "other", args: []string{"tri", "r1:eth1"}, err: "given twice, differently"},
		{args: []string{"tri"}, err: "name an interface as node:interface after the lab tri"},
		{args: []string{"Bad.Name", "r1:eth1"}, err: "lab name"},
		{flagLab: "a/b", args: []string{"r1:eth1"}, err: "--lab"},
	}
	for _, tc := range tests {
		name, ep, rest, err := a.labArgs(tc.flagLab, tc.args)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("labArgs(%q, %q): %v, want %q", tc.flagLab, tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || name != tc.name || ep != tc.ep || strings.Join(rest, " ") != tc.rest {
			t.Errorf("labArgs(%q, %q) = %s %s %v %v", tc.flagLab, tc.args, name, ep, rest, err)
		}
	}
	// stats: one argument is a lab when there is one of that name, else a
	// node of the only lab.
	for _, tc := range []struct {
		args         []string
		name, target string
	}{
		{[]string{"only"}, "only", ""},
		{[]string{"r1"}, "only", "r1"},
		{[]string{"r1:eth0"}, "only", "r1:eth0"},
		{[]string{"x", "r1"}, "x", "r1"},
		{nil, "only", ""},
	} {
		name, target, err := a.statsArgs("", tc.args)
		if err != nil || name != tc.name || target != tc.target {
			t.Errorf("statsArgs(%q) = %q %q %v, want %q %q", tc.args, name, target, err, tc.name, tc.target)
		}
	}
}

func TestRuntimeCommandsRefuseBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"lab", "impair", "tri", "r1:eth1", "--loss", "140%"}, `--loss: loss "140%" must be a percentage from 0% to 100%`},
		{[]string{"lab", "impair", "tri", "r1:eth1"}, "give --loss"},
		{[]string{"lab", "link", "set", "tri", "r1:eth1", "sideways"}, "say down or up after r1:eth1"},
		{[]string{"lab", "link", "set", "r1:eth1"}, "accepts between 2 and 3 arg(s)"},
	}
	for _, tc := range tests {
		code, _, stderr := run(t, append([]string{"--state-dir", dir}, tc.args...)...)
		if code == 0 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestPrintStatsAndInterfaces(t *testing.T) {
	var out strings.Builder
	s := restv1.StatsSample{Lab: "tri", IntervalS: 1, Interfaces: []restv1.InterfaceStats{
		{Node: "r1", Interface: "eth1", Peer: "r2:eth1", State: "up", RxBps: 9.87e6, TxBps: 812, RxPps: 850, TxPps: 2,
			RxPackets: 1000, TxPackets: 20, TxDropped: 3},
	}}
	if err := printStats(&out, s); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"lab tri at ", "(over 1.00s)", "RX bit/s", "r1  eth1  r2:eth1     up     9.87M       812       850         2     1000       20        0        3"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stats table lacks %q:\n%s", want, out.String())
		}
	}
	tests := []struct {
		in   lab.InterfaceStatus
		want string
	}{
		{lab.InterfaceStatus{Name: "eth1", Peer: "r2:eth1", State: "UP"}, "eth1>r2:eth1(up)"},
		{lab.InterfaceStatus{Name: "eth1", Peer: "r2:eth1", State: "up",
			Impairment: &restv1.Impairment{LossPercent: 5, RateBps: 10e6, Source: restv1.ImpairRuntime}},
			"eth1>r2:eth1(up; loss 5% rate 10mbit (runtime))"},
		{lab.InterfaceStatus{Name: "eth2", Peer: "r3:eth1", State: "down",
			Impairment: &restv1.Impairment{RateBps: 50e6, Source: restv1.ImpairTopology}},
			"eth2>r3:eth1(down; rate 50mbit)"},
	}
	for _, tc := range tests {
		if got := interfaceText(tc.in); got != tc.want {
			t.Errorf("interfaceText = %q, want %q", got, tc.want)
		}
	}
}
