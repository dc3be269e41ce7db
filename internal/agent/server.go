package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	"github.com/sr6net/sr6/internal/dataplane"
	"github.com/sr6net/sr6/internal/intent"
	"github.com/sr6net/sr6/internal/nsutil"
)

// Config configures an agent.
type Config struct {
	Node string
	// Netns is the network namespace the agent manages, as a path
	// (/run/netns/LAB.NODE); "" is the calling process's. Every netlink
	// request, socket and eBPF attachment of the agent is made there, so
	// that one process can serve the agents of many namespaces.
	Netns     string
	Listen    string      // "unix:///path" or "host:port" (a port of Netns)
	TLS       *tls.Config // nil only with Insecure
	Insecure  bool
	StateFile string // last applied desired state; "" keeps none
	Log       *slog.Logger
	// Limit, shared by the agents of one process, bounds how many
	// reconcile at once (Apply, Restore); nil does not limit.
	Limit *Limiter
}

// Server implements agentv1.AgentServer on the network namespace of its
// Config.
type Server struct {
	agentv1.UnimplementedAgentServer
	cfg        Config
	mu         sync.Mutex // serialises Apply: one reconcile at a time
	generation atomic.Uint64
	pm         *pm

	resultsMu sync.Mutex
	results   []*agentv1.RouteResult // of the last reconcile, for GetState

	persisted []byte // what the state file holds (under mu): equal pushes skip the write
	state     stateFile
	// Writes of the state file in a burst of pushes are coalesced (see
	// persistSoon), under mu.
	pending     *agentv1.DesiredState
	persistedAt time.Time
	flushTimer  *time.Timer
}

// NewServer returns an agent for cfg.
func NewServer(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Server{cfg: cfg, pm: newPM(cfg.Node, cfg.Netns, cfg.Log), state: stateFile{path: cfg.StateFile}}
}

// handle is a netlink handle in the agent's namespace.
func (s *Server) handle() (*netlink.Handle, error) {
	return nsutil.NetlinkHandle(s.cfg.Netns, unix.NETLINK_ROUTE)
}

// Apply implements agentv1.AgentServer.
func (s *Server) Apply(ctx context.Context, req *agentv1.ApplyRequest) (*agentv1.ApplyResponse, error) {
	// The whole state, measurement included, is checked before anything
	// changes: a bad one is refused whole.
	want, err := intent.FromProto(req.GetState())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	release, err := s.cfg.Limit.acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	// A call the controller gave up on while it waited must not undo a
	// newer one.
	if err := ctx.Err(); err != nil {
		return nil, status.FromContextError(err).Err()
	}
	d, err := s.reconcile(want.State)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	results := s.keepResults(want.State, d)
	if err := s.pm.apply(want.PM); err != nil {
		return nil, status.Error(codes.Internal, "loss measurement: "+err.Error())
	}
	gen := want.Generation
	s.generation.Store(gen)
	s.persistSoon(req.GetState())
	s.cfg.Log.Info("applied", "generation", gen, "added", d.Added, "replaced", d.Replaced, "removed", d.Removed,
		"unchanged", d.Unchanged, "refused", len(d.Refused))
	for _, re := range d.Refused {
		s.cfg.Log.Warn("kernel refused a route", "generation", gen, "err", re.Error())
	}
	return &agentv1.ApplyResponse{Added: uint32(d.Added), Replaced: uint32(d.Replaced), Removed: uint32(d.Removed),
		Unchanged: uint32(d.Unchanged), Generation: gen, Routes: results}, nil
}

// reconcile makes the kernel match desired. Routes the kernel refuses are
// in the Diff, not the error: they are the controller's to report, and the
// other routes are installed all the same.
func (s *Server) reconcile(desired dataplane.State) (dataplane.Diff, error) {
	h, err := s.handle()
	if err != nil {
		return dataplane.Diff{}, err
	}
	defer h.Close()
	if _, err := dataplane.EnsureSIDDevice(h); err != nil {
		return dataplane.Diff{}, err
	}
	d, err := dataplane.Reconcile(h, desired)
	if err != nil && onlyRefusals(err) {
		err = nil
	}
	return d, err
}

// onlyRefusals tells whether every error joined in err is a route the
// kernel refused.
func onlyRefusals(err error) bool {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		var re *dataplane.RouteError
		return errors.As(err, &re)
	}
	for _, e := range joined.Unwrap() {
		var re *dataplane.RouteError
		if !errors.As(e, &re) {
			return false
		}
	}
	return true
}

// keepResults records (for GetState) and returns the route results of a
// reconcile of desired: one per steering route, and one per other route the
// kernel refused.
func (s *Server) keepResults(desired dataplane.State, d dataplane.Diff) []*agentv1.RouteResult {
	out := RouteResults(desired, d)
	s.resultsMu.Lock()
	s.results = out
	s.resultsMu.Unlock()
	return out
}

// RouteResults is what became of each route of desired in a reconcile
// that gave d.
func RouteResults(desired dataplane.State, d dataplane.Diff) []*agentv1.RouteResult {
	refused := map[netip.Prefix][]dataplane.RouteError{}
	for _, re := range d.Refused {
		if !re.Remove {
			refused[re.Prefix] = append(refused[re.Prefix], re)
		}
	}
	take := func(pf netip.Prefix, steering bool) (dataplane.RouteError, bool) {
		for i, re := range refused[pf] {
			if (re.Metric == dataplane.SteeringMetric) == steering {
				refused[pf] = append(refused[pf][:i], refused[pf][i+1:]...)
				return re, true
			}
		}
		return dataplane.RouteError{}, false
	}
	var out []*agentv1.RouteResult
	for _, st := range desired.Steering {
		r := &agentv1.RouteResult{Kind: agentv1.RouteResult_KIND_STEERING, Prefix: st.Prefix.String(), Policy: st.Policy, Installed: true}
		if re, ok := take(st.Prefix, true); ok {
			r.Installed, r.Error = false, re.Err.Error()
		}
		out = append(out, r)
	}
	for _, sid := range desired.SIDs {
		pf := netip.PrefixFrom(sid.SID, 128)
		if re, ok := take(pf, false); ok {
			out = append(out, &agentv1.RouteResult{Kind: agentv1.RouteResult_KIND_SID, Prefix: pf.String(), Error: re.Err.Error()})
		}
	}
	for _, u := range desired.Underlay {
		if re, ok := take(u.Prefix, false); ok {
			out = append(out, &agentv1.RouteResult{Kind: agentv1.RouteResult_KIND_UNDERLAY, Prefix: u.Prefix.String(), Error: re.Err.Error()})
		}
	}
	return out
}

// persistSpacing is the least time between two writes of the state file.
// Bulk provisioning pushes a headend a state per policy: each write is a
// new file renamed over the old, and on a lab of a thousand agents those
// writes were the largest part of applying 10,000 policies. The first
// write of a burst is immediate, the later ones coalesced into one at the
// end of the spacing: a crash in a burst loses at most the last
// persistSpacing of it, which the controller pushes again on reconnect.
const persistSpacing = 250 * time.Millisecond

// persistSoon persists st now, or at the end of the spacing if a write
// was made less than persistSpacing ago. Called with s.mu held.
func (s *Server) persistSoon(st *agentv1.DesiredState) {
	if s.cfg.StateFile == "" {
		return
	}
	if wait := persistSpacing - time.Since(s.persistedAt); wait > 0 {
		s.pending = st
		if s.flushTimer == nil {
			s.flushTimer = time.AfterFunc(wait, s.Flush)
		}
		return
	}
	s.persistNow(st)
}

// Flush writes the state a coalesced write still holds; the agent calls
// it when it stops.
func (s *Server) Flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.flushTimer != nil {
		s.flushTimer.Stop()
		s.flushTimer = nil
	}
	if st := s.pending; st != nil {
		s.pending = nil
		s.persistNow(st)
	}
}

func (s *Server) persistNow(st *agentv1.DesiredState) {
	s.pending = nil
	s.persistedAt = time.Now()
	if err := s.persist(st); err != nil {
		s.cfg.Log.Warn("persist desired state", "err", err)
	}
}

// persist writes the desired state to the state file (see
// statefile.go). What Restore reads is checked as an Apply would be.
func (s *Server) persist(st *agentv1.DesiredState) error {
	if s.cfg.StateFile == "" {
		return nil
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(st)
	if err != nil {
		return err
	}
	// The controller pushes the same state again on every reconnect; a
	// lab's hundred agents rewriting their files for nothing cost more
	// than their reconcile.
	if bytes.Equal(data, s.persisted) {
		return nil
	}
	if err := s.state.write(data); err != nil {
		return err
	}
	s.persisted = data
	return nil
}

// Restore reconciles the kernel to the last persisted desired state, if
// any: routes installed before a crash and since made stale are removed
// without waiting for the controller.
func (s *Server) Restore() error {
	if s.cfg.StateFile == "" {
		return nil
	}
	body, err := s.state.read()
	if err != nil {
		return err
	}
	if body == nil {
		return nil
	}
	var st agentv1.DesiredState
	if err := proto.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("read %s: %w", s.cfg.StateFile, err)
	}
	saved, err := intent.FromProto(&st)
	if err != nil {
		return fmt.Errorf("read %s: %w", s.cfg.StateFile, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	release, err := s.cfg.Limit.acquire(context.Background())
	if err != nil {
		return err
	}
	defer release()
	d, err := s.reconcile(saved.State)
	if err != nil {
		return err
	}
	s.keepResults(saved.State, d)
	for _, re := range d.Refused {
		s.cfg.Log.Warn("kernel refused a route of the saved state", "err", re.Error())
	}
	s.generation.Store(saved.Generation)
	s.cfg.Log.Info("restored desired state", "generation", saved.Generation, "added", d.Added, "replaced", d.Replaced, "removed", d.Removed)
	return nil
}

// GetState implements agentv1.AgentServer.
func (s *Server) GetState(ctx context.Context, _ *agentv1.GetStateRequest) (*agentv1.NodeState, error) {
	// Not limited: the slots go to whoever asks first among a thousand
	// pushes, and a readiness check waiting behind them starved (half
	// of a 1,024-router lab's agents unanswered after 112 s).
	h, err := s.handle()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	defer h.Close()
	st, err := dataplane.ReadState(h)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	p := intent.ToProto(intent.State{State: st})
	out := &agentv1.NodeState{Node: s.cfg.Node, Steering: p.Steering, Sids: p.Sids, Underlay: p.Underlay, Generation: s.generation.Load()}
	s.resultsMu.Lock()
	out.Routes = s.results
	s.resultsMu.Unlock()
	links, err := h.LinkList()
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	for _, l := range links {
		if watched(l.Attrs().Name) {
			out.Interfaces = append(out.Interfaces, &agentv1.Interface{Name: l.Attrs().Name, Up: isUp(l)})
		}
	}
	return out, nil
}

// watched tells whether an interface belongs to the topology (not the
// loopback or sr6's own SID device).
func watched(name string) bool { return name != "lo" && !strings.HasPrefix(name, "sr6") }

func isUp(l netlink.Link) bool { return l.Attrs().OperState == netlink.OperUp }

// WatchLinks implements agentv1.AgentServer.
func (s *Server) WatchLinks(_ *agentv1.WatchLinksRequest, stream grpc.ServerStreamingServer[agentv1.LinkEvent]) error {
	ctx := stream.Context()
	updates := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	defer func() {
		close(done)
		// netlink's subscription goroutine blocks sending to updates and
		// only sees done between messages: drain until it closes updates.
		go func() {
			for range updates {
			}
		}()
	}()
	errc := make(chan error, 1)
	opts := netlink.LinkSubscribeOptions{ListExisting: true, ErrorCallback: func(err error) {
		select {
		case errc <- err:
		default:
		}
	}}
	if err := nsutil.LinkSubscribe(s.cfg.Netns, updates, done, opts); err != nil {
		return status.Error(codes.Internal, err.Error())
	}
	last := map[string]bool{}
	// ListExisting sends every link first; the snapshot ends once links
	// stop arriving for a moment.
	snapshot := true
	quiet := time.NewTimer(100 * time.Millisecond)
	defer quiet.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return status.Error(codes.Unavailable, "link subscription: "+err.Error())
		case <-quiet.C:
			snapshot = false
		case u, ok := <-updates:
			if !ok {
				return status.Error(codes.Unavailable, "link subscription closed")
			}
			name := u.Link.Attrs().Name
			if !watched(name) {
				continue
			}
			up := isUp(u.Link)
			if prev, seen := last[name]; seen && prev == up {
				continue
			}
			last[name] = up
			if snapshot {
				quiet.Reset(100 * time.Millisecond)
			}
			ev := &agentv1.LinkEvent{Node: s.cfg.Node, Interface: name, Up: up, Snapshot: snapshot, UnixNanos: time.Now().UnixNano()}
			if err := stream.Send(ev); err != nil {
				return err
			}
			s.cfg.Log.Debug("link event", "interface", name, "up", up, "snapshot", snapshot)
		}
	}
}

// WatchMeasurements implements agentv1.AgentServer.
func (s *Server) WatchMeasurements(_ *agentv1.WatchMeasurementsRequest, stream grpc.ServerStreamingServer[agentv1.Measurement]) error {
	ch, cancel := s.pm.subscribe()
	defer cancel()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case m := <-ch:
			if err := stream.Send(m); err != nil {
				return err
			}
		}
	}
}

// Listen opens the agent's listening socket: "unix:///path" (a stale
// socket file is replaced) or "host:port".
func Listen(addr string) (net.Listener, error) { return ListenIn("", addr) }

// ListenIn opens the listening socket addr (see Listen) in the network
// namespace at netns ("" is the calling thread's): a TCP port belongs to
// the namespace the socket was created in.
func ListenIn(netns, addr string) (net.Listener, error) {
	if path, ok := strings.CutPrefix(addr, "unix://"); ok {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return nil, err
		}
		_ = os.Remove(path)
		return net.Listen("unix", path)
	}
	var lis net.Listener
	err := nsutil.DoPath(netns, func() error {
		var err error
		lis, err = net.Listen("tcp", addr)
		return err
	})
	return lis, err
}

// Run restores the persisted state, then serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.check(); err != nil {
		return err
	}
	s := NewServer(cfg)
	// A saved state that no longer applies must not keep the agent down:
	// the controller will send a good one.
	if err := s.Restore(); err != nil {
		s.cfg.Log.Error("restore saved desired state; serving anyway", "err", err)
	}
	defer s.Flush()
	lis, err := ListenIn(cfg.Netns, cfg.Listen)
	if err != nil {
		return fmt.Errorf("agent %s: listen: %w", cfg.Node, err)
	}
	return s.serve(ctx, lis)
}

// stopGrace is how long a stopping agent lets calls in progress finish.
const stopGrace = time.Second

func (cfg Config) check() error {
	if cfg.TLS == nil && !cfg.Insecure {
		return fmt.Errorf("agent %s: no TLS configuration (give certificates, or --insecure for a trusted test network)", cfg.Node)
	}
	return nil
}

// serve answers gRPC on lis until ctx ends. A handler that panics fails
// its call (codes.Internal), not the process: a host serves other agents.
func (s *Server) serve(ctx context.Context, lis net.Listener) error {
	creds := insecure.NewCredentials()
	if s.cfg.TLS != nil {
		creds = credentials.NewTLS(s.cfg.TLS)
	}
	srv := grpc.NewServer(grpc.Creds(creds),
		grpc.ChainUnaryInterceptor(recoverUnary(s.cfg.Log)), grpc.ChainStreamInterceptor(recoverStream(s.cfg.Log)))
	agentv1.RegisterAgentServer(srv, s)
	stop := context.AfterFunc(ctx, func() {
		// Streams (the controller's WatchLinks) end only when cut: give
		// unary calls a moment to finish, then cut everything.
		done := make(chan struct{})
		go func() {
			srv.GracefulStop()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(stopGrace):
			srv.Stop()
		}
	})
	defer stop()
	// The node is in the logger (sr6 agent and the lab's host add it).
	s.cfg.Log.Info("agent serving", "listen", s.cfg.Listen, "netns", s.cfg.Netns)
	if err := srv.Serve(lis); err != nil {
		return fmt.Errorf("agent %s: serve: %w", s.cfg.Node, err)
	}
	return nil
}
