package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
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
	if log == nil {
		log = slog.Default()
	}
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
	start := time.Now()
	starting := make(chan struct{}, hostStartParallel())
	var wg, started sync.WaitGroup
	for _, cfg := range agents {
		if cfg.Log == nil {
			cfg.Log = log.With("node", cfg.Node)
		}
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			hostAgent(ctx, cfg, starting, started.Done)
		}()
	}
	started.Wait()
	log.Info("agent host: every agent restored and listening", "agents", len(agents), "after", time.Since(start).Round(time.Millisecond))
	wg.Wait()
	return nil
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
