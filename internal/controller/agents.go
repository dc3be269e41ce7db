package controller

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
)

// AgentEndpoint is where a node's agent listens.
type AgentEndpoint struct {
	Node string
	Addr string      // "unix:///path" or "host:port"
	TLS  *tls.Config // nil: plaintext (trusted test networks only)
}

// Agents holds one gRPC connection per node's agent.
type Agents struct {
	log     *slog.Logger
	clients map[string]agentv1.AgentClient
	conns   []*grpc.ClientConn
}

// DialAgents prepares connections to every endpoint; gRPC connects lazily
// and reconnects by itself.
func DialAgents(eps []AgentEndpoint, log *slog.Logger) (*Agents, error) {
	a := &Agents{log: log, clients: map[string]agentv1.AgentClient{}}
	for _, ep := range eps {
		creds := insecure.NewCredentials()
		if ep.TLS != nil {
			creds = credentials.NewTLS(ep.TLS)
		}
		conn, err := grpc.NewClient(ep.Addr, grpc.WithTransportCredentials(creds))
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("agent %s at %s: %w", ep.Node, ep.Addr, err)
		}
		a.conns = append(a.conns, conn)
		a.clients[ep.Node] = agentv1.NewAgentClient(conn)
	}
	return a, nil
}

// Close closes every connection.
func (a *Agents) Close() {
	for _, c := range a.conns {
		c.Close()
	}
}

// Client returns node's agent client.
func (a *Agents) Client(node string) (agentv1.AgentClient, bool) {
	c, ok := a.clients[node]
	return c, ok
}

// Push implements Pusher.
func (a *Agents) Push(ctx context.Context, node string, st *agentv1.DesiredState) error {
	c, ok := a.clients[node]
	if !ok {
		return fmt.Errorf("no agent for node %s", node)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := c.Apply(ctx, &agentv1.ApplyRequest{State: st}, grpc.WaitForReady(true)); err != nil {
		return fmt.Errorf("apply on %s: %w", node, err)
	}
	return nil
}

// Run connects the controller to the agents until ctx ends: it watches
// every agent's links (feeding LinkEvent) and pushes each node's desired
// state whenever it changes, when the agent (re)connects, and again after
// failures.
func (c *Controller) Run(ctx context.Context, agents *Agents) error {
	var mu sync.Mutex
	// applied[node] is the version of the desired state the agent acked:
	// a rebuild that did not change the state still moves the version,
	// and pushing the same state again is harmless (Apply is idempotent).
	applied := map[string]uint64{}
	forget := func(node string) {
		mu.Lock()
		delete(applied, node)
		mu.Unlock()
		c.kick()
	}
	for node := range agents.clients {
		go c.watch(ctx, agents, node, forget)
	}
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-c.changed:
			settle(ctx, c.changed)
		case <-retry.C:
		}
		g, gctx := errgroup.WithContext(ctx)
		for _, r := range c.routers {
			node := r.Name
			want, version := c.desiredVersion(node)
			mu.Lock()
			acked, ok := applied[node]
			mu.Unlock()
			done := ok && acked == version
			if done {
				continue
			}
			g.Go(func() error {
				if err := c.push.Push(gctx, node, want); err != nil {
					c.log.Warn("push failed; will retry", "node", node, "err", err)
					return nil
				}
				mu.Lock()
				applied[node] = version
				mu.Unlock()
				return nil
			})
		}
		_ = g.Wait()
	}
}

// Pushes wait until changes pause for settleQuiet (at most settleMax): a
// burst of API calls then costs the agents a few reconciles rather than
// one per call, while a lone change (a link failure) waits only
// settleQuiet.
const (
	settleQuiet = 5 * time.Millisecond
	settleMax   = 100 * time.Millisecond
)

func settle(ctx context.Context, changed <-chan struct{}) {
	deadline := time.After(settleMax)
	quiet := time.NewTimer(settleQuiet)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-deadline:
			return
		case <-quiet.C:
			return
		case <-changed:
			quiet.Reset(settleQuiet)
		}
	}
}

func (c *Controller) kick() {
	select {
	case c.changed <- struct{}{}:
	default:
	}
}

// watch follows node's link events, reconnecting with backoff. A new
// stream means the agent may have restarted: its state is pushed again.
func (c *Controller) watch(ctx context.Context, agents *Agents, node string, reconnected func(string)) {
	client, _ := agents.Client(node)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		stream, err := client.WatchLinks(ctx, &agentv1.WatchLinksRequest{}, grpc.WaitForReady(true))
		if err == nil {
			first := true
			for {
				ev, err := stream.Recv()
				if err != nil {
					break
				}
				if first {
					first = false
					backoff = 100 * time.Millisecond
					reconnected(node)
				}
				c.LinkEvent(ev.Node, ev.Interface, ev.Up)
			}
		}
		if ctx.Err() != nil {
			return
		}
		c.log.Info("agent stream ended; reconnecting", "node", node, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
