package lab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/supervise"
	"github.com/sr6net/sr6/internal/topo"
)

// DaemonsStatus is what a lab's supervisor reports of its daemons, in the
// file Layout.SupervisorStatus.
type DaemonsStatus struct {
	Supervisor int       `json:"supervisor_pid"`
	Started    time.Time `json:"started"`
	Updated    time.Time `json:"updated"`
	// Hash is that of the topology whose daemons these are: a deploy that
	// reloads the supervisor waits for the new one.
	Hash    string             `json:"hash,omitempty"`
	Daemons []supervise.Status `json:"daemons"`
}

// SupervisorArgs are the arguments of `sr6 lab supervise` for lab name.
func SupervisorArgs(stateDir, name string) []string {
	return []string{"--state-dir", stateDir, "lab", "supervise", name}
}

// Supervise runs the supervisor of lab name until ctx ends: it starts (or
// adopts) the lab's daemons (FRR's, agents, controller: see daemonSpecs),
// restarts them when they exit, writes their status to the lab folder and
// stops them when ctx ends. Deploy starts it as a process of its own (see
// SupervisorArgs). On SIGHUP it reads the lab's state again and moves to
// the daemons of the topology there (see reload).
func Supervise(ctx context.Context, name string, opts Options) error {
	opts.defaults()
	l, err := opts.Store.Layout(name)
	if err != nil {
		return err
	}
	specs, hash, err := supervisedSpecs(name, l, opts)
	if err != nil {
		return err
	}
	self := os.Getpid()
	if pid, ok := supervise.Running(l.SupervisorPid()); ok && pid != self {
		return fmt.Errorf("supervise %s: supervisor %d already runs", name, pid)
	}
	if err := supervise.WritePidFile(l.SupervisorPid(), self); err != nil {
		return err
	}
	defer removeIfOurs(l.SupervisorPid(), self)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	started := time.Now().UTC()
	for {
		next, nextHash, err := superviseUntilReload(ctx, name, l, specs, hash, started, hup, opts)
		if err != nil || next == nil {
			return err
		}
		specs, hash = next, nextHash
	}
}

// supervisedSpecs are the daemons of lab name's stored state, and the
// hash of the topology they are for.
func supervisedSpecs(name string, l Layout, opts Options) ([]supervise.Spec, string, error) {
	st, err := opts.Store.Load(name)
	if err != nil {
		return nil, "", err
	}
	nw, err := stateNetwork(st)
	if err != nil {
		return nil, "", fmt.Errorf("lab %s: stored topology: %w", name, err)
	}
	specs, err := daemonSpecs(st, nw, l, opts.Binary, opts.Store.Dir)
	if err != nil {
		return nil, "", fmt.Errorf("supervise %s: %w", name, err)
	}
	if len(specs) == 0 {
		return nil, "", fmt.Errorf("supervise %s: %w", name, errNoDaemons)
	}
	return specs, st.Hash, nil
}

// superviseUntilReload runs specs until ctx ends (nil, nil: all stopped)
// or a SIGHUP asks for a reload, which it returns the new specs of:
// daemons whose spec stays the same are released to the next round,
// which adopts them; the controller, which reads the topology when it
// starts, is stopped and started again when the topology changed; the rest
// of the old set is stopped. A state that cannot be read keeps the current
// set running.
func superviseUntilReload(ctx context.Context, name string, l Layout, specs []supervise.Spec, hash string,
	started time.Time, hup <-chan os.Signal, opts Options) ([]supervise.Spec, string, error) {
	// Restarts counted by an earlier supervisor (or round) carry over.
	if prev, err := ReadDaemonsStatus(l); err == nil {
		for i := range specs {
			for _, d := range prev.Daemons {
				if d.Name == specs[i].Name {
					specs[i].PriorRestarts = d.Restarts
				}
			}
		}
	}
	self := os.Getpid()
	status := DaemonsStatus{Supervisor: self, Started: started, Hash: hash}
	sup, err := supervise.New(specs, supervise.Options{Log: opts.Log, OnChange: func(ss []supervise.Status) {
		status.Daemons, status.Updated = ss, time.Now().UTC()
		if err := writeJSONAtomic(l.SupervisorStatus(), status); err != nil {
			opts.Log.Error("write status", "err", err)
		}
	}})
	if err != nil {
		return nil, "", err
	}
	opts.Log.Info("supervising", "lab", name, "daemons", len(specs), "pid", self)
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sup.Run(runCtx) }()
	for {
		select {
		case err := <-done:
			return nil, "", err
		case <-hup:
			next, nextHash, err := supervisedSpecs(name, l, opts)
			if err != nil {
				opts.Log.Error("reload: keeping the daemons running", "err", err)
				continue
			}
			keep := keptDaemons(specs, next, hash != nextHash)
			opts.Log.Info("reloading", "lab", name, "daemons", len(next), "kept", len(keep))
			sup.Release(keep...)
			cancel()
			if err := <-done; err != nil {
				opts.Log.Warn("reload: daemons that never started", "err", err)
			}
			return next, nextHash, nil
		}
	}
}

// keptDaemons are the names of the daemons of old that run on unchanged
// in next: same program, arguments, namespace and files. The controller
// reads the lab's topology when it starts: it is kept only when the
// topology stays.
func keptDaemons(old, next []supervise.Spec, topologyChanged bool) []string {
	byName := map[string]supervise.Spec{}
	for _, s := range next {
		byName[s.Name] = s
	}
	var keep []string
	for _, s := range old {
		n, ok := byName[s.Name]
		if !ok || (topologyChanged && s.Name == controllerName) {
			continue
		}
		if n.Path == s.Path && slices.Equal(n.Args, s.Args) && n.Netns == s.Netns &&
			n.LogFile == s.LogFile && n.PidFile == s.PidFile && slices.Equal(n.After, s.After) {
			keep = append(keep, s.Name)
		}
	}
	return keep
}

func removeIfOurs(pidFile string, pid int) {
	if p, ok := supervise.Running(pidFile); ok && p == pid {
		_ = os.Remove(pidFile)
	}
}

// ReadDaemonsStatus reads the status file of the lab in l; os.ErrNotExist
// when no supervisor ever wrote one.
func ReadDaemonsStatus(l Layout) (*DaemonsStatus, error) {
	data, err := os.ReadFile(l.SupervisorStatus())
	if err != nil {
		return nil, err
	}
	var s DaemonsStatus
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("read %s: %w", l.SupervisorStatus(), err)
	}
	return &s, nil
}

// writeJSONAtomic writes v to path through a temporary file and a rename,
// so that readers never see half a file.
func writeJSONAtomic(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// ensureDaemons makes the lab's daemons run: it starts the supervisor if
// none runs (which adopts living daemons and starts dead ones), waits until
// every daemon is ready and returns what it found and did, one line each.
func (d *deployer) ensureDaemons(ctx context.Context) ([]string, error) {
	l := d.layout
	before, _ := ReadDaemonsStatus(l)
	pid, running := supervise.Running(l.SupervisorPid())
	var report []string
	if !running {
		var err error
		if pid, err = startSupervisor(d.opts.Binary, SupervisorArgs(d.opts.Store.Dir, d.nw.Name), l); err != nil {
			return nil, err
		}
		if before != nil {
			report = append(report, fmt.Sprintf("supervisor was not running: started it (pid %d)", pid))
		}
	}
	// A thousand agents take longer to start than a few.
	after, err := waitDaemons(ctx, l, pid, readyTimeout+agentHostReadyTimeout(len(d.nw.Nodes)))
	if err != nil {
		return report, d.withLogTails(err, after)
	}
	if before == nil {
		return report, nil
	}
	was := map[string]supervise.Status{}
	for _, s := range before.Daemons {
		was[s.Name] = s
	}
	for _, s := range after.Daemons {
		old := was[s.Name]
		switch {
		case !running && s.Adopted:
			report = append(report, fmt.Sprintf("%s: running (pid %d): adopted", s.Name, s.PID))
		case !running && s.Restarts > old.Restarts && s.LastExit != nil:
			// Adopted, then restarted: it ran after a daemon that had died.
			report = append(report, fmt.Sprintf("%s: restarted (%s), ready again (pid %d, %d restarts)", s.Name, s.LastExit.Reason, s.PID, s.Restarts))
		case !running:
			report = append(report, fmt.Sprintf("%s: was not running: started (pid %d)", s.Name, s.PID))
		case old.State != supervise.Ready || s.Restarts > old.Restarts:
			why := string(old.State)
			if s.LastExit != nil {
				why = s.LastExit.Reason
			}
			report = append(report, fmt.Sprintf("%s: restarted (%s), ready again (pid %d, %d restarts)", s.Name, why, s.PID, s.Restarts))
		}
	}
	return report, nil
}

// withLogTails adds to err the last lines of the log of each daemon of st
// that is not ready: a failed deploy is rolled back, and the lab folder
// with the logs goes with it.
func (d *deployer) withLogTails(err error, st *DaemonsStatus) error {
	if st == nil {
		return err
	}
	specs, serr := daemonSpecs(d.st, d.nw, d.layout, d.opts.Binary, d.opts.Store.Dir)
	if serr != nil {
		return err
	}
	logs := map[string][]string{}
	for _, s := range specs {
		logs[s.Name] = []string{s.LogFile}
		if daemon, node, ok := strings.Cut(s.Name, "/"); ok && (daemon == string(kinds.DaemonZebra) || daemon == string(kinds.DaemonISISd)) {
			logs[s.Name] = append(logs[s.Name], d.layout.FRRLog(node))
		}
	}
	var tails []string
	for _, s := range st.Daemons {
		if s.State == supervise.Ready {
			continue
		}
		for _, f := range logs[s.Name] {
			if data, rerr := os.ReadFile(f); rerr == nil && len(strings.TrimSpace(string(data))) > 0 {
				tails = append(tails, fmt.Sprintf("%s (%s): %s", s.Name, filepath.Base(f), lastLines(string(data), 2)))
			}
		}
	}
	if len(tails) == 0 {
		return err
	}
	return fmt.Errorf("%w; last words: %s", err, strings.Join(tails, "; "))
}

// startSupervisor starts `sr6 lab supervise` in the host namespace, in
// its own session so that it outlives this process, and records its pid.
func startSupervisor(binary string, args []string, l Layout) (int, error) {
	out, err := os.OpenFile(l.SupervisorLog(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("start supervisor: %w", err)
	}
	defer out.Close()
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start supervisor: %w", err)
	}
	// Reap it should it exit while this process still runs; otherwise init
	// inherits it.
	go func() { _ = cmd.Wait() }()
	if err := supervise.WritePidFile(l.SupervisorPid(), cmd.Process.Pid); err != nil {
		_ = cmd.Process.Kill()
		return 0, err
	}
	return cmd.Process.Pid, nil
}

// waitDaemons waits until supervisor pid reports every daemon ready. A
// status file an earlier supervisor left does not count: its pid differs.
func waitDaemons(parent context.Context, l Layout, pid int, timeout time.Duration) (*DaemonsStatus, error) {
	ctx, cancel := context.WithTimeout(parent, timeout)
	defer cancel()
	for {
		// An interruption is not a timeout: say so, and nothing else.
		if err := parent.Err(); err != nil {
			return nil, err
		}
		st, err := ReadDaemonsStatus(l)
		if err == nil && st.Supervisor == pid && len(st.Daemons) > 0 {
			var waiting, failed []string
			for _, s := range st.Daemons {
				switch s.State {
				case supervise.Ready:
				case supervise.Failed:
					failed = append(failed, s.Name+": "+s.Error)
				default:
					w := fmt.Sprintf("%s %s", s.Name, s.State)
					if s.LastExit != nil {
						w += " (last exit: " + s.LastExit.Reason + ")"
					}
					waiting = append(waiting, w)
				}
			}
			if len(failed) > 0 {
				return st, fmt.Errorf("daemons failed: %s (logs in %s)", strings.Join(failed, "; "), l.Dir)
			}
			if len(waiting) == 0 {
				return st, nil
			}
			if ctx.Err() != nil {
				return st, fmt.Errorf("daemons not ready after %s: %s (logs in %s)", timeout, strings.Join(waiting, ", "), l.Dir)
			}
		}
		if p, ok := supervise.Running(l.SupervisorPid()); !ok || p != pid {
			return nil, fmt.Errorf("the lab's supervisor (pid %d) exited: %s", pid, tail(l.SupervisorLog(), 3))
		}
		select {
		case <-ctx.Done():
			if err == nil && st.Supervisor == pid {
				continue // report the daemons' last states
			}
			return nil, fmt.Errorf("the lab's supervisor (pid %d) reported nothing within %s (log: %s)", pid, timeout, l.SupervisorLog())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// tail returns the last n lines of a file, joined by " | ".
func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	return lastLines(string(data), n)
}

// supervised tells whether the lab st describes has daemons for a
// supervisor: agents, a controller, or a daemon its nodes' kinds run
// whatever the options (FRR's, with `routing: isis`).
func supervised(st *State, nw *topo.Network) bool {
	if st.Agents || st.Controller != "" {
		return true
	}
	for _, n := range nw.Nodes {
		ds, _ := nodeKinds().Daemons(nw, n)
		for _, d := range ds {
			if d != kinds.DaemonAgent {
				return true
			}
		}
	}
	return false
}

// daemonPidFiles are the pid files of every daemon the lab st describes
// may run, for destroy to end what a dead supervisor left behind; only the
// controller's when the state is unreadable (the namespace sweep still
// finds the others).
func daemonPidFiles(st *State, l Layout) []string {
	files := []string{l.ControllerPid()}
	if st == nil {
		return files
	}
	nw, err := stateNetwork(st)
	if err != nil {
		return files
	}
	// Every agent too, should the state have been saved without them.
	all := *st
	all.Agents = true
	specs, err := daemonSpecs(&all, nw, l, "sr6", "")
	if err != nil {
		return files
	}
	for _, s := range specs {
		if s.PidFile != "" && s.PidFile != l.ControllerPid() {
			files = append(files, s.PidFile)
		}
	}
	return append(files, legacyAgentPidFiles(nw, l)...)
}

// stopDaemons ends the lab's supervisor (which stops its daemons) and then
// any daemon it left behind (pidFiles), so that nothing restarts what
// destroy removes. It returns how many processes it ended.
func stopDaemons(ctx context.Context, l Layout, pidFiles []string) (int, error) {
	n := 0
	var errs []error
	running := 0
	if st, err := ReadDaemonsStatus(l); err == nil {
		for _, d := range st.Daemons {
			if d.PID > 0 {
				running++
			}
		}
	}
	// The supervisor gives each daemon its grace period, in parallel.
	ok, err := supervise.TerminatePidFile(ctx, l.SupervisorPid(), 10*time.Second)
	if ok {
		n += 1 + running
	}
	errs = append(errs, err)
	for _, f := range pidFiles {
		ok, err := supervise.TerminatePidFile(ctx, f, 3*time.Second)
		if ok {
			n++
		}
		errs = append(errs, err)
	}
	return n, errors.Join(errs...)
}
