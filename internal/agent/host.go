package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RunHost runs the agents of many nodes in one process until ctx ends, as
// an emulated lab does: each keeps what a real network sees (its own
// endpoint, TLS identity, state file and network namespace, see Config),
// but they share one Go runtime instead of paying a process each.
//
// Every agent restores its saved state first and then serves; they start
// in parallel, a bounded number at a time (a restore reconciles a whole
// routing table). Their reconciles are not bounded together unless the
// configurations share a Limiter: measured at 1,024 routers (3,000 routes
// each), a bound of 4 or 32 reconciles made the controller's pushes queue
// past its 5 s deadline and come back every second, and the host was not
// ready within 112 s three times, where without one it was in 63 s. An agent that cannot listen is retried every
// hostRetry without holding up the others, and a handler that panics
// fails only its call (see serve). Bad configurations (a missing TLS
// configuration, two agents of one node or one endpoint) are refused
// before any agent starts.
func RunHost(ctx context.Context, agents []Config, log *slog.Logger) error {
	return ServeHost(ctx, agents, nil, log)
}

// ServeHost is RunHost with a set of agents that changes while it runs:
// each set received from reload replaces the last. Agents of nodes no
// longer in it stop; agents of new nodes start; an agent whose node's
// namespace was made again (another inode at the same path: the node was
// replaced) starts over; the others run on untouched, with their
// connections, loss measurement and state. A set that fails the checks of
// RunHost is refused whole (logged) and the running set stays.
func ServeHost(ctx context.Context, agents []Config, reload <-chan []Config, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	if err := checkHostSet(agents); err != nil {
		return err
	}
	type running struct {
		id     string
		cancel context.CancelFunc
		done   chan struct{}
	}
	run := map[string]*running{}
	starting := make(chan struct{}, hostStartParallel())
	var wg sync.WaitGroup
	stop := func(node string) {
		r := run[node]
		r.cancel()
		<-r.done
		delete(run, node)
	}
	// apply starts the agents of set not running as they are, and returns
	// once each has made its first attempt to listen.
	apply := func(set []Config) {
		want := map[string]bool{}
		for _, cfg := range set {
			want[cfg.Node] = true
		}
		for node := range run {
			if !want[node] {
				stop(node)
				log.Info("agent host: agent stopped", "node", node)
			}
		}
		var started sync.WaitGroup
		for _, cfg := range set {
			id := agentIdentity(cfg)
			if r, ok := run[cfg.Node]; ok {
				if r.id == id {
					continue
				}
				// The node was replaced: the old agent's state (which
				// its stop may just have flushed) is not the new one's.
				stop(cfg.Node)
				for _, f := range StateFiles(cfg.StateFile) {
					if cfg.StateFile != "" {
						_ = os.Remove(f)
					}
				}
			}
			if cfg.Log == nil {
				cfg.Log = log.With("node", cfg.Node)
			}
			actx, cancel := context.WithCancel(ctx)
			r := &running{id: id, cancel: cancel, done: make(chan struct{})}
			run[cfg.Node] = r
			wg.Add(1)
			started.Add(1)
			go func() {
				defer wg.Done()
				defer close(r.done)
				hostAgent(actx, cfg, starting, started.Done)
			}()
		}
		started.Wait()
	}
	start := time.Now()
	apply(agents)
	log.Info("agent host: every agent restored and listening", "agents", len(agents), "after", time.Since(start).Round(time.Millisecond))
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case set := <-reload:
			if err := checkHostSet(set); err != nil {
				log.Error("agent host: reload refused; the running agents stay", "err", err)
				continue
			}
			start := time.Now()
			apply(set)
			log.Info("agent host: reloaded", "agents", len(set), "after", time.Since(start).Round(time.Millisecond))
		}
	}
}

// checkHostSet refuses a set of agents one host cannot run.
func checkHostSet(agents []Config) error {
	if len(agents) == 0 {
		return errors.New("agent host: no agents to run")
	}
	nodes, listens := map[string]bool{}, map[string]string{}
	for _, cfg := range agents {
		if cfg.Node == "" {
			return errors.New("agent host: an agent without a node name")
		}
		if err := cfg.check(); err != nil {
			return err
		}
		if nodes[cfg.Node] {
			return fmt.Errorf("agent host: node %s given twice", cfg.Node)
		}
		nodes[cfg.Node] = true
		if other, ok := listens[cfg.Listen]; ok {
			return fmt.Errorf("agent host: nodes %s and %s both listen on %s", other, cfg.Node, cfg.Listen)
		}
		listens[cfg.Listen] = cfg.Node
	}
	return nil
}

// agentIdentity tells two configurations of a node's agent apart: its
// endpoint, files and namespace, the namespace by its inode too, since a
// node that was replaced has a new namespace at the same path.
func agentIdentity(cfg Config) string {
	ns := cfg.Netns
	if fi, err := os.Stat(cfg.Netns); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ns = fmt.Sprintf("%s@%d:%d", cfg.Netns, st.Dev, st.Ino)
		}
	}
	return strings.Join([]string{cfg.Listen, cfg.StateFile, ns}, "|")
}

// hostRetry spaces the attempts of an agent that could not listen or
// stopped serving.
const hostRetry = time.Second

// hostStartParallel bounds how many agents restore and open their socket
// at once: each holds a locked OS thread while it works in its namespace.
func hostStartParallel() int { return max(4, 4*runtime.GOMAXPROCS(0)) }

// hostAgent runs one agent of a host: restore, listen, serve, and again
// after hostRetry if listening or serving fails, until ctx ends. started
// is called once, after the first attempt to listen.
func hostAgent(ctx context.Context, cfg Config, starting chan struct{}, started func()) {
	s := NewServer(cfg)
	log := s.cfg.Log
	once := sync.OnceFunc(started)
	defer once()
	// An agent the host stops (its node left the lab) takes its loss
	// measurement and STAMP goroutines with it; the kernel's routes stay.
	defer func() {
		s.Flush()
		if err := s.pm.apply(nil); err != nil {
			log.Debug("stop measurement", "err", err)
		}
	}()
	select {
	case starting <- struct{}{}:
	case <-ctx.Done():
		return
	}
	// A saved state that no longer applies must not keep the agent down:
	// the controller will send a good one.
	if err := s.Restore(); err != nil {
		log.Error("restore saved desired state; serving anyway", "err", err)
	}
	for {
		lis, err := ListenIn(cfg.Netns, cfg.Listen)
		if starting != nil {
			<-starting
			starting = nil
			once()
		}
		if err == nil {
			err = s.serve(ctx, lis)
		}
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("stopped serving")
		}
		log.Error("agent not serving; retrying", "err", err, "in", hostRetry)
		select {
		case <-ctx.Done():
			return
		case <-time.After(hostRetry):
		}
	}
}
