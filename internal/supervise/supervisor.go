package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
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

// New returns a supervisor of specs. Names must be unique, and every name
// in a Spec.After one of specs, without cycles.
func New(specs []Spec, opts Options) (*Supervisor, error) {
	s := &Supervisor{onChange: opts.OnChange}
	byName := map[string]*Daemon{}
	for _, spec := range specs {
		if byName[spec.Name] != nil {
			return nil, fmt.Errorf("supervise: two daemons named %q", spec.Name)
		}
		spec.After = nil // resolved below, once every daemon exists
		d, err := NewDaemon(spec, opts.Log, s.changed)
		if err != nil {
			return nil, err
		}
		byName[spec.Name] = d
		s.daemons = append(s.daemons, d)
	}
	for i, spec := range specs {
		for _, name := range spec.After {
			dep := byName[name]
			switch {
			case dep == nil:
				return nil, fmt.Errorf("supervise: daemon %s runs after %q, which is not one of the supervised daemons", spec.Name, name)
			case name == spec.Name:
				return nil, fmt.Errorf("supervise: daemon %s runs after itself", spec.Name)
			case slices.Contains(s.daemons[i].deps, dep):
				return nil, fmt.Errorf("supervise: daemon %s lists %q twice in After", spec.Name, name)
			}
			s.daemons[i].deps = append(s.daemons[i].deps, dep)
		}
	}
	if cycle := findCycle(s.daemons); cycle != nil {
		return nil, fmt.Errorf("supervise: daemons run after each other in a circle, none could start: %s", strings.Join(cycle, " -> "))
	}
	return s, nil
}

// findCycle returns the names along a cycle of After, or nil.
func findCycle(daemons []*Daemon) []string {
	const (
		unseen = iota
		onPath
		done
	)
	mark := map[*Daemon]int{}
	var path []*Daemon
	var visit func(d *Daemon) []string
	visit = func(d *Daemon) []string {
		switch mark[d] {
		case onPath:
			i := slices.Index(path, d)
			var names []string
			for _, p := range append(path[i:], d) {
				names = append(names, p.spec.Name)
			}
			return names
		case done:
			return nil
		}
		mark[d] = onPath
		path = append(path, d)
		for _, dep := range d.deps {
			if c := visit(dep); c != nil {
				return c
			}
		}
		path = path[:len(path)-1]
		mark[d] = done
		return nil
	}
	for _, d := range daemons {
		if c := visit(d); c != nil {
			return c
		}
	}
	return nil
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

// Release makes Run leave the named daemons running when its context
// ends, pid files and all, for another supervisor to adopt (a supervisor
// reloading its set of daemons hands over those that stay); the others are
// stopped as usual.
func (s *Supervisor) Release(names ...string) {
	for _, d := range s.daemons {
		if slices.Contains(names, d.spec.Name) {
			d.released.Store(true)
		}
	}
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
