package supervise

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// waitFor polls the daemon until cond holds, or fails the test.
func waitFor(t *testing.T, d *Daemon, what string, within time.Duration, cond func(Status) bool) Status {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := d.Status()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; status %+v", what, within, st)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// run starts d.Run in the background; the returned func stops it and
// returns Run's error.
func run(t *testing.T, d *Daemon) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() { cancel(); err = <-errc })
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

func alive(pid int) bool {
	_, err := startTime(pid)
	return err == nil
}

func newDaemon(t *testing.T, spec Spec) *Daemon {
	t.Helper()
	if spec.LogFile == "" {
		spec.LogFile = filepath.Join(t.TempDir(), "log")
	}
	d, err := NewDaemon(spec, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestExitsAreRestartedWithBackoff(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		signal   string
		minDelay time.Duration
	}{
		{"exit code", []string{"-c", "exit 3"}, 3, "", 0},
		{"signal", []string{"-c", "kill -9 $$"}, -1, "killed", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDaemon(t, Spec{Name: "x", Path: "/bin/sh", Args: tc.args,
				Backoff: BackoffPolicy{Initial: 20 * time.Millisecond, Max: 80 * time.Millisecond, ResetAfter: time.Hour}})
			stop := run(t, d)
			st := waitFor(t, d, "three restarts", 5*time.Second, func(s Status) bool { return s.Restarts >= 3 })
			if st.LastExit == nil || st.LastExit.Code != tc.code || st.LastExit.Signal != tc.signal {
				t.Errorf("last exit %+v, want code %d signal %q", st.LastExit, tc.code, tc.signal)
			}
			// A crash loop is visible as backoff with its reason.
			st = waitFor(t, d, "backoff", 2*time.Second, func(s Status) bool { return s.State == Backoff })
			if st.LastExit == nil || st.LastExit.Reason == "" {
				t.Errorf("backoff without a reason: %+v", st)
			}
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			if st := d.Status(); st.State != Stopped {
				t.Errorf("after stop: %s", st.State)
			}
		})
	}
}

func TestBackoffDoublesAndCaps(t *testing.T) {
	var mu sync.Mutex
	var starts []time.Time
	dir := t.TempDir()
	d, err := NewDaemon(Spec{Name: "x", Path: "/bin/sh", Args: []string{"-c", "exit 1"}, LogFile: filepath.Join(dir, "log"),
		Backoff: BackoffPolicy{Initial: 200 * time.Millisecond, Max: 800 * time.Millisecond, ResetAfter: time.Hour}}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.onChange = func() {
		if st := d.Status(); st.State == Starting {
			mu.Lock()
			if len(starts) == 0 || st.Since.After(starts[len(starts)-1]) {
				starts = append(starts, st.Since)
			}
			mu.Unlock()
		}
	}
	stop := run(t, d)
	waitFor(t, d, "six restarts", 20*time.Second, func(s Status) bool { return s.Restarts >= 6 })
	_ = stop()
	mu.Lock()
	defer mu.Unlock()
	// Gaps: 200, 400, 800, 800, 800 ms, plus the process's own run time:
	// the slack (700 ms) leaves room for a loaded machine's fork and exec
	// and still catches a delay that doubles past the cap (1,600 ms).
	want := []time.Duration{200, 400, 800, 800, 800}
	for i, w := range want {
		if i+1 >= len(starts) {
			t.Fatalf("only %d starts", len(starts))
		}
		gap := starts[i+1].Sub(starts[i])
		if gap < w*time.Millisecond || gap > w*time.Millisecond+700*time.Millisecond {
			t.Errorf("gap %d: %s, want about %dms", i, gap, w)
		}
	}
}

func TestReadinessAndStop(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "ready")
	// Ignores SIGTERM: the grace period must end in SIGKILL.
	script := "trap '' TERM; sleep 0.2; touch " + flag + "; while :; do sleep 0.05; done"
	d := newDaemon(t, Spec{Name: "x", Path: "/bin/sh", Args: []string{"-c", script}, StopGrace: 200 * time.Millisecond,
		Ready: func(context.Context) error {
			if _, err := os.Stat(flag); err != nil {
				return errors.New("no flag yet")
			}
			return nil
		}})
	stop := run(t, d)
	st := waitFor(t, d, "starting", time.Second, func(s Status) bool { return s.State == Starting || s.State == Ready })
	pid := st.PID
	st = waitFor(t, d, "ready", 3*time.Second, func(s Status) bool { return s.State == Ready })
	if st.PID != pid || st.Restarts != 0 {
		t.Errorf("ready as %+v, started as pid %d", st, pid)
	}
	t0 := time.Now()
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(t0); el < 200*time.Millisecond || el > 2*time.Second {
		t.Errorf("stop took %s, want the 200ms grace then a kill", el)
	}
	st = d.Status()
	if st.State != Stopped || st.LastExit == nil || st.LastExit.Signal != "killed" {
		t.Errorf("after stop: %+v", st)
	}
	if alive(pid) {
		t.Errorf("process %d still runs", pid)
	}
}

// TestExitBeforeReadyIsNeverReady: a process that dies before its check
// passes goes to backoff without being reported ready, so nobody waiting
// for readiness takes a crash loop for a healthy daemon.
func TestExitBeforeReadyIsNeverReady(t *testing.T) {
	var mu sync.Mutex
	var states []State
	d := newDaemon(t, Spec{Name: "x", Path: "/bin/sh", Args: []string{"-c", "sleep 0.05; exit 1"},
		Backoff: BackoffPolicy{Initial: 10 * time.Millisecond},
		Ready:   func(context.Context) error { return errors.New("never") }})
	d.onChange = func() {
		mu.Lock()
		states = append(states, d.Status().State)
		mu.Unlock()
	}
	run(t, d)
	waitFor(t, d, "three restarts", 5*time.Second, func(s Status) bool { return s.Restarts >= 3 })
	mu.Lock()
	defer mu.Unlock()
	for _, st := range states {
		if st == Ready {
			t.Fatalf("a daemon that never passed its check was reported ready: states %v", states)
		}
	}
}

func TestNotReadyIsKilledAndRestarted(t *testing.T) {
	d := newDaemon(t, Spec{Name: "x", Path: "/bin/sleep", Args: []string{"30"}, ReadyTimeout: 100 * time.Millisecond,
		Backoff: BackoffPolicy{Initial: 10 * time.Millisecond},
		Ready:   func(context.Context) error { return errors.New("never") }})
	run(t, d)
	st := waitFor(t, d, "a restart", 3*time.Second, func(s Status) bool { return s.Restarts >= 1 })
	if st.LastExit == nil || !strings.Contains(st.LastExit.Reason, "not ready within 100ms: never") {
		t.Errorf("last exit %+v", st.LastExit)
	}
}

func TestCannotStartFails(t *testing.T) {
	d := newDaemon(t, Spec{Name: "x", Path: "/nonexistent/daemon"})
	stop := run(t, d)
	waitFor(t, d, "failed", time.Second, func(s Status) bool { return s.State == Failed })
	if err := stop(); err == nil || !strings.Contains(err.Error(), "daemon x: start /nonexistent/daemon") {
		t.Errorf("error %v", err)
	}
}

func TestAdoptsRunningProcess(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "x.pid")
	spec := Spec{Name: "x", Path: "/bin/sleep", Args: []string{"30"}, PidFile: pidFile, LogFile: filepath.Join(dir, "log"),
		StopGrace: time.Second, Backoff: BackoffPolicy{Initial: 10 * time.Millisecond}}

	// What a crashed supervisor leaves: a running process and its pid
	// file (a child of this test, so the test reaps it).
	prev := exec.Command("/bin/sleep", "30")
	if err := prev.Start(); err != nil {
		t.Fatal(err)
	}
	pid := prev.Process.Pid
	t.Cleanup(func() { _ = prev.Process.Kill() })
	go func() { _ = prev.Wait() }()
	if err := WritePidFile(pidFile, pid); err != nil {
		t.Fatal(err)
	}

	second := newDaemon(t, spec)
	stop := run(t, second)
	st := waitFor(t, second, "adopted", 2*time.Second, func(s Status) bool { return s.State == Ready })
	if st.PID != pid || !st.Adopted {
		t.Fatalf("second supervisor: %+v, want adopted pid %d", st, pid)
	}
	// The adopted process dies: it is noticed without being a child and
	// started again.
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	st = waitFor(t, second, "restarted", 2*time.Second, func(s Status) bool { return s.State == Ready && s.PID != pid && s.PID != 0 })
	if st.Adopted || st.Restarts != 1 || st.LastExit == nil || !strings.Contains(st.LastExit.Reason, "status unknown") {
		t.Errorf("after the adopted process died: %+v", st)
	}
	newPid := st.PID
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if alive(newPid) {
		t.Errorf("process %d outlived its stop", newPid)
	}
	if _, err := os.Stat(pidFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid file left after stop: %v", err)
	}
}

func TestPidFileOfAnotherProcessIsNotAdopted(t *testing.T) {
	dir := t.TempDir()
	tests := []struct{ name, content string }{
		{"dead pid", "999999999 1\n"},
		{"reused pid", ""}, // filled below: a live pid with a wrong start time
		{"garbage", "not a pid"},
	}
	other := exec.Command("/bin/sleep", "30")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Process.Kill(); _ = other.Wait() })
	tests[1].content = strconv.Itoa(other.Process.Pid) + " 1\n"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(dir, tc.name+".pid")
			if err := os.WriteFile(pidFile, []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			d := newDaemon(t, Spec{Name: "x", Path: "/bin/sleep", Args: []string{"30"}, PidFile: pidFile, StopGrace: time.Second})
			stop := run(t, d)
			st := waitFor(t, d, "ready", 2*time.Second, func(s Status) bool { return s.State == Ready })
			if st.Adopted || st.PID == other.Process.Pid {
				t.Errorf("adopted a foreign process: %+v", st)
			}
			_ = stop()
			if !alive(other.Process.Pid) {
				t.Fatalf("the foreign process was killed")
			}
		})
	}
}

func TestSupervisorRunsAllAndReportsChanges(t *testing.T) {
	dir := t.TempDir()
	var mu sync.Mutex
	var seen []Status
	s, err := New([]Spec{
		{Name: "a", Path: "/bin/sleep", Args: []string{"30"}, LogFile: filepath.Join(dir, "a.log")},
		{Name: "b", Path: "/nonexistent", LogFile: filepath.Join(dir, "b.log")},
	}, Options{OnChange: func(ss []Status) { mu.Lock(); seen = ss; mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	deadline := time.Now().Add(2 * time.Second)
	for {
		st := s.Status()
		if st[0].State == Ready && st[1].State == Failed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %+v", st)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	err = <-errc
	if err == nil || !strings.Contains(err.Error(), "daemon b") || strings.Contains(err.Error(), "daemon a") {
		t.Errorf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0].State != Stopped || seen[1].State != Failed {
		t.Errorf("last change reported %+v", seen)
	}
	if _, err := New([]Spec{{Name: "a", Path: "x", LogFile: "l"}, {Name: "a", Path: "y", LogFile: "l"}}, Options{}); err == nil {
		t.Error("two daemons of one name accepted")
	}
}

func TestFailedStartIsRetried(t *testing.T) {
	dir := t.TempDir()
	prog := filepath.Join(dir, "daemon")
	d := newDaemon(t, Spec{Name: "x", Path: prog, Backoff: BackoffPolicy{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond}})
	stop := run(t, d)
	waitFor(t, d, "failed", time.Second, func(s Status) bool { return s.State == Failed })
	// The program appears: the next retry starts it.
	if err := os.WriteFile(prog, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	st := waitFor(t, d, "ready", 2*time.Second, func(s Status) bool { return s.State == Ready })
	if st.Error != "" || st.Restarts != 0 {
		t.Errorf("after the retry: %+v", st)
	}
	if err := stop(); err != nil {
		t.Errorf("stop after a successful retry: %v", err)
	}
}
