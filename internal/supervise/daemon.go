package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/sr6net/sr6/internal/nsutil"
)

// State is where a daemon is in its life.
type State string

// States of a daemon.
const (
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

	mu     sync.Mutex
	status Status
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
	for {
		if p == nil {
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
		})
		notReady := d.waitReady(ctx, p)
		if ctx.Err() != nil {
			return d.stop(p)
		}
		var exit Exit
		if notReady != nil {
			d.log.Warn("not ready: killing it", "pid", p.pid, "err", notReady)
			_ = p.signal(unix.SIGKILL)
			<-p.done
			exit = p.exit()
			exit.Reason = notReady.Error() + " (killed)"
		} else {
			// A process that exited before its check passed was never
			// ready: it goes straight to backoff.
			if st := d.Status(); st.State == Starting && !p.exited() {
				d.setState(Ready, "")
				d.log.Info("ready", "pid", p.pid, "after", time.Since(started).Round(time.Millisecond))
			}
			select {
			case <-ctx.Done():
				return d.stop(p)
			case <-p.done:
			}
			exit = p.exit()
		}
		if time.Since(started) >= d.spec.Backoff.ResetAfter {
			delay = d.spec.Backoff.Initial
		}
		d.log.Warn("exited: restarting", "pid", p.pid, "reason", exit.Reason, "in", delay)
		d.update(func(s *Status) {
			s.State, s.PID, s.Adopted, s.LastExit, s.Since, s.Error = Backoff, 0, false, &exit, time.Now(), ""
		})
		d.removePidFile(p.pid)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			d.setState(Stopped, "")
			return nil
		case <-t.C:
		}
		delay = min(2*delay, d.spec.Backoff.Max)
		p = nil
		d.update(func(s *Status) { s.Restarts++ })
	}
}

// waitReady polls the readiness check until it passes, the process exits
// (nil: the caller sees the exit, p.exited), ReadyTimeout passes or ctx ends.
func (d *Daemon) waitReady(ctx context.Context, p *proc) error {
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
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop ends the daemon's process: SIGTERM, StopGrace, SIGKILL.
func (d *Daemon) stop(p *proc) error {
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
	exit := p.exit()
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
