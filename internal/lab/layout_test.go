package lab

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/sr6net/sr6/internal/controller"
)

func TestLayoutPaths(t *testing.T) {
	l, err := Store{Dir: "/var/lib/sr6/labs"}.Layout("tri")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (Store{Dir: "/var/lib/sr6/labs"}).Layout("x/../.."); err == nil {
		t.Error("Layout took a name that leaves the state directory")
	}
	tests := []struct{ got, want string }{
		{l.State(), "/var/lib/sr6/labs/tri/state.json"},
		{l.Lock(), "/var/lib/sr6/labs/.tri.lock"},
		{l.PKI(), "/var/lib/sr6/labs/tri/pki"},
		{l.APIToken(), "/var/lib/sr6/labs/tri/pki/api.token"},
		{l.Node("r1"), "/var/lib/sr6/labs/tri/r1"},
		{l.AgentSocket("r1"), "/var/lib/sr6/labs/tri/r1/agent.sock"},
		{l.AgentState("r1"), "/var/lib/sr6/labs/tri/r1/agent.state"},
		{l.AgentLog("r1"), "/var/lib/sr6/labs/tri/r1/agent.log"},
		{l.AgentPid("r1"), "/var/lib/sr6/labs/tri/r1/agent.pid"},
		{l.AgentHostLog(), "/var/lib/sr6/labs/tri/agents.log"},
		{l.AgentHostPid(), "/var/lib/sr6/labs/tri/agents.pid"},
		{l.ControllerLog(), "/var/lib/sr6/labs/tri/controller.log"},
		{l.ControllerDB(), "/var/lib/sr6/labs/tri/controller.db"},
		{l.ControllerBus(), "/var/lib/sr6/labs/tri/bus"},
		{l.ControllerPid(), "/var/lib/sr6/labs/tri/controller.pid"},
		{l.SupervisorPid(), "/var/lib/sr6/labs/tri/supervisor.pid"},
		{l.SupervisorStatus(), "/var/lib/sr6/labs/tri/supervisor.json"},
		{l.SupervisorLog(), "/var/lib/sr6/labs/tri/supervisor.log"},
		{l.FRRConf("r1", "isisd"), "/var/lib/sr6/labs/tri/r1/isisd.conf"},
		{l.FRRPid("r1", "zebra"), "/var/lib/sr6/labs/tri/r1/zebra.pid"},
		{l.FRRLockPid("r1", "zebra"), "/var/lib/sr6/labs/tri/r1/zebra.frr-pid"},
		{l.FRRVty("r1", "isisd"), "/var/lib/sr6/labs/tri/r1/isisd.vty"},
		{l.FRROut("r1", "zebra"), "/var/lib/sr6/labs/tri/r1/zebra.out"},
		{l.FRRZserv("r1"), "/var/lib/sr6/labs/tri/r1/zserv.api"},
		{l.FRRLog("r1"), "/var/lib/sr6/labs/tri/r1/frr.log"},
		{l.FRRVtyDir("r1"), "/var/lib/sr6/labs/tri/r1"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
}

func TestListenAddr(t *testing.T) {
	tests := []struct{ url, want, err string }{
		{"http://127.0.0.1:7700", "127.0.0.1:7700", ""},
		{"http://[::1]:80", "[::1]:80", ""},
		{"https://127.0.0.1:7700", "", "want http://HOST:PORT"},
		{"http://127.0.0.1", "", "missing port"},
		{"", "", "want http://HOST:PORT"},
	}
	for _, tc := range tests {
		got, err := listenAddr(tc.url)
		if got != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("listenAddr(%q) = %q, %v; want %q, %q", tc.url, got, err, tc.want, tc.err)
		}
	}
}

func TestDaemonSpecs(t *testing.T) {
	raw, err := os.ReadFile("../../examples/triangle.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st := &State{Name: "tri", Source: "triangle.yaml", Topology: string(raw), Agents: true, Controller: "http://127.0.0.1:7711"}
	nw, err := stateNetwork(st)
	if err != nil {
		t.Fatal(err)
	}
	l, err := Store{Dir: "/s"}.Layout("tri")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		st    State
		names []string
	}{
		{"no daemons", State{Name: "tri"}, nil},
		{"agents only", State{Name: "tri", Agents: true}, []string{"agents"}},
		{"agents and controller", *st, []string{"agents", "controller"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			specs, err := daemonSpecs(&tc.st, nw, l, "/bin/sr6", "/s")
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range specs {
				names = append(names, s.Name)
				if s.Path != "/bin/sr6" || s.Ready == nil || s.PidFile == "" || s.LogFile == "" {
					t.Errorf("%s: incomplete spec %+v", s.Name, s)
				}
				args := strings.Join(s.Args, " ")
				switch {
				case s.Name == "agents":
					// One host process for every router's agent, each
					// configured as `sr6 agent` would be.
					if args != "--state-dir /s lab agents tri" || s.Netns != "" || s.PidFile != l.AgentHostPid() {
						t.Errorf("agents: args %q netns %q", args, s.Netns)
					}
					want := "agent --node r1 --listen unix:///s/tri/r1/agent.sock --state-file /s/tri/r1/agent.state"
					if got := strings.Join(agentOptions(l, "r1").Args(), " "); !strings.HasPrefix(got, want) {
						t.Errorf("r1's agent options %q, want %q...", got, want)
					}
				case s.Name == "controller":
					// Parsed back by the controller's own flags.
					got := controller.DefaultOptions()
					f := pflag.NewFlagSet("controller", pflag.ContinueOnError)
					got.BindFlags(f)
					f.StringVar(&got.StateDir, "state-dir", "", "")
					if err := f.Parse(s.Args[1:]); err != nil || s.Args[0] != "controller" {
						t.Fatalf("controller args %q: %v", s.Args, err)
					}
					if got.Lab != "tri" || got.StateDir != "/s" || got.Listen != "127.0.0.1:7711" || got.TokenFile != l.APIToken() ||
						got.BusDir != l.ControllerBus() || got.StoreURL != "bolt://"+l.ControllerDB() || s.Netns != "" {
						t.Errorf("controller: args %q netns %q", args, s.Netns)
					}
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.names, ",") {
				t.Errorf("daemons %v, want %v", names, tc.names)
			}
		})
	}
}
