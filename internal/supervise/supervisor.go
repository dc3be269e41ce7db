package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
)

// Supervisor owns a set of daemons: Run starts them all, keeps them
// running and, when its context ends, stops them all.
type Supervisor struct {
	daemons  []*Daemon
	onChange func([]Status)
	mu       sync.Mutex // serialises onChange calls
}

// Options tune a Supervisor.
type Options struct {
	Log *slog.Logger
	// OnChange is called with every daemon's status after any change, one
	// call at a time (e.g. to write a status file).
	OnChange func([]Status)
}

// New returns a supervisor of specs. Names must be unique.
func New(specs []Spec, opts Options) (*Supervisor, error) {
	s := &Supervisor{onChange: opts.OnChange}
	seen := map[string]bool{}
	for _, spec := range specs {
		if seen[spec.Name] {
			return nil, fmt.Errorf("supervise: two daemons named %q", spec.Name)
		}
		seen[spec.Name] = true
		d, err := NewDaemon(spec, opts.Log, s.changed)
		if err != nil {
			return nil, err
		}
		s.daemons = append(s.daemons, d)
	}
	return s, nil
}

func (s *Supervisor) changed() {
	if s.onChange == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.onChange(s.Status())
}

// Status returns every daemon's status, in the order of the specs.
func (s *Supervisor) Status() []Status {
	out := make([]Status, len(s.daemons))
	for i, d := range s.daemons {
		out[i] = d.Status()
	}
	return out
}

// Run runs every daemon until ctx ends and they are all stopped. A daemon
// that cannot be started does not stop the others; Run returns the errors
// of those that were still failing to start at the end.
func (s *Supervisor) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make([]error, len(s.daemons))
	for i, d := range s.daemons {
		wg.Go(func() { errs[i] = d.Run(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
