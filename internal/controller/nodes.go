package controller

import (
	"time"

	restv1 "github.com/sr6net/sr6/api/rest/v1"
)

// linkStream is the state of one agent's link stream (see watch): a stream
// that has delivered its first event means the agent runs, answers over
// mutual TLS and has sent the state of its links.
type linkStream struct {
	up      bool
	changed time.Time
}

// linkStreamChanged records that node's link stream came up (its first
// event arrived) or ended.
func (c *Controller) linkStreamChanged(node string, up bool, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.streams == nil {
		c.streams = map[string]linkStream{}
	}
	c.streams[node] = linkStream{up: up, changed: now}
}

// Nodes is what the controller knows of every router's agent, in topology
// order (GET /v1/nodes).
func (c *Controller) Nodes() []restv1.NodeStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]restv1.NodeStatus, 0, len(c.routers))
	for _, r := range c.routers {
		out = append(out, restv1.NodeStatus{Name: r.Name, Agent: agentStatus(c.streams[r.Name], c.agents[r.Name])})
	}
	return out
}

// agentStatus combines what the link stream and the pushes tell of one
// agent. Both are needed: the pusher alone cannot tell a push that went
// through from one still waiting for the connection, and the stream alone
// says nothing of the state the agent applied.
func agentStatus(s linkStream, r *agentReport) restv1.AgentStatus {
	a := restv1.AgentStatus{Since: s.changed}
	if r != nil {
		a.Generation = r.generation
	}
	switch {
	case r != nil && r.unreachable != "":
		a.Error = r.unreachable
	case !s.up && s.changed.IsZero():
		a.Error = "no link stream from the agent yet"
	case !s.up:
		a.Error = "the agent's link stream ended"
	case r == nil || !r.applied:
		a.Error = "no push has reached the agent yet"
	default:
		a.Connected = true
		a.Error = r.rejected
	}
	return a
}
