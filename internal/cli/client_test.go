package cli

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	"github.com/sr6net/sr6/internal/controller"
	"github.com/sr6net/sr6/internal/intent"
	"github.com/sr6net/sr6/internal/lab"
	"github.com/sr6net/sr6/internal/store"
	"github.com/sr6net/sr6/internal/testutil"
	"github.com/sr6net/sr6/internal/topo"
)

type nopPusher struct{}

func (nopPusher) Push(context.Context, string, *intent.State) (controller.Applied, error) {
	return controller.Applied{}, nil
}

// fakeLab serves a real controller for the triangle behind token, and
// records it as lab rs-cli-<n>'s controller in a fresh state directory.
func fakeLab(t *testing.T, token string) (c *controller.Controller, url, stateDir, name string) {
	t.Helper()
	nw, err := topo.LoadNetwork("../../examples/triangle.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBolt(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c, err = controller.New(nw, st, nopPusher{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := c.NewHandler(controller.HandlerConfig{Token: token})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	stateDir, name = t.TempDir(), "rs-cli"
	ls := lab.Store{Dir: stateDir}
	if err := ls.Save(&lab.State{Name: name, Phase: lab.PhaseRunning, Controller: srv.URL}); err != nil {
		t.Fatal(err)
	}
	return c, srv.URL, stateDir, name
}

func writeToken(t *testing.T, path, token string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil { // WriteFile keeps an existing file's mode
		t.Fatal(err)
	}
}

func TestCLIToken(t *testing.T) {
	_, url, stateDir, name := fakeLab(t, "lab-token-0123456789")
	other := filepath.Join(t.TempDir(), "tok")
	writeToken(t, other, "lab-token-0123456789")
	wrong := filepath.Join(t.TempDir(), "wrong")
	writeToken(t, wrong, "not-it-0123456789abcdef")
	tests := []struct {
		name   string
		env    string
		setup  func()
		args   []string
		code   int
		stderr string
	}{
		{name: "lab without its token file", args: []string{"policy", "list", "--lab", name, "--state-dir", stateDir},
			code: 1, stderr: "pki/api.token: no such file or directory"},
		{name: "the lab's token", setup: func() {
			writeToken(t, lab.Layout{Dir: filepath.Join(stateDir, name)}.APIToken(), "lab-token-0123456789")
		},
			args: []string{"policy", "list", "--lab", name, "--state-dir", stateDir}, code: 0},
		{name: "an explicit wrong token wins over the lab's", args: []string{"policy", "list", "--lab", name, "--state-dir", stateDir, "--token-file", wrong},
			code: 1, stderr: "wrong bearer token"},
		{name: "URL without a token", args: []string{"topo", "show", "--controller", url}, code: 1, stderr: "missing bearer token"},
		{name: "URL with --token-file", args: []string{"topo", "show", "--controller", url, "--token-file", other}, code: 0},
		{name: "URL with SR6_TOKEN", env: "lab-token-0123456789", args: []string{"pm", "list", "--controller", url}, code: 0},
		{name: "missing token file", args: []string{"pm", "list", "--controller", url, "--token-file", "/nonexistent/tok"},
			code: 1, stderr: "--token-file"},
		{name: "token file others can read", setup: func() { _ = os.Chmod(other, 0o644) },
			args: []string{"topo", "show", "--controller", url, "--token-file", other}, code: 1, stderr: "chmod 600"},
		{name: "token file too short", setup: func() { writeToken(t, other, "short") },
			args: []string{"topo", "show", "--controller", url, "--token-file", other}, code: 1, stderr: "shorter than 16"},
		{name: "a policy back from h2", args: []string{"policy", "add", "back0", "--lab", name, "--from", "h2", "--to", "h1", "--state-dir", stateDir}, code: 0},
		{name: "lab srv6 --reverse is all or nothing", args: []string{"lab", "srv6", "add", name, "half", "--from", "h1", "--to", "h2", "--reverse", "--state-dir", stateDir},
			code: 1, stderr: "policy half-rev: to: 10.0.1.0/24 is already steered at r3 by policy back0"},
		{name: "the refused forward is gone", args: []string{"policy", "show", "half", "--lab", name, "--state-dir", stateDir}, code: 1, stderr: `no policy "half"`},
		{name: "policy del", args: []string{"policy", "del", "back0", "--lab", name, "--state-dir", stateDir}, code: 0},
		{name: "lab srv6 goes through the controller", args: []string{"lab", "srv6", "add", name, "p1", "--from", "h1", "--to", "h2", "--via", "r2", "--reverse", "--state-dir", stateDir},
			code: 0},
		{name: "lab srv6 uses the controller's validation", args: []string{"lab", "srv6", "add", name, "bad name", "--from", "h1", "--to", "h2", "--state-dir", stateDir},
			code: 1, stderr: "name: \"bad name\": 1 to 64"},
		{name: "lab srv6 conflicts are the controller's", args: []string{"lab", "srv6", "add", name, "p2", "--from", "h1", "--to", "h2", "--state-dir", stateDir},
			code: 1, stderr: "already steered at r1 by policy p1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SR6_TOKEN", tt.env)
			if tt.setup != nil {
				tt.setup()
			}
			code, stdout, stderr := run(t, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.stderr) {
				t.Errorf("exit %d, want %d; stderr %q, want ~%q\nstdout: %s", code, tt.code, stderr, tt.stderr, stdout)
			}
		})
	}
	code, stdout, stderr := run(t, "lab", "srv6", "list", name, "--state-dir", stateDir)
	if strings.Contains(stdout, "half") {
		t.Errorf("a refused reverse left its forward policy:\n%s", stdout)
	}
	if code != 0 || !strings.Contains(stdout, "p1 ") || !strings.Contains(stdout, "p1-rev") || !strings.Contains(stdout, "r1>r2>r3") {
		t.Errorf("lab srv6 list: %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := run(t, "lab", "srv6", "del", name, "p1", "p1-rev", "--state-dir", stateDir); code != 0 {
		t.Errorf("lab srv6 del: %s", stderr)
	}
	if code, _, stderr := run(t, "lab", "srv6", "del", name, "p1", "--state-dir", stateDir); code != 1 || !strings.Contains(stderr, `no policy "p1"`) {
		t.Errorf("lab srv6 del of a missing policy: %d %s", code, stderr)
	}
}

// TestPMShowWatchStreams: `pm show --watch` prints a result that arrives
// after it started, from the controller's event stream.
func TestPMShowWatchStreams(t *testing.T) {
	c, url, _, _ := fakeLab(t, "tk")
	ctx := context.Background()
	if _, err := c.AddPolicy(ctx, controller.Policy{Name: "fwd", From: "h1", To: "h2"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := c.StartSession(ctx, controller.Session{Name: "s", Policy: "fwd", PeriodMs: 1000}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SR6_TOKEN", "tk")
	out := &testutil.SyncBuffer{}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() { done <- Run(cctx, []string{"pm", "show", "s", "--watch", "--controller", url}, out, out) }()
	period := time.Now().Truncate(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	// The header is printed once the command has subscribed and read the
	// (empty) history: what comes after can only come through the stream.
	for !strings.Contains(out.String(), "PERIOD START") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	fed := time.Now()
	c.Measurement(&agentv1.Measurement{Session: "s", Policy: "fwd", Segments: []string{"fc00:0:3::d6"}, Delay: true,
		PeriodStartUnixMs: period.UnixMilli(), PeriodMs: 1000, ProbesSent: 7, ProbesLost: 1, RttAvgNs: 2e6})
	for !strings.Contains(out.String(), "delay") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("result printed %s after it was paired", time.Since(fed).Round(time.Millisecond))
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("pm show --watch exited %d: %s", code, out.String())
	}
	if s := out.String(); !strings.Contains(s, "delay") || !strings.Contains(s, "/2.000/") || strings.Count(s, "delay") != 1 {
		t.Errorf("pm show --watch printed:\n%s", s)
	}
}

// TestPolicyDelGoesOnPastAMissingName: every name that exists is deleted
// and said to be; the missing ones are the error.
func TestPolicyDelGoesOnPastAMissingName(t *testing.T) {
	c, url, _, _ := fakeLab(t, "del-token-0123456789")
	ctx := context.Background()
	for _, p := range []controller.Policy{{Name: "a", From: "h1", To: "h2"}, {Name: "b", From: "h2", To: "h1"}} {
		if _, err := c.AddPolicy(ctx, p, false); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("SR6_TOKEN", "del-token-0123456789")
	code, stdout, stderr := run(t, "policy", "del", "a", "nosuch", "b", "--controller", url)
	if code != 1 || !strings.Contains(stderr, `delete nosuch: name: no policy "nosuch"`) || stdout != "a: deleted\nb: deleted\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if vs := c.Policies(); len(vs) != 0 {
		t.Errorf("%d policies left, want none", len(vs))
	}
}
