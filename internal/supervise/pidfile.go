package supervise

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A pid file holds "PID STARTTIME": the start time (field 22 of
// /proc/PID/stat, in clock ticks since boot) tells the process apart from a
// later one that reuses its pid.

// startTime reads pid's start time from /proc.
func startTime(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is parenthesised and may hold spaces: fields are
	// counted after its closing parenthesis.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	// fields[0] is field 3 (state); the start time is field 22.
	if len(fields) < 20 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(fields))
	}
	if fields[0] == "Z" || fields[0] == "X" {
		return 0, fmt.Errorf("process %d has exited", pid)
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// Alive tells whether pid is a running process (not a zombie waiting to be
// reaped).
func Alive(pid int) bool {
	_, err := startTime(pid)
	return err == nil
}

// WritePidFile records pid (a running process) in path, atomically.
func WritePidFile(path string, pid int) error {
	st, err := startTime(pid)
	if err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".pid-*")
	if err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := fmt.Fprintf(tmp, "%d %d\n", pid, st); err != nil {
		tmp.Close()
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("pid file %s: %w", path, err)
	}
	return nil
}

// Process is a running process found through its pid file, held by a
// pidfd so that signals never reach a process that reused its pid.
type Process struct {
	PID  int
	mu   sync.Mutex // guards fd against its close once the process exited
	fd   int
	done chan struct{}
}

// Find returns the process path records if it still runs; nil, nil when
// the file is missing or names a process that has exited.
func Find(path string) (*Process, error) {
	p, err := find(path)
	if err != nil || p == nil {
		return nil, err
	}
	go p.watch()
	return p, nil
}

// find opens the process of a pid file without watching it.
func find(path string) (*Process, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pid file: %w", err)
	}
	var pid int
	var want uint64
	if _, err := fmt.Sscan(string(data), &pid, &want); err != nil || pid <= 0 {
		return nil, fmt.Errorf("pid file %s: want \"PID STARTTIME\", have %q", path, strings.TrimSpace(string(data)))
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	// Checked after the pidfd is open: if the start time matches now and
	// the pidfd reports the process alive, both name the same process.
	if st, err := startTime(pid); err != nil || st != want {
		unix.Close(fd)
		return nil, nil
	}
	return &Process{PID: pid, fd: fd, done: make(chan struct{})}, nil
}

// watch closes done when the process exits: a pidfd becomes readable then,
// for children and non-children alike.
func (p *Process) watch() {
	for {
		fds := []unix.PollFd{{Fd: int32(p.fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, -1)
		if err != nil || n == 0 || fds[0].Revents&(unix.POLLIN|unix.POLLHUP|unix.POLLERR) == 0 {
			// Only the pidfd's word means the process ended: a failed
			// poll taken for an exit would start a second copy of a
			// daemon that still runs. Errors and POLLNVAL (the fd is
			// not valid) wait before the next try instead of spinning.
			if (err != nil && !errors.Is(err, unix.EINTR)) || fds[0].Revents&unix.POLLNVAL != 0 {
				time.Sleep(100 * time.Millisecond)
			}
			continue
		}
		p.mu.Lock()
		close(p.done)
		unix.Close(p.fd)
		p.mu.Unlock()
		return
	}
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Signal sends sig to the process, if it still runs.
func (p *Process) Signal(sig unix.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := unix.PidfdSendSignal(p.fd, sig, nil, 0); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal %d: %w", p.PID, err)
	}
	return nil
}

// Terminate sends SIGTERM, waits up to grace, then sends SIGKILL and waits
// for the exit (or ctx).
func (p *Process) Terminate(ctx context.Context, grace time.Duration) error {
	if err := p.Signal(unix.SIGTERM); err != nil {
		return err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	if err := p.Signal(unix.SIGKILL); err != nil {
		return err
	}
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("process %d: %w", p.PID, ctx.Err())
	}
}

// Running tells whether the process path records still runs, and its pid.
func Running(path string) (int, bool) {
	p, err := find(path)
	if err != nil || p == nil {
		return 0, false
	}
	unix.Close(p.fd)
	return p.PID, true
}

// TerminatePidFile ends the process path records, if it runs (see
// Process.Terminate), and tells whether there was one.
func TerminatePidFile(ctx context.Context, path string, grace time.Duration) (bool, error) {
	p, err := Find(path)
	if err != nil || p == nil {
		return false, err
	}
	return true, p.Terminate(ctx, grace)
}
