package controller

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	agentv1 "github.com/sr6net/sr6/api/agent/v1"
	restv1 "github.com/sr6net/sr6/api/rest/v1"
	"github.com/sr6net/sr6/internal/dataplane"
)

// Policy states, as the API defines them.
const (
	StatePending = restv1.StatePending
	StateUp      = restv1.StateUp
	StateFailed  = restv1.StateFailed
	StateDown    = restv1.StateDown
)

// Applied is an agent's answer to a push: what became of the routes.
type Applied struct {
	Routes []RouteResult
}

// RouteResult is what became of one route of a pushed state.
type RouteResult struct {
	Kind      string // steering | sid | underlay
	Prefix    string
	Policy    string // steering routes: the owner
	Installed bool
	Error     string // not installed: the kernel's error
}

var routeKinds = map[agentv1.RouteResult_Kind]string{
	agentv1.RouteResult_KIND_STEERING: "steering", agentv1.RouteResult_KIND_SID: "sid", agentv1.RouteResult_KIND_UNDERLAY: "underlay",
}

// appliedFromProto converts an agent's Apply reply.
func appliedFromProto(r *agentv1.ApplyResponse) Applied {
	var a Applied
	for _, rr := range r.GetRoutes() {
		a.Routes = append(a.Routes, RouteResult{Kind: routeKinds[rr.Kind], Prefix: rr.Prefix, Policy: rr.Policy,
			Installed: rr.Installed, Error: rr.Error})
	}
	return a
}

// agentReport is what the controller knows of one node's agent.
type agentReport struct {
	applied     bool              // some push succeeded
	generation  uint64            // of the last state it applied
	refused     map[string]string // steering prefix -> the kernel's error, in that state
	unreachable string            // why the last push (or stream) failed; "" once a push succeeds
	since       time.Time         // when unreachable was first set
	rejected    string            // the agent answered but refused the whole state (bad input, netlink down)
}

// Refused pushes are retried only after a long pause (the kernel rarely
// changes its mind), doubling up to refusedRetryMax; a change to the node's
// desired state is pushed at once as always.
const (
	refusedRetry    = 30 * time.Second
	refusedRetryMax = 10 * time.Minute
	// pushLogEvery bounds how often one node's failing pushes are logged
	// when the error stays the same.
	pushLogEvery = time.Minute
)

// nodePush is one node pusher's memory between attempts.
type nodePush struct {
	node         string
	acked        uint64 // version of the node's desired state the agent applied
	have         bool   // acked is meaningful
	refusedAt    time.Time
	refusedAfter time.Duration // current pause before re-pushing refused routes
	failures     int           // consecutive failed pushes
	lastErr      string
	lastLog      time.Time
}

// pushStep pushes node's desired state if the agent does not have it (or
// refused part of it long enough ago) and records the outcome.
func (c *Controller) pushStep(ctx context.Context, np *nodePush, now time.Time) {
	want, version := c.desiredVersion(np.node)
	if want == nil {
		return
	}
	if np.have && np.acked == version {
		if np.refusedAt.IsZero() || now.Sub(np.refusedAt) < np.refusedAfter {
			return
		}
	}
	applied, err := c.push.Push(ctx, np.node, want)
	if err != nil && rejection(err) {
		// The agent answered: pushing the same state again every second
		// would get the same answer (and log it every second).
		if msg := err.Error(); msg != np.lastErr {
			c.log.Warn("agent refused its desired state", "node", np.node, "err", err)
			np.lastErr = msg
		}
		c.agentRejected(np.node, want.Generation, err)
		np.backOff(version, now)
		return
	}
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		np.failures++
		if msg := err.Error(); msg != np.lastErr || now.Sub(np.lastLog) >= pushLogEvery {
			c.log.Warn("push failed; retrying every second", "node", np.node, "err", err, "failures", np.failures)
			np.lastErr, np.lastLog = msg, now
		}
		c.agentUnreachable(np.node, err, now)
		return
	}
	if np.failures > 0 {
		c.log.Info("push succeeded again", "node", np.node, "after_failures", np.failures)
	}
	np.failures, np.lastErr = 0, ""
	if c.agentApplied(np.node, want.Generation, applied) {
		np.backOff(version, now)
		return
	}
	np.refusedAt, np.refusedAfter = time.Time{}, 0
	np.acked, np.have = version, true
}

// backOff records that the agent refused (part of) version of the node's
// state at now: it is pushed again after refusedAfter, which doubles when
// the same version is refused again.
func (np *nodePush) backOff(version uint64, now time.Time) {
	if np.have && np.acked == version && np.refusedAfter > 0 {
		np.refusedAfter = min(2*np.refusedAfter, refusedRetryMax)
	} else {
		np.refusedAfter = refusedRetry
	}
	np.refusedAt, np.acked, np.have = now, version, true
}

// rejection tells an agent's answer refusing the whole state from a failure
// to reach it.
func rejection(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.Internal, codes.FailedPrecondition:
		return true
	}
	return false
}

// agentRejected records that node's agent refused the whole state of
// generation gen.
func (c *Controller) agentRejected(node string, gen uint64, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.agents[node] = &agentReport{applied: true, generation: gen, rejected: err.Error()}
}

// agentApplied records that node's agent applied the desired state of
// generation gen with the given results, and tells whether the kernel
// refused any route. Refusals are logged when they change, not at every
// push.
func (c *Controller) agentApplied(node string, gen uint64, a Applied) bool {
	refused := map[string]string{}
	var other []string
	for _, r := range a.Routes {
		switch {
		case r.Installed:
		case r.Kind == "steering":
			refused[r.Prefix] = r.Error
		default:
			other = append(other, r.Kind+" "+r.Prefix+": "+r.Error)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.agents[node]
	if old == nil {
		old = &agentReport{}
	}
	if !mapsEqual(old.refused, refused) || len(other) > 0 && gen != old.generation {
		for pf, e := range refused {
			c.log.Warn("kernel refused a steering route", "node", node, "prefix", pf, "err", e, "generation", gen)
		}
		for _, o := range other {
			c.log.Warn("kernel refused a route", "node", node, "route", o, "generation", gen)
		}
	}
	c.agents[node] = &agentReport{applied: true, generation: gen, refused: refused}
	return len(refused) > 0 || len(other) > 0
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// agentUnreachable records that node's agent could not be reached: its
// policies are no longer up, whatever it reported before.
func (c *Controller) agentUnreachable(node string, err error, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.agents[node]
	if r == nil {
		r = &agentReport{}
		c.agents[node] = r
	}
	if r.unreachable == "" {
		r.since = now
	}
	r.unreachable = err.Error()
}

// noteRoutesLocked remembers from which generation policy name's steering
// routes are what they are now, when they changed: the policy is up only
// once its headend applied that generation (rebuildLocked, which always
// follows, gives it the next generation number).
func (c *Controller) noteRoutesLocked(name string, old, routes map[string][]dataplane.Steering) {
	if _, ok := c.since[name]; ok && sameRoutes(old, routes) {
		return
	}
	c.since[name] = c.generation + 1
}

func sameRoutes(a, b map[string][]dataplane.Steering) bool {
	if len(a) != len(b) {
		return false
	}
	for node, ra := range a {
		rb, ok := b[node]
		if !ok || !slices.EqualFunc(ra, rb, sameSteering) {
			return false
		}
	}
	return true
}

func sameSteering(x, y dataplane.Steering) bool {
	return x.Prefix == y.Prefix && x.Mode == y.Mode && x.Policy == y.Policy && slices.Equal(x.Segments, y.Segments)
}

// viewLocked is policy name's status as the API shows it: the computed
// status, confirmed (or not) by its headend's agent.
func (c *Controller) viewLocked(name string) Status {
	st := c.status[name]
	if st.State == StateUp {
		st.State, st.Reason = c.confirmLocked(name)
	}
	// Updated is when what the API shows last changed.
	if old, ok := c.shown[name]; ok {
		if old.State == st.State && old.Reason == st.Reason && sameStrings(old.Segments, st.Segments) {
			st.Updated = old.Updated
		} else {
			st.Updated = time.Now().UTC()
		}
	}
	c.shown[name] = st
	return st
}

// confirmLocked is the state of a computed policy from its headend's
// agent's last report.
func (c *Controller) confirmLocked(name string) (string, string) {
	for node, rs := range c.routes[name] {
		r := c.agents[node]
		switch {
		case r != nil && r.unreachable != "":
			return StatePending, fmt.Sprintf("headend %s's agent is unreachable (since %s): %s", node,
				r.since.UTC().Format(time.RFC3339), r.unreachable)
		case r == nil || !r.applied || r.generation < c.since[name]:
			return StatePending, fmt.Sprintf("waiting for headend %s's agent to install it", node)
		case r.rejected != "":
			return StateFailed, fmt.Sprintf("headend %s's agent refused its state: %s", node, r.rejected)
		}
		var refused []string
		for _, s := range rs {
			if e, ok := r.refused[s.Prefix.String()]; ok {
				refused = append(refused, s.Prefix.String()+": "+e)
			}
		}
		if len(refused) > 0 {
			sort.Strings(refused)
			return StateFailed, fmt.Sprintf("headend %s's kernel refused %s", node, strings.Join(refused, "; "))
		}
	}
	return StateUp, ""
}
