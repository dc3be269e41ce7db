package controller

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	"github.com/sr6net/sr6/internal/intent"
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

// Push implements Pusher: the state goes to the agent in the agent API's
// protobuf, the one place the controller's model is converted to it.
func (a *Agents) Push(ctx context.Context, node string, st *intent.State) (Applied, error) {
	c, ok := a.clients[node]
	if !ok {
		return Applied{}, fmt.Errorf("no agent for node %s", node)
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	reply, err := c.Apply(ctx, &agentv1.ApplyRequest{State: intent.ToProto(*st)}, grpc.WaitForReady(true))
	if err != nil {
		return Applied{}, fmt.Errorf("apply on %s: %w", node, err)
	}
	return appliedFromProto(reply), nil
}

// Run connects the controller to the agents until ctx ends: it watches
// every agent's links (feeding LinkEvent) and pushes each node's desired
// state whenever it changes, when the agent (re)connects, and again every
// second after a failure. Each node has its own pusher, so an agent that is
// down or slow delays nobody else's updates.
func (c *Controller) Run(ctx context.Context, agents *Agents) error {
	type pusher struct {
		signal chan struct{}
		reset  atomic.Bool // the agent reconnected: push even if unchanged
	}
	pushers := map[string]*pusher{}
	for _, r := range c.routers {
		pushers[r.Name] = &pusher{signal: make(chan struct{}, 1)}
	}
	poke := func(p *pusher) {
		select {
		case p.signal <- struct{}{}:
		default:
		}
	}
	var wg sync.WaitGroup
	for node, p := range pushers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.pushLoop(ctx, node, p.signal, &p.reset)
		}()
	}
	// Every loop is waited for, so that nothing outlives Run and touches
	// the agents' connections or the bus its owner closes next.
	for node := range agents.clients {
		wg.Add(2)
		go func() {
			defer wg.Done()
			c.watch(ctx, agents, node, func(node string, again bool) {
				if p, ok := pushers[node]; ok {
					// The first stream follows the first push (or a
					// failed one): pushing the same state again would
					// only double a big lab's start-up work. A later one
					// may be a restarted agent's.
					if again {
						p.reset.Store(true)
					}
					poke(p)
				}
			})
		}()
		go func() {
			defer wg.Done()
			c.watchMeasurements(ctx, agents, node)
		}()
	}
	for _, p := range pushers {
		poke(p)
	}
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-c.changed:
			settle(ctx, c.changed)
			for _, p := range pushers {
				poke(p)
			}
		}
	}
}

// pushLoop keeps one node's agent at the node's desired state: a failed
// push is retried every second (logged when its error changes, and once a
// minute), a state whose routes the kernel refused only after a long pause
// or a change (see pushStep).
func (c *Controller) pushLoop(ctx context.Context, node string, signal <-chan struct{}, reset *atomic.Bool) {
	np := &nodePush{node: node}
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-signal:
		case <-retry.C:
		}
		if reset.Swap(false) {
			np.have = false
		}
		c.pushStep(ctx, np, time.Now())
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

// watch follows node's link events, reconnecting with backoff. A stream
// after one that ended (again), even one that ended before its first
// event, means the agent may have restarted: its state is pushed again.
func (c *Controller) watch(ctx context.Context, agents *Agents, node string, reconnected func(node string, again bool)) {
	client, _ := agents.Client(node)
	backoff := 100 * time.Millisecond
	attempts := 0 // streams that ended, with or without an event
	for ctx.Err() == nil {
		stream, err := client.WatchLinks(ctx, &agentv1.WatchLinksRequest{}, grpc.WaitForReady(true))
		first := true
		if err == nil {
			for {
				ev, rerr := stream.Recv()
				if rerr != nil {
					err = rerr
					break
				}
				if first {
					first = false
					backoff = 100 * time.Millisecond
					c.linkStreamChanged(node, true, time.Now())
					reconnected(node, attempts > 0)
				}
				c.LinkEvent(ev.Node, ev.Interface, ev.Up)
			}
		}
		if ctx.Err() != nil {
			return
		}
		// Its policies are not up until a push reaches it again.
		if err == nil {
			err = errors.New("link event stream ended")
		}
		if !first {
			c.linkStreamChanged(node, false, time.Now())
		}
		attempts++
		c.agentUnreachable(node, err, time.Now())
		c.log.Info("agent stream ended; reconnecting", "node", node, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

// watchMeasurements feeds node's loss measurements to the processor,
// reconnecting with backoff. The records stay in the agent API's protobuf:
// the bus carries that wire format as it is.
func (c *Controller) watchMeasurements(ctx context.Context, agents *Agents, node string) {
	client, _ := agents.Client(node)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		stream, err := client.WatchMeasurements(ctx, &agentv1.WatchMeasurementsRequest{}, grpc.WaitForReady(true))
		if err == nil {
			for {
				m, err := stream.Recv()
				if err != nil {
					break
				}
				backoff = 100 * time.Millisecond
				c.mu.Lock()
				b := c.bus
				c.mu.Unlock()
				if b == nil {
					c.Measurement(m)
					continue
				}
				if err := b.Publish(ctx, m); err != nil {
					c.log.Warn("publish measurement", "node", node, "err", err)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}
