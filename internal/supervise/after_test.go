package supervise

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runSupervisor runs a supervisor of specs in the background until the
// test ends; the returned func stops it early.
func runSupervisor(t *testing.T, specs []Spec) (*Supervisor, func()) {
	t.Helper()
	dir := t.TempDir()
	for i := range specs {
		if specs[i].LogFile == "" {
			specs[i].LogFile = filepath.Join(dir, specs[i].Name+".log")
		}
		if specs[i].StopGrace == 0 {
			specs[i].StopGrace = time.Second
		}
	}
	s, err := New(specs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-errc; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	}
	t.Cleanup(stop)
	return s, stop
}

// waitAll polls s until cond holds for the statuses by name, or fails the
// test.
func waitAll(t *testing.T, s *Supervisor, what string, within time.Duration, cond func(map[string]Status) bool) map[string]Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		by := map[string]Status{}
		for _, st := range s.Status() {
			by[st.Name] = st
		}
		if cond(by) {
			return by
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; status %+v", what, within, by)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func bothReady(by map[string]Status) bool {
	return by["a"].State == Ready && by["b"].State == Ready
}

// TestAfterWaitsUntilReady: b does not start while a is not ready, whether
// a is slow to become ready or crashes before it does.
func TestAfterWaitsUntilReady(t *testing.T) {
	tests := []struct {
		name   string
		script string // a's program; it creates $FLAG once it serves
		crash  bool   // a crashes twice before it serves
	}{
		{"slow", "sleep 0.3; touch $FLAG; exec sleep 30", false},
		{"crashes first", "n=$(cat $FLAG.n 2>/dev/null || echo 0); echo $((n+1)) > $FLAG.n; [ $n -ge 2 ] || exit 1; touch $FLAG; exec sleep 30", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			flag := filepath.Join(t.TempDir(), "ready")
			ready := func(context.Context) error {
				if _, err := os.Stat(flag); err != nil {
					return errors.New("not yet")
				}
				return nil
			}
			s, _ := runSupervisor(t, []Spec{
				{Name: "b", Path: "/bin/sleep", Args: []string{"30"}, After: []string{"a"}},
				{Name: "a", Path: "/bin/sh", Args: []string{"-c", strings.ReplaceAll(tc.script, "$FLAG", flag)},
					Ready: ready, Backoff: BackoffPolicy{Initial: 50 * time.Millisecond}},
			})
			by := waitAll(t, s, "b waiting", 2*time.Second, func(by map[string]Status) bool { return by["b"].State == Waiting })
			if by["b"].PID != 0 || by["b"].Error != "a not ready" {
				t.Errorf("b while a is not ready: %+v", by["b"])
			}
			for {
				by = waitAll(t, s, "a ready or b started", 5*time.Second, func(by map[string]Status) bool {
					return by["a"].State == Ready || by["b"].PID != 0
				})
				if by["b"].PID != 0 && by["a"].State != Ready {
					t.Fatalf("b started while a is %s: %+v", by["a"].State, by)
				}
				if by["a"].State == Ready {
					break
				}
			}
			by = waitAll(t, s, "both ready", 2*time.Second, bothReady)
			if !by["b"].Since.After(by["a"].Since) && !by["b"].Since.Equal(by["a"].Since) {
				t.Errorf("b ready at %s, before a at %s", by["b"].Since, by["a"].Since)
			}
			if tc.crash && by["a"].Restarts != 2 {
				t.Errorf("a restarts %d, want 2", by["a"].Restarts)
			}
			if by["b"].Restarts != 0 {
				t.Errorf("b restarts %d, want 0: it never ran before a was ready", by["b"].Restarts)
			}
		})
	}
}

// TestAfterRestartsWithDependency: when a exits, b (which runs after it)
// is stopped and started again once a is ready again; when b exits, a is
// left alone.
func TestAfterRestartsWithDependency(t *testing.T) {
	tests := []struct {
		kill         string
		wantRestarts map[string]int
		reason       map[string]string // part of each one's last exit
	}{
		{"a", map[string]int{"a": 1, "b": 1}, map[string]string{"a": "killed", "b": "a exited; stopped to start again after it"}},
		{"b", map[string]int{"a": 0, "b": 1}, map[string]string{"b": "killed"}},
	}
	for _, tc := range tests {
		t.Run("kill "+tc.kill, func(t *testing.T) {
			s, _ := runSupervisor(t, []Spec{
				{Name: "a", Path: "/bin/sleep", Args: []string{"30"}, Backoff: BackoffPolicy{Initial: 100 * time.Millisecond}},
				{Name: "b", Path: "/bin/sleep", Args: []string{"30"}, After: []string{"a"}},
			})
			before := waitAll(t, s, "both ready", 2*time.Second, bothReady)
			if err := syscall.Kill(before[tc.kill].PID, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			after := waitAll(t, s, "both ready again", 3*time.Second, func(by map[string]Status) bool {
				return bothReady(by) && by[tc.kill].PID != before[tc.kill].PID && by[tc.kill].PID != 0
			})
			for _, n := range []string{"a", "b"} {
				if after[n].Restarts != tc.wantRestarts[n] {
					t.Errorf("%s restarts %d, want %d", n, after[n].Restarts, tc.wantRestarts[n])
				}
				if tc.wantRestarts[n] == 0 && after[n].PID != before[n].PID {
					t.Errorf("%s was restarted (pid %d -> %d)", n, before[n].PID, after[n].PID)
				}
				if want := tc.reason[n]; want != "" && (after[n].LastExit == nil || !strings.Contains(after[n].LastExit.Reason, want)) {
					t.Errorf("%s last exit %+v, want %q", n, after[n].LastExit, want)
				}
			}
			if tc.kill == "a" && after["b"].Since.Before(after["a"].Since) {
				t.Errorf("b started again at %s, before a was ready again at %s", after["b"].Since, after["a"].Since)
			}
			if alive(before["b"].PID) && after["b"].PID != before["b"].PID {
				t.Errorf("b's old process %d still runs", before["b"].PID)
			}
		})
	}
}

// TestAfterAdoption: a new supervisor adopts a and b when both still run,
// and restarts b after a when a had died while no supervisor ran (b's
// process ran against the a that is gone).
func TestAfterAdoption(t *testing.T) {
	tests := []struct {
		name             string
		aRuns, bRuns     bool
		bAdoptedAndKept  bool
		wantRestartsOfB  int
		wantReasonOfBHas string
	}{
		{"both run", true, true, true, 0, ""},
		{"a died", false, true, false, 1, "a was started anew"},
		{"b died", true, false, false, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			pids := map[string]int{}
			for n, runs := range map[string]bool{"a": tc.aRuns, "b": tc.bRuns} {
				if !runs {
					continue
				}
				// What a crashed supervisor leaves behind (children of the
				// test, which reaps them).
				prev := exec.Command("/bin/sleep", "30")
				if err := prev.Start(); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = prev.Process.Kill() })
				go func() { _ = prev.Wait() }()
				if err := WritePidFile(filepath.Join(dir, n+".pid"), prev.Process.Pid); err != nil {
					t.Fatal(err)
				}
				pids[n] = prev.Process.Pid
			}
			s, _ := runSupervisor(t, []Spec{
				{Name: "a", Path: "/bin/sleep", Args: []string{"30"}, PidFile: filepath.Join(dir, "a.pid")},
				{Name: "b", Path: "/bin/sleep", Args: []string{"30"}, PidFile: filepath.Join(dir, "b.pid"), After: []string{"a"}},
			})
			waitAll(t, s, "both ready", 3*time.Second, func(by map[string]Status) bool {
				return bothReady(by) && by["b"].Restarts == tc.wantRestartsOfB
			})
			// Give a wrong restart the time to happen.
			time.Sleep(200 * time.Millisecond)
			by := waitAll(t, s, "both ready", time.Second, bothReady)
			if tc.aRuns && (by["a"].PID != pids["a"] || !by["a"].Adopted) {
				t.Errorf("a: %+v, want adopted pid %d", by["a"], pids["a"])
			}
			if kept := by["b"].PID == pids["b"] && by["b"].Adopted; kept != tc.bAdoptedAndKept {
				t.Errorf("b: %+v (pid %d before): adopted and kept %v, want %v", by["b"], pids["b"], kept, tc.bAdoptedAndKept)
			}
			if by["b"].Restarts != tc.wantRestartsOfB {
				t.Errorf("b restarts %d, want %d", by["b"].Restarts, tc.wantRestartsOfB)
			}
			if tc.wantReasonOfBHas != "" && (by["b"].LastExit == nil || !strings.Contains(by["b"].LastExit.Reason, tc.wantReasonOfBHas)) {
				t.Errorf("b last exit %+v, want %q", by["b"].LastExit, tc.wantReasonOfBHas)
			}
		})
	}
}

func TestAfterIsChecked(t *testing.T) {
	spec := func(name string, after ...string) Spec {
		return Spec{Name: name, Path: "/bin/true", LogFile: "/dev/null", After: after}
	}
	tests := []struct {
		name  string
		specs []Spec
		err   string
	}{
		{"unknown", []Spec{spec("a", "zebra")}, `daemon a runs after "zebra", which is not one of the supervised daemons`},
		{"itself", []Spec{spec("a", "a")}, "daemon a runs after itself"},
		{"twice", []Spec{spec("a"), spec("b", "a", "a")}, `daemon b lists "a" twice`},
		{"cycle", []Spec{spec("a", "c"), spec("b", "a"), spec("c", "b")}, "in a circle, none could start: a -> c -> b -> a"},
		{"fine", []Spec{spec("a"), spec("b", "a"), spec("c", "a", "b")}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.specs, Options{})
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want %q", err, tc.err)
			}
		})
	}
	if _, err := NewDaemon(spec("b", "a"), nil, nil); err == nil || !strings.Contains(err.Error(), "After needs a Supervisor") {
		t.Errorf("NewDaemon with After: %v", err)
	}
}
