package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sr6net/sr6/internal/nsutil"
)

// State is where a daemon is in its life.
type State string

// States of a daemon.
const (
	Waiting  State = "waiting"  // not started: a daemon it runs after is not ready (see Spec.After)
	Starting State = "starting" // running, readiness not yet confirmed
	Ready    State = "ready"    // running and its readiness check passed
	Backoff  State = "backoff"  // exited; waiting before the next start
	Stopped  State = "stopped"  // stopped by the supervisor
	Failed   State = "failed"   // cannot be started at all (see Error); retried every BackoffPolicy.Max
)

// Spec describes one supervised daemon.
type Spec struct {
	// Name identifies the daemon in status and logs; unique per supervisor.
	Name string
	// Netns is the named network namespace it runs in; "" is the host's.
	Netns string
	// Path and Args are the program and its arguments (without argv[0]).
	Path string
	Args []string
	// LogFile receives its stdout and stderr (appended).
	LogFile string
	// PidFile records the running process so that a later supervisor
	// adopts it instead of starting a second copy; "" disables adoption.
	PidFile string
	// Ready reports nil once the daemon serves; nil means ready when
	// started. Each call gets a context bounded to one second.
	Ready func(ctx context.Context) error
	// ReadyTimeout bounds the wait for Ready before the process is killed
	// and started again (default 10 s).
	ReadyTimeout time.Duration
	// StopGrace is how long SIGTERM is given before SIGKILL (default 3 s).
	StopGrace time.Duration
	Backoff   BackoffPolicy
	// PriorRestarts starts the restart count (restarts an earlier
	// supervisor of the same daemon counted).
	PriorRestarts int
	// After names daemons of the same Supervisor this one needs: it starts,
	// and starts again, only while they are all ready, and it is stopped
	// (and started again once they are ready) whenever one of them exits
	// or is replaced by a process it was not started after, as a client
	// that cannot recover from its server's restart needs.
	After []string
}

// BackoffPolicy spaces restarts: the first after Initial, each next one
// twice as late up to Max; a run that lasted ResetAfter starts over.
type BackoffPolicy struct {
	Initial, Max, ResetAfter time.Duration
}

// DefaultBackoff restarts a crashed daemon fast the first time (100 ms)
// and never waits more than 10 s.
var DefaultBackoff = BackoffPolicy{Initial: 100 * time.Millisecond, Max: 10 * time.Second, ResetAfter: 10 * time.Second}

func (s *Spec) defaults() {
	if s.ReadyTimeout <= 0 {
		s.ReadyTimeout = 10 * time.Second
	}
	if s.StopGrace <= 0 {
		s.StopGrace = 3 * time.Second
	}
	if s.Backoff.Initial <= 0 {
		s.Backoff.Initial = DefaultBackoff.Initial
	}
	if s.Backoff.Max < s.Backoff.Initial {
		s.Backoff.Max = max(DefaultBackoff.Max, s.Backoff.Initial)
	}
	if s.Backoff.ResetAfter <= 0 {
		s.Backoff.ResetAfter = DefaultBackoff.ResetAfter
	}
}

// Exit is how a daemon's process ended.
type Exit struct {
	Code   int       `json:"code"`             // -1 when killed by a signal or unknown
	Signal string    `json:"signal,omitempty"` // e.g. "killed"
	Reason string    `json:"reason"`           // human summary
	Time   time.Time `json:"time"`
}

// Status is a daemon's state as the supervisor sees it.
type Status struct {
	Name     string    `json:"name"`
	State    State     `json:"state"`
	PID      int       `json:"pid,omitempty"`
	Restarts int       `json:"restarts"`
	Adopted  bool      `json:"adopted,omitempty"` // the current process was already running when the supervisor started
	LastExit *Exit     `json:"last_exit,omitempty"`
	Since    time.Time `json:"since"`           // when State was entered
	Error    string    `json:"error,omitempty"` // why it is failed, or not ready
	// PidFile records the running process (see Running), so that whoever
	// reads this status without the supervisor can check it.
	PidFile string `json:"pid_file,omitempty"`
}

// Daemon supervises one Spec: Run starts it, keeps it running and stops it
// when ctx ends.
type Daemon struct {
	spec     Spec
	log      *slog.Logger
	onChange func()
	deps     []*Daemon // Spec.After, resolved by New

	// released: when Run's context ends, leave the process running (see
	// Supervisor.Release).
	released atomic.Bool

	mu      sync.Mutex
	status  Status
	run     uint64        // counts the processes started or adopted; 0: none yet
	changed chan struct{} // closed and replaced on every status change
}

// NewDaemon returns a daemon for spec; onChange (may be nil) is called
// after every status change.
func NewDaemon(spec Spec, log *slog.Logger, onChange func()) (*Daemon, error) {
	if spec.Name == "" {
		return nil, errors.New("supervise: daemon without a name")
	}
	if spec.Path == "" {
		return nil, fmt.Errorf("supervise: daemon %s: no program", spec.Name)
	}
	if spec.LogFile == "" {
		return nil, fmt.Errorf("supervise: daemon %s: no log file", spec.Name)
	}
	if len(spec.After) > 0 {
		return nil, fmt.Errorf("supervise: daemon %s: After needs a Supervisor (New), which knows the other daemons", spec.Name)
	}
	spec.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if onChange == nil {
		onChange = func() {}
	}
	return &Daemon{spec: spec, log: log.With("daemon", spec.Name), onChange: onChange,
		status: Status{Name: spec.Name, State: Stopped, Restarts: spec.PriorRestarts, Since: time.Now(), PidFile: spec.PidFile}}, nil
}

// Status returns a copy of the daemon's status.
func (d *Daemon) Status() Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.status
	if s.LastExit != nil {
		e := *s.LastExit
		s.LastExit = &e
	}
	return s
}

func (d *Daemon) update(fn func(*Status)) {
	d.mu.Lock()
	fn(&d.status)
	if d.changed != nil {
		close(d.changed)
	}
	d.changed = make(chan struct{})
	d.mu.Unlock()
	d.onChange()
}

func (d *Daemon) setState(st State, errText string) {
	d.update(func(s *Status) {
		if s.State != st {
			s.Since = time.Now()
		}
		s.State, s.Error = st, errText
	})
}

// proc is one running process of the daemon, started or adopted.
type proc struct {
	pid     int
	adopted bool
	done    <-chan struct{}
	signal  func(unix.Signal) error
	exit    func() Exit // valid once done is closed
}

// exited tells whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Run keeps the daemon running until ctx ends, then stops it. It returns
// an error only when the daemon could not be started at all by then.
func (d *Daemon) Run(ctx context.Context) error {
	delay := d.spec.Backoff.Initial
	p, err := d.adopt()
	if err != nil {
		d.log.Warn("not adopting", "err", err)
	}
	// bound holds, per daemon of Spec.After, the run this process was
	// started after; 0 for an adopted process (learnt by watchDeps).
	bound := make([]uint64, len(d.deps))
	again := false // the next start is a restart
	for {
		if p == nil {
			var ok bool
			if bound, ok = d.waitDeps(ctx); !ok {
				d.setState(Stopped, "")
				return nil
			}
			if again {
				d.update(func(s *Status) { s.Restarts++ })
				again = false
			}
			if p, err = d.start(); err != nil {
				// Not a crash but a missing program, namespace or folder:
				// retried at the slowest pace, for it rarely heals soon.
				d.setState(Failed, err.Error())
				d.log.Error("cannot start", "err", err, "retry in", d.spec.Backoff.Max)
				t := time.NewTimer(d.spec.Backoff.Max)
				select {
				case <-ctx.Done():
					t.Stop()
					return fmt.Errorf("daemon %s: %w", d.spec.Name, err)
				case <-t.C:
				}
				continue
			}
		}
		started := time.Now()
		d.update(func(s *Status) {
			s.State, s.PID, s.Adopted, s.Since, s.Error = Starting, p.pid, p.adopted, started, ""
			d.run++
		})
		deps := d.watchDeps(bound)
		notReady := d.waitReady(ctx, p, deps.down)
		if ctx.Err() != nil {
			deps.stop()
			return d.stopOrRelease(p)
		}
		var exit Exit
		depDown := false
		if notReady != nil {
			d.log.Warn("not ready: killing it", "pid", p.pid, "err", notReady)
			_ = p.signal(unix.SIGKILL)
			<-p.done
			exit = p.exit()
			exit.Reason = notReady.Error() + " (killed)"
		} else {
			// A process that exited before its check passed was never
			// ready: it goes straight to backoff.
			if st := d.Status(); st.State == Starting && !p.exited() && !deps.fired() {
				d.setState(Ready, "")
				d.log.Info("ready", "pid", p.pid, "after", time.Since(started).Round(time.Millisecond))
			}
			select {
			case <-ctx.Done():
			case <-p.done:
				exit = p.exit()
			case <-deps.down:
				if ctx.Err() != nil {
					break // shutting down: all stop anyway
				}
				d.log.Info("stopping: a daemon it runs after went away", "pid", p.pid, "why", deps.reason)
				exit = d.terminate(p)
				exit.Reason = deps.reason + "; stopped to start again after it (" + exit.Reason + ")"
				depDown = true
			}
			if ctx.Err() != nil {
				deps.stop()
				return d.stopOrRelease(p)
			}
		}
		deps.stop()
		pid := p.pid
		p, again = nil, true
		if depDown {
			// Not its own failure: no backoff, and its delay stays.
			d.update(func(s *Status) {
				s.State, s.PID, s.Adopted, s.LastExit, s.Since, s.Error = Waiting, 0, false, &exit, time.Now(), ""
			})
			d.removePidFile(pid)
			continue
		}
		if time.Since(started) >= d.spec.Backoff.ResetAfter {
			delay = d.spec.Backoff.Initial
		}
		d.log.Warn("exited: restarting", "pid", pid, "reason", exit.Reason, "in", delay)
		d.update(func(s *Status) {
			s.State, s.PID, s.Adopted, s.LastExit, s.Since, s.Error = Backoff, 0, false, &exit, time.Now(), ""
		})
		d.removePidFile(pid)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			d.setState(Stopped, "")
			return nil
		case <-t.C:
		}
		delay = min(2*delay, d.spec.Backoff.Max)
	}
}

// waitDeps waits until every daemon of Spec.After is ready, showing the
// daemon as waiting meanwhile, and returns the run of each; false when ctx
// ended first.
func (d *Daemon) waitDeps(ctx context.Context) ([]uint64, bool) {
	runs := make([]uint64, len(d.deps))
	for {
		var waiting []string
		var next <-chan struct{}
		for i, dep := range d.deps {
			sn := dep.snapshot()
			runs[i] = sn.run
			if sn.state != Ready {
				waiting = append(waiting, dep.spec.Name)
				if next == nil {
					next = sn.changed
				}
			}
		}
		if len(waiting) == 0 {
			return runs, true
		}
		// Waking on the first one that is not ready is enough: every
		// wake-up checks them all again.
		why := strings.Join(waiting, ", ") + " not ready"
		if st := d.Status(); st.State != Waiting || st.Error != why {
			d.log.Info("waiting", "for", waiting)
			d.setState(Waiting, why)
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-next:
		}
	}
}

// depWatch reports that a daemon of Spec.After went away while this one's
// process ran.
type depWatch struct {
	down   chan struct{} // closed when one went away
	reason string        // which and how; set before down is closed
	quit   chan struct{}
	once   sync.Once
}

func (w *depWatch) stop() { w.once.Do(func() { close(w.quit) }) }

func (w *depWatch) fired() bool {
	select {
	case <-w.down:
		return true
	default:
		return false
	}
}

// watchDeps watches the daemons of Spec.After while a process runs that
// was started after their runs bound (0: an adopted process, which binds to
// a dependency's process when that is adopted too). Such a process depends
// on those runs: it must go when one of them exits or another process
// replaces it.
func (d *Daemon) watchDeps(bound []uint64) *depWatch {
	w := &depWatch{down: make(chan struct{}), quit: make(chan struct{})}
	if len(d.deps) == 0 {
		return w
	}
	bound = slices.Clone(bound)
	go func() {
		cases := make([]reflect.SelectCase, len(d.deps)+1)
		cases[len(d.deps)] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(w.quit)}
		for {
			for i, dep := range d.deps {
				sn := dep.snapshot()
				if why := sn.goneSince(bound[i]); why != "" {
					w.reason = dep.spec.Name + " " + why
					close(w.down)
					return
				}
				if bound[i] == 0 && sn.run > 0 {
					bound[i] = sn.run // an adopted dependency: they ran together
				}
				cases[i] = reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(sn.changed)}
			}
			if chosen, _, _ := reflect.Select(cases); chosen == len(d.deps) {
				return
			}
		}
	}()
	return w
}

// snap is what a dependent sees of a daemon at one moment.
type snap struct {
	state   State
	adopted bool
	run     uint64
	changed <-chan struct{}
}

// snapshot returns the daemon's state, which process it is at and a
// channel closed at its next change.
func (d *Daemon) snapshot() snap {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.changed == nil {
		d.changed = make(chan struct{})
	}
	return snap{state: d.status.State, adopted: d.status.Adopted, run: d.run, changed: d.changed}
}

// goneSince tells how the process of run bound is gone ("" if it is not);
// bound 0 stands for an adopted dependent's, which is gone unless the
// daemon's first process was adopted too. Stopped is not gone: the
// supervisor is stopping them all.
func (s snap) goneSince(bound uint64) string {
	alive := s.state == Starting || s.state == Ready || s.state == Stopped
	switch {
	case bound == 0 && s.run == 0:
		return "" // no process yet
	case bound == 0 && alive && !s.adopted:
		return "was started anew"
	case bound == 0 && !alive:
		return "exited"
	case bound == 0:
		return ""
	case s.run != bound:
		return "was restarted"
	case !alive:
		return "exited"
	}
	return ""
}

// waitReady polls the readiness check until it passes, the process exits
// (nil: the caller sees the exit, p.exited), a dependency goes (nil: the
// caller sees it), ReadyTimeout passes or ctx ends.
func (d *Daemon) waitReady(ctx context.Context, p *proc, depDown <-chan struct{}) error {
	if d.spec.Ready == nil {
		return nil
	}
	deadline := time.Now().Add(d.spec.ReadyTimeout)
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		last = d.spec.Ready(cctx)
		cancel()
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %s: %v", d.spec.ReadyTimeout, last)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-p.done:
			return nil
		case <-depDown:
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// terminate ends p: SIGTERM, StopGrace, SIGKILL; it returns how p ended.
func (d *Daemon) terminate(p *proc) Exit {
	_ = p.signal(unix.SIGTERM)
	t := time.NewTimer(d.spec.StopGrace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		d.log.Warn("did not stop within the grace period: killing it", "pid", p.pid, "grace", d.spec.StopGrace)
		_ = p.signal(unix.SIGKILL)
		<-p.done
	}
	return p.exit()
}

// stopOrRelease stops p, or leaves it running with its pid file when the
// daemon was released, for the next supervisor to adopt.
func (d *Daemon) stopOrRelease(p *proc) error {
	if d.released.Load() {
		d.log.Info("released: left running for the next supervisor", "pid", p.pid)
		return nil
	}
	return d.stop(p)
}

// stop ends the daemon's process for good (see terminate).
func (d *Daemon) stop(p *proc) error {
	exit := d.terminate(p)
	d.removePidFile(p.pid)
	d.update(func(s *Status) {
		s.State, s.PID, s.Adopted, s.LastExit, s.Since, s.Error = Stopped, 0, false, &exit, time.Now(), ""
	})
	d.log.Info("stopped", "pid", p.pid, "reason", exit.Reason)
	return nil
}

// adopt finds a process an earlier supervisor started, through the pid
// file.
func (d *Daemon) adopt() (*proc, error) {
	if d.spec.PidFile == "" {
		return nil, nil
	}
	found, err := Find(d.spec.PidFile)
	if err != nil || found == nil {
		return nil, err
	}
	d.log.Info("adopted", "pid", found.PID)
	return &proc{pid: found.PID, adopted: true, done: found.Done(), signal: found.Signal,
		exit: func() Exit {
			// Only a parent learns the exit status.
			return Exit{Code: -1, Reason: "exited (status unknown: adopted, not a child of this supervisor)", Time: time.Now()}
		}}, nil
}

// start starts a new process of the daemon.
func (d *Daemon) start() (*proc, error) {
	out, err := os.OpenFile(d.spec.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	defer out.Close()
	cmd := exec.Command(d.spec.Path, d.spec.Args...)
	cmd.Stdout, cmd.Stderr = out, out
	// Its own session: a signal to the supervisor's process group (a
	// terminal's Ctrl-C) does not reach it, and it outlives a supervisor
	// that crashes, to be adopted by the next one.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if d.spec.Netns == "" {
		err = cmd.Start()
	} else {
		err = nsutil.Start(d.spec.Netns, cmd)
	}
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", d.spec.Path, err)
	}
	done := make(chan struct{})
	var exit Exit
	go func() {
		err := cmd.Wait()
		exit = exitOf(cmd.ProcessState, err)
		close(done)
	}()
	if d.spec.PidFile != "" {
		if err := WritePidFile(d.spec.PidFile, cmd.Process.Pid); err != nil {
			// Without it a crash of the supervisor would leave an orphan
			// that the next one cannot adopt: better not run at all.
			_ = cmd.Process.Kill()
			<-done
			return nil, err
		}
	}
	d.log.Info("started", "pid", cmd.Process.Pid, "netns", d.spec.Netns)
	return &proc{pid: cmd.Process.Pid, done: done,
		signal: func(sig unix.Signal) error {
			if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
				return err
			}
			return nil
		},
		exit: func() Exit { return exit }}, nil
}

func exitOf(ps *os.ProcessState, err error) Exit {
	e := Exit{Code: -1, Time: time.Now()}
	if ps == nil {
		e.Reason = fmt.Sprintf("wait: %v", err)
		return e
	}
	ws, _ := ps.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		e.Signal = ws.Signal().String()
		e.Reason = "killed by signal: " + e.Signal
	default:
		e.Code = ps.ExitCode()
		e.Reason = fmt.Sprintf("exit status %d", e.Code)
	}
	return e
}

// removePidFile removes the pid file if it still names pid (a newer
// process may have replaced it).
func (d *Daemon) removePidFile(pid int) {
	if d.spec.PidFile == "" {
		return
	}
	data, err := os.ReadFile(d.spec.PidFile)
	if err != nil {
		return
	}
	var have int
	if _, err := fmt.Sscan(string(data), &have); err == nil && have == pid {
		_ = os.Remove(d.spec.PidFile)
	}
}
