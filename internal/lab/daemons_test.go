package lab

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sr6net/sr6/internal/supervise"
)

// TestDaemonSpecsByKind: the daemons of each node are those its kind runs,
// FRR's included, in the kind's order; isisd runs after its zebra.
func TestDaemonSpecsByKind(t *testing.T) {
	const line = "version: 1\nname: tri\n%ROUTING%nodes:\n  r1: {kind: router}\n  r2: {kind: router}\n  h1: {kind: host}\n" +
		"links:\n  - endpoints: [r1:eth1, r2:eth1]\n  - endpoints: [h1:eth0, r1:eth0]\n"
	tests := []struct {
		name       string
		routing    string
		agents     bool
		controller string
		want       []string // names, in start order
		after      map[string][]string
		supervised bool
	}{
		{"static, no daemons", "static", false, "", nil, nil, false},
		{"static, agents and controller", "static", true, "http://127.0.0.1:7700",
			[]string{"agents", "controller"}, nil, true},
		{"isis, FRR only", "isis", false, "",
			[]string{"zebra/r1", "isisd/r1", "zebra/r2", "isisd/r2"},
			map[string][]string{"isisd/r1": {"zebra/r1"}, "isisd/r2": {"zebra/r2"}}, true},
		{"isis, everything", "isis", true, "http://127.0.0.1:7700",
			[]string{"zebra/r1", "isisd/r1", "zebra/r2", "isisd/r2", "agents", "controller"},
			map[string][]string{"isisd/r1": {"zebra/r1"}, "isisd/r2": {"zebra/r2"}}, true},
	}
	l := Layout{Dir: "/var/lib/sr6/labs/tri"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			text := strings.Replace(line, "%ROUTING%", "routing: "+tc.routing+"\n", 1)
			st := &State{Name: "tri", Source: "t.yaml", Topology: text, Agents: tc.agents, Controller: tc.controller}
			nw, err := stateNetwork(st)
			if err != nil {
				t.Fatal(err)
			}
			if got := supervised(st, nw); got != tc.supervised {
				t.Errorf("supervised = %v, want %v", got, tc.supervised)
			}
			specs, err := daemonSpecs(st, nw, l, "/usr/bin/sr6", "/var/lib/sr6/labs")
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range specs {
				names = append(names, s.Name)
				if !slices.Equal(s.After, tc.after[s.Name]) {
					t.Errorf("%s runs after %v, want %v", s.Name, s.After, tc.after[s.Name])
				}
				if s.PidFile == "" || s.LogFile == "" || s.Ready == nil {
					t.Errorf("%s: pid file %q, log %q, readiness check %v", s.Name, s.PidFile, s.LogFile, s.Ready != nil)
				}
				if s.Name == "agents" {
					// One process in the host's namespace serves every
					// router's agent.
					if s.Netns != "" || !slices.Equal(s.Args, AgentHostArgs("/var/lib/sr6/labs", "tri")) ||
						s.PidFile != l.AgentHostPid() || s.LogFile != l.AgentHostLog() {
						t.Errorf("agents: netns %q, args %v, pid file %s, log %s", s.Netns, s.Args, s.PidFile, s.LogFile)
					}
				}
				daemon, node, isFRR := strings.Cut(s.Name, "/")
				if daemon != "zebra" && daemon != "isisd" {
					continue
				}
				if !isFRR || s.Netns != "tri."+node || s.Path != filepath.Join(FRRDir, daemon) {
					t.Errorf("%s: netns %q, path %q", s.Name, s.Netns, s.Path)
				}
				// In the foreground, so that the supervisor is its parent;
				// FRR's own pid file is not the supervisor's.
				if slices.Contains(s.Args, "-d") || slices.Contains(s.Args, "--daemon") {
					t.Errorf("%s daemonises: %v", s.Name, s.Args)
				}
				if s.PidFile != l.FRRPid(node, daemon) || !slices.Contains(s.Args, l.FRRLockPid(node, daemon)) {
					t.Errorf("%s: pid file %s, args %v", s.Name, s.PidFile, s.Args)
				}
				for _, want := range []string{l.FRRConf(node, daemon), l.FRRZserv(node), l.FRRVtyDir(node), "file:" + l.FRRLog(node)} {
					if !slices.Contains(s.Args, want) {
						t.Errorf("%s: %s not in its arguments %v", s.Name, want, s.Args)
					}
				}
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("daemons %v, want %v", names, tc.want)
			}
			files := daemonPidFiles(st, l)
			// The agents' host, and the per-router agents of an older sr6.
			if !slices.Contains(files, l.ControllerPid()) || !slices.Contains(files, l.AgentHostPid()) || !slices.Contains(files, l.AgentPid("r2")) ||
				(tc.routing == "isis") != slices.Contains(files, l.FRRPid("r2", "isisd")) {
				t.Errorf("pid files for destroy: %v", files)
			}
		})
	}
}

// TestVtyCommand speaks the vtysh protocol against a fake daemon: the
// command NUL-terminated, the answer ending in three NULs and a status.
func TestVtyCommand(t *testing.T) {
	tests := []struct {
		name    string
		reply   []string // written in these pieces
		want    string
		wantErr string
	}{
		{"success", []string{"FRRouting 8.4.4\n", "\x00\x00\x00\x00"}, "FRRouting 8.4.4\n", ""},
		{"split terminator", []string{"ok\x00", "\x00", "\x00\x00"}, "ok", ""},
		{"failure status", []string{"% Unknown command: show versio\n\x00\x00\x00\x02"}, "", "status 2: % Unknown command"},
		{"hangs up", []string{"half an answer"}, "", "EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sock := filepath.Join(t.TempDir(), "d.vty")
			ln, err := net.Listen("unix", sock)
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			got := make(chan string, 1)
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				buf := make([]byte, 64)
				n, _ := c.Read(buf)
				got <- string(buf[:n])
				for _, piece := range tc.reply {
					_, _ = c.Write([]byte(piece))
					time.Sleep(5 * time.Millisecond)
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			out, err := vtyCommand(ctx, sock, "show version")
			if sent := <-got; sent != "show version\x00" {
				t.Errorf("sent %q", sent)
			}
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want %q", err, tc.wantErr)
			case tc.wantErr == "" && out != tc.want:
				t.Errorf("output %q, want %q", out, tc.want)
			}
		})
	}
	if _, err := vtyCommand(context.Background(), filepath.Join(t.TempDir(), "none.vty"), "show version"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("no socket: %v", err)
	}
}

// TestWithLogTails: a deploy whose daemons are not ready says what their
// logs said last, for rollback removes the logs.
func TestWithLogTails(t *testing.T) {
	text := "version: 1\nname: tri\nrouting: isis\nnodes:\n  r1: {kind: router}\n  r2: {kind: router}\nlinks:\n  - endpoints: [r1:eth1, r2:eth1]\n"
	st := &State{Name: "tri", Source: "t.yaml", Topology: text}
	nw, err := stateNetwork(st)
	if err != nil {
		t.Fatal(err)
	}
	l := Layout{Dir: t.TempDir()}
	for _, n := range []string{"r1", "r2"} {
		if err := os.MkdirAll(l.Node(n), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	files := map[string]string{
		l.FRROut("r1", "isisd"): "line 1\nisisd: cannot open config\n",
		l.FRRLog("r1"):          "ISIS: one\nISIS: two\nISIS: three\n",
		l.FRROut("r2", "zebra"): "zebra is fine\n",
	}
	for f, text := range files {
		if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d := &deployer{nw: nw, st: st, layout: l, opts: Options{Binary: "/bin/sr6", Store: Store{Dir: filepath.Dir(l.Dir)}}}
	status := &DaemonsStatus{Daemons: []supervise.Status{
		{Name: "zebra/r1", State: supervise.Ready}, {Name: "isisd/r1", State: supervise.Backoff},
		{Name: "zebra/r2", State: supervise.Ready}, {Name: "isisd/r2", State: supervise.Waiting},
	}}
	err = d.withLogTails(errors.New("daemons not ready"), status)
	want := "daemons not ready; last words: isisd/r1 (isisd.out): line 1 | isisd: cannot open config; isisd/r1 (frr.log): ISIS: two | ISIS: three"
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
	if err := d.withLogTails(errors.New("x"), nil); err.Error() != "x" {
		t.Errorf("without status: %v", err)
	}
}
