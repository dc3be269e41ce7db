package lab

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/agent"
	"github.com/sr6net/sr6/internal/kinds"
	"github.com/sr6net/sr6/internal/nsutil"
	"github.com/sr6net/sr6/internal/pki"
	"github.com/sr6net/sr6/internal/supervise"
	"github.com/sr6net/sr6/internal/topo"
)

// agentHostName names the lab's agent host in supervisor status: the one
// process that serves every router's agent (see RunAgents).
const agentHostName = "agents"

// AgentHostArgs are the arguments of `sr6 lab agents` for lab name: the
// agent host process the supervisor runs.
func AgentHostArgs(stateDir, name string) []string {
	return []string{"--state-dir", stateDir, "lab", "agents", name}
}

// agentNodes are the names of the nodes of nw that run an agent, in file
// order.
func agentNodes(nw *topo.Network) ([]string, error) {
	nodes, err := nodeKinds().NodesRunning(nw, kinds.DaemonAgent)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
	}
	return names, nil
}

// agentHostSpec is the supervised agent host of the lab st describes,
// serving the agents of nodes. It runs in the host's namespace and enters
// each router's for that router's work; it is ready once every agent
// answers over mutual TLS.
func agentHostSpec(st *State, l Layout, binary, stateDir string, nodes []string) supervise.Spec {
	r := &hostReadiness{labDir: l.Dir, pidFile: l.AgentHostPid(), nodes: nodes}
	if st.Controller != "" {
		// The token is read when the spec is made: deploy writes it
		// before the supervisor starts.
		if token, err := restv1.ReadTokenFile(l.APIToken()); err == nil {
			r.controller = restv1.NewClient(st.Controller, restv1.WithToken(token))
		}
	}
	return supervise.Spec{
		Name: agentHostName, Path: binary, Args: AgentHostArgs(stateDir, st.Name),
		LogFile: l.AgentHostLog(), PidFile: l.AgentHostPid(),
		Ready:        r.check,
		ReadyTimeout: agentHostReadyTimeout(len(nodes)),
	}
}

// agentHostReadyTimeout bounds the wait for n agents to answer: ten
// seconds is plenty for a few, but at 1,024 routers with the full static
// underlay (3,000 routes each) an agent answered in 0.1 to 0.2 s on two
// busy cores, and the host must not be killed for being slow.
func agentHostReadyTimeout(n int) time.Duration {
	return 10*time.Second + time.Duration(n)*100*time.Millisecond
}

// RunAgents runs every router agent of lab name in this process until ctx
// ends (see agent.ServeHost): each with its node's certificate, socket,
// state file and network namespace, and its own log (Layout.AgentLog).
// It is the process of the lab's "agents" daemon. SIGHUP makes it read
// the lab's state again and serve the routers of its topology: a deploy
// of a changed topology sends it, so that the agents of routers that stay
// run on untouched.
func RunAgents(ctx context.Context, name string, opts Options) error {
	opts.defaults()
	// First, so that a reload asked for while the host starts is not its
	// end (SIGHUP's default) but a second look at the state.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	logs := map[string]*os.File{}
	defer func() {
		for _, f := range logs {
			f.Close()
		}
	}()
	cfgs, err := agentConfigs(ctx, name, opts, logs)
	if err != nil {
		return err
	}
	reload := make(chan []agent.Config)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	reloader := make(chan struct{})
	go func() {
		defer close(reloader)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			next, err := agentConfigs(ctx, name, opts, logs)
			if err != nil {
				opts.Log.Error("agent host: reload: keeping the running agents", "err", err)
				continue
			}
			select {
			case reload <- next:
			case <-ctx.Done():
				return
			}
		}
	}()
	opts.Log.Info("agent host", "lab", name, "agents", len(cfgs), "pid", os.Getpid())
	err = agent.ServeHost(ctx, cfgs, reload, opts.Log)
	cancel()
	<-reloader // before its logs are closed
	return err
}

// agentConfigs are the configurations of lab name's router agents, from
// its state; logs holds each node's open log file, opened here the first
// time a node is seen and kept for the host's life.
func agentConfigs(ctx context.Context, name string, opts Options, logs map[string]*os.File) ([]agent.Config, error) {
	st, err := opts.Store.Load(name)
	if err != nil {
		return nil, err
	}
	if !st.Agents {
		return nil, fmt.Errorf("lab %s runs no agents (deployed with --agents=false)", name)
	}
	nw, err := stateNetwork(st)
	if err != nil {
		return nil, fmt.Errorf("lab %s: stored topology: %w", name, err)
	}
	l, err := opts.Store.Layout(name)
	if err != nil {
		return nil, err
	}
	nodes, err := agentNodes(nw)
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("lab %s has no node that runs an agent", name)
	}
	level := slog.LevelInfo
	if opts.Log.Enabled(ctx, slog.LevelDebug) {
		level = slog.LevelDebug
	}
	for _, node := range nodes {
		if logs[node] != nil {
			continue
		}
		f, err := os.OpenFile(l.AgentLog(node), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("agent %s: log: %w", node, err)
		}
		logs[node] = f
	}
	cfgs := make([]agent.Config, len(nodes))
	// Loading a thousand key pairs is worth the cores.
	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	for i, node := range nodes {
		f := logs[node]
		g.Go(func() error {
			log := slog.New(slog.NewTextHandler(f, &slog.HandlerOptions{Level: level})).With("node", node)
			cfg, err := agentOptions(l, node).Config(log)
			if err != nil {
				return fmt.Errorf("agent %s: %w", node, err)
			}
			cfg.Netns = nsutil.Path(Namespace(name, node))
			cfgs[i] = cfg
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return cfgs, nil
}

// hostReadiness checks that every agent of the host answers GetState over
// mutual TLS, as the controller will talk to them, a few at a time.
//
// The probes outlive the one-second check the supervisor bounds each call
// to: a check starts probes, waits for them until its deadline and
// returns, and the next check collects what they found. A big lab's agent
// may need more than a second to answer while the host starts up a
// thousand others and the controller pushes to them, and a probe cut at
// every check's deadline would never finish. Agents found ready stay
// ready for the same host process; a new one (another pid) starts over.
type hostReadiness struct {
	labDir, pidFile string
	nodes           []string
	// controller, when the lab has one, answers first: every agent is
	// ready once it reports them all connected (their link snapshot in,
	// their first push applied), which spares a thousand probes on top of
	// the controller's own connections. Probes start only if it has not
	// said so within controllerGrace of this host process's first check
	// (a controller that is down or slow must not get the host killed).
	controller *restv1.Client
	firstCheck time.Time // of the current pid

	mu       sync.Mutex
	pid      int
	ready    map[string]bool
	inflight map[string]bool
	conns    map[string]*grpc.ClientConn // of agents not ready yet
	lastErr  error                       // of the last probe that failed
	failedAt time.Time                   // when it failed
	stop     context.CancelFunc          // ends the probes of pid
	bgCtx    context.Context             // the probes' context, until stop
	done     chan struct{}               // signalled when a probe ends
	tls      *tls.Config                 // the controller's client identity, loaded once
}

// controllerGrace is how long the controller alone is asked whether a
// new agent host's agents are connected: about the time it takes at
// 1,024 routers, then probes help.
func controllerGrace(nodes int) time.Duration {
	return 5*time.Second + time.Duration(nodes)*10*time.Millisecond
}

// controllerSaysReady: the lab's controller reports every agent of
// r.nodes connected. It is called with r.mu held, for one request.
func (r *hostReadiness) controllerSaysReady(ctx context.Context) error {
	nodes, err := r.controller.Nodes(ctx)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	connected := map[string]bool{}
	for _, n := range nodes {
		if n.Agent.Connected {
			connected[n.Name] = true
		}
	}
	var waiting []string
	for _, n := range r.nodes {
		if !connected[n] {
			waiting = append(waiting, n)
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	shown := waiting
	if len(shown) > 5 {
		shown = append(shown[:5:5], "...")
	}
	return fmt.Errorf("the controller has %d of %d agents connected (waiting for %s)", len(r.nodes)-len(waiting), len(r.nodes), strings.Join(shown, ", "))
}

// readyParallel bounds the probes in flight: each is a TLS handshake and
// a read of the agent's routes, CPU of the host that more at once would
// only share.
func readyParallel() int { return max(4, 4*runtime.GOMAXPROCS(0)) }

// Probe timings: how long one probe may take, and how long new probes
// wait after one failed (a host still starting fails them all at once).
const (
	probeTimeout = 15 * time.Second
	probePause   = 50 * time.Millisecond
)

// readyBackoff retries a connection to an agent socket that is not there
// yet soon: gRPC's default waits a second at first. A connection may take
// as long as a probe: a busy host of a thousand agents took more than a
// second to complete handshakes, and cutting them at one second (504 of
// 1,024 agents unanswered after 112 s) only made it do them again.
func readyBackoff() grpc.ConnectParams {
	return grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 20 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 200 * time.Millisecond},
		MinConnectTimeout: probeTimeout,
	}
}

func (r *hostReadiness) check(ctx context.Context) error {
	pid, _ := supervise.Running(r.pidFile)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.tls == nil {
		cfg, err := pki.ClientConfig(pki.In(Layout{Dir: r.labDir}.PKI(), ControllerIdentity), "")
		if err != nil {
			return err
		}
		// A readiness probe is a handshake per agent, a thousand for a
		// big lab, over a local socket: classical X25519 spares each the
		// post-quantum key share (the controller's long-lived connections
		// keep Go's default).
		cfg.CurvePreferences = []tls.CurveID{tls.X25519}
		r.tls = cfg
	}
	if pid != r.pid || r.ready == nil {
		r.resetLocked(pid)
		r.firstCheck = time.Now()
	}
	if r.controller != nil && len(r.ready) == 0 {
		err := r.controllerSaysReady(ctx)
		if err == nil {
			for _, n := range r.nodes {
				r.ready[n] = true
			}
			return nil
		}
		if time.Since(r.firstCheck) < controllerGrace(len(r.nodes)) {
			return err
		}
	}
	for {
		pending := 0
		for _, n := range r.nodes {
			if !r.ready[n] {
				pending++
			}
		}
		if pending == 0 {
			r.resetLocked(pid) // ends nothing running; frees the connections
			for _, n := range r.nodes {
				r.ready[n] = true
			}
			return nil
		}
		wait := time.Duration(0)
		if pause := time.Until(r.failedAt.Add(probePause)); pause > 0 {
			wait = pause
		} else {
			r.startProbesLocked(pid)
		}
		done := r.done
		r.mu.Unlock()
		var timer <-chan time.Time
		if wait > 0 {
			timer = time.After(wait)
		}
		select {
		case <-ctx.Done():
		case <-done:
		case <-timer:
		}
		r.mu.Lock()
		if err := ctx.Err(); err != nil {
			var waiting []string
			for _, n := range r.nodes {
				if !r.ready[n] {
					waiting = append(waiting, n)
				}
			}
			slices.Sort(waiting)
			shown := waiting
			if len(shown) > 5 {
				shown = append(shown[:5:5], "...")
			}
			why := r.lastErr
			if why == nil {
				why = errors.New("no answer yet")
			}
			return fmt.Errorf("%d of %d agents not answering yet (%s): %v", len(waiting), len(r.nodes), strings.Join(shown, ", "), why)
		}
	}
}

// resetLocked forgets what was known of another host process and ends its
// probes.
func (r *hostReadiness) resetLocked(pid int) {
	if r.stop != nil {
		r.stop()
	}
	for _, c := range r.conns {
		c.Close()
	}
	r.pid, r.ready, r.inflight, r.conns = pid, map[string]bool{}, map[string]bool{}, map[string]*grpc.ClientConn{}
	r.lastErr, r.failedAt, r.done = nil, time.Time{}, make(chan struct{}, 1)
	var bg context.Context
	bg, r.stop = context.WithCancel(context.Background())
	r.bgCtx = bg
}

// startProbesLocked starts probes of agents not ready and not being
// probed, up to readyParallel in flight, in file order.
func (r *hostReadiness) startProbesLocked(pid int) {
	for _, node := range r.nodes {
		if len(r.inflight) >= readyParallel() {
			return
		}
		if r.ready[node] || r.inflight[node] {
			continue
		}
		conn := r.conns[node]
		if conn == nil {
			cfg := r.tls.Clone()
			cfg.ServerName = node
			var err error
			conn, err = grpc.NewClient("unix://"+Layout{Dir: r.labDir}.AgentSocket(node),
				grpc.WithTransportCredentials(credentials.NewTLS(cfg)), grpc.WithConnectParams(readyBackoff()))
			if err != nil {
				r.lastErr, r.failedAt = fmt.Errorf("%s: %w", node, err), time.Now()
				return
			}
			r.conns[node] = conn
		}
		r.inflight[node] = true
		ctx := r.bgCtx
		go func() {
			pctx, cancel := context.WithTimeout(ctx, probeTimeout)
			_, err := agentv1.NewAgentClient(conn).GetState(pctx, &agentv1.GetStateRequest{})
			cancel()
			r.mu.Lock()
			defer r.mu.Unlock()
			if r.pid != pid || ctx.Err() != nil {
				return // another host by now: resetLocked closed conn
			}
			delete(r.inflight, node)
			if err != nil {
				r.lastErr, r.failedAt = fmt.Errorf("%s: %w", node, err), time.Now()
			} else {
				r.ready[node] = true
				delete(r.conns, node)
				conn.Close()
			}
			select {
			case r.done <- struct{}{}:
			default:
			}
		}()
	}
}

// agentServedBy is what inspect says of node's agent: served by the lab's
// agent host, with its pid when it runs.
func agentServedBy(l Layout) string {
	if pid, ok := supervise.Running(l.AgentHostPid()); ok {
		return fmt.Sprintf("served by %s (pid %d)", agentHostName, pid)
	}
	return "served by " + agentHostName + " (not running)"
}

// legacyAgentPidFiles are the pid files of the per-router agent processes
// an older sr6 ran, for destroy to end them too.
func legacyAgentPidFiles(nw *topo.Network, l Layout) []string {
	nodes, err := agentNodes(nw)
	if err != nil {
		return nil
	}
	files := make([]string, len(nodes))
	for i, n := range nodes {
		files[i] = l.AgentPid(n)
	}
	return files
}

// issueAll issues the server certificate of every node's agent (ECDSA
// P-256, on every core: see pki.CA.IssueAll) and makes their folders.
func issueAll(ca *pki.CA, dir string, l Layout, nodes []*topo.Node) error {
	names := make([]string, len(nodes))
	for i, n := range nodes {
		names[i] = n.Name
		if err := os.MkdirAll(l.Node(n.Name), 0o755); err != nil {
			return fmt.Errorf("agent %s: %w", n.Name, err)
		}
	}
	return ca.IssueAll(dir, names, true)
}

// markAgents fills NodeStatus.Agent of the nodes of the lab st describes
// that run an agent.
func markAgents(st *State, nw *topo.Network, store Store, nodes []NodeStatus) error {
	if !st.Agents {
		return nil
	}
	l, err := store.Layout(st.Name)
	if err != nil {
		return err
	}
	names, err := agentNodes(nw)
	if err != nil {
		return err
	}
	served := agentServedBy(l)
	for i := range nodes {
		if slices.Contains(names, nodes[i].Name) {
			nodes[i].Agent = served
		}
	}
	return nil
}
